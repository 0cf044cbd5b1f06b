from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self):
        from config import claim_sweep
        from notifications import (
            receivers,  # noqa: F401 - connects the receivers
            task_queue,
        )

        # Messages whose sending failed are tried again after every workers' sweep.
        claim_sweep.after_each_sweep("notification retries", task_queue.retry_due)
