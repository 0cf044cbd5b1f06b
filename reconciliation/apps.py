from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_reference_data(sender, using="default", **kwargs):
    """Default asset codes and the default rule set, as migrations create them.

    Also after a test database is flushed, which empties every table.
    """
    if sender.name != "reconciliation":
        return
    from django.utils import timezone

    from reconciliation.engine.rule_definition import DEFAULT
    from reconciliation.importers.assets import DEFAULT_ALIASES
    from reconciliation.models import AssetAlias, RuleSet, RuleSetVersion

    if not AssetAlias.objects.using(using).exists():
        AssetAlias.objects.using(using).bulk_create(
            AssetAlias(exchange=exchange, code=code, asset=asset)
            for (exchange, code), asset in DEFAULT_ALIASES.items()
        )
    rule_set, created = RuleSet.objects.using(using).get_or_create(
        name="default", defaults={"description": "The seed's tolerances, bands and limits."}
    )
    if created:
        RuleSetVersion.objects.using(using).create(
            rule_set=rule_set, number=1, status="published", definition=DEFAULT,
            notes="Initial defaults.", published_at=timezone.now(),
        )  # fmt: skip


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self):
        post_migrate.connect(_ensure_reference_data)
        from reconciliation.datasets import import_sweep
        from reconciliation.runs import sweep as run_sweep

        # Runs, parts and import jobs whose worker stopped go to another worker.
        run_sweep.register()
        import_sweep.register()

        # Runs in each status, read when /metrics is scraped (config/metrics.py).
        from reconciliation.runs import metrics

        metrics.register()
