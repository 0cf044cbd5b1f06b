from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "corrections"

    def ready(self):
        # A succeeded run's automatic corrections are proposed on a worker (corrections/tasks.py).
        from config import claim_sweep
        from corrections import (
            checks,  # noqa: F401 - registers the `check --deploy` check
            jobs,
            receivers,  # noqa: F401 - connects the receivers
            task_queue,
        )

        # A dead worker's proposals are sent again by the workers' sweep.
        jobs.register()

        # Retries of the outbox: every worker's sweep sends the relay (corrections/outbox.py).
        claim_sweep.after_each_sweep("the outbox relay", task_queue.relay_outbox)

        # Corrections in each status and the outbox's backlog, for /metrics and /healthz.
        from corrections import metrics

        metrics.register()
