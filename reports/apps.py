from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self):
        from reports import building, metrics

        building.register_with_sweep()  # a building report whose worker stopped is re-sent
        metrics.register()  # reports in each status, for /metrics
