from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self):
        from reports import building

        building.register_with_sweep()  # a building report whose worker stopped is re-sent
