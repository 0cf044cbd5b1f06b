"""Datasets and records are immutable (triggers refuse UPDATE, and DELETE of a dataset);
default asset aliases."""

from django.db import migrations

from reconciliation.importers.assets import DEFAULT_ALIASES

TABLES = [
    "reconciliation_dataset",
    "reconciliation_balancerecord",
    "reconciliation_traderecord",
    "reconciliation_ledgerentryrecord",
    "reconciliation_pricerecord",
    "reconciliation_marginrecord",
]

FUNCTION = """
CREATE FUNCTION dataset_reject_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'datasets are immutable: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'raise_exception';
END;
$$;
CREATE TRIGGER reconciliation_dataset_no_delete BEFORE DELETE ON reconciliation_dataset
    FOR EACH ROW EXECUTE FUNCTION dataset_reject_update();
"""
TRIGGER = "CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION dataset_reject_update();"
DROP_TRIGGER = "DROP TRIGGER IF EXISTS {table}_immutable ON {table};"


def add_aliases(apps, schema_editor):
    AssetAlias = apps.get_model("reconciliation", "AssetAlias")
    for (exchange, code), asset in DEFAULT_ALIASES.items():
        AssetAlias.objects.get_or_create(exchange=exchange, code=code, defaults={"asset": asset})


def remove_aliases(apps, schema_editor):
    AssetAlias = apps.get_model("reconciliation", "AssetAlias")
    for exchange, code in DEFAULT_ALIASES:
        AssetAlias.objects.filter(exchange=exchange, code=code).delete()


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0001_initial")]

    operations = [
        migrations.RunSQL(
            FUNCTION + "\n".join(TRIGGER.format(table=t) for t in TABLES),
            "\n".join(DROP_TRIGGER.format(table=t) for t in TABLES)
            + "DROP TRIGGER IF EXISTS reconciliation_dataset_no_delete ON reconciliation_dataset;"
            + "DROP FUNCTION IF EXISTS dataset_reject_update();",
        ),
        migrations.RunPython(add_aliases, remove_aliases),
    ]
