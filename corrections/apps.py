from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "corrections"

    def ready(self):
        from config import claim_sweep
        from corrections import task_queue

        # Retries of the outbox: every worker's sweep sends the relay (corrections/outbox.py).
        claim_sweep.after_each_sweep("the outbox relay", task_queue.relay_outbox)
