"""Published rule set versions are immutable (trigger); the default rule set (seed defaults)."""

from django.db import migrations
from django.utils import timezone

from reconciliation.engine.rule_definition import DEFAULT

IMMUTABLE = """
CREATE FUNCTION rule_set_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.status = 'published' THEN
        RAISE EXCEPTION 'published rule set versions are immutable' USING ERRCODE = 'raise_exception';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status = 'published' THEN
        RAISE EXCEPTION 'published rule set versions are immutable' USING ERRCODE = 'raise_exception';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
CREATE TRIGGER rule_set_version_immutable
    BEFORE UPDATE OR DELETE ON reconciliation_rulesetversion
    FOR EACH ROW EXECUTE FUNCTION rule_set_version_guard();
"""
DROP = """
DROP TRIGGER IF EXISTS rule_set_version_immutable ON reconciliation_rulesetversion;
DROP FUNCTION IF EXISTS rule_set_version_guard();
"""


def default_rule_set(apps, schema_editor):
    RuleSet = apps.get_model("reconciliation", "RuleSet")
    RuleSetVersion = apps.get_model("reconciliation", "RuleSetVersion")
    rule_set, created = RuleSet.objects.get_or_create(
        name="default", defaults={"description": "The seed's tolerances, bands and limits."}
    )
    if created:
        RuleSetVersion.objects.create(
            rule_set=rule_set,
            number=1,
            status="published",
            definition=DEFAULT,
            notes="Initial defaults.",
            published_at=timezone.now(),
        )


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0003_rule_sets")]

    operations = [
        migrations.RunSQL(IMMUTABLE, DROP),
        migrations.RunPython(default_rule_set, migrations.RunPython.noop),
    ]
