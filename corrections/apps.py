from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "corrections"

    def ready(self):
        # A succeeded run's automatic corrections are proposed on a worker (corrections/tasks.py).
        from corrections import receivers  # noqa: F401 - connects the receivers
