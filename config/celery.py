"""The Celery application: Redis broker, late acknowledgement, a worker heartbeat, and a sweep;
JSON logs carrying the sending request's id, and metric files for /metrics (config/metrics.py)."""

import logging.config
import os
import threading

from celery import Celery, bootsteps, signals

from config import logs, metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("recondesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class HeartbeatStep(bootsteps.StartStopStep):
    """Records the worker's heartbeat in Redis every few seconds, for `/healthz` and the sweep.

    Also by process instance (an id made here, before the pool starts, so its processes share
    it): a worker restarted under the same name must not keep its dead predecessor's work alive.
    """

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        from config import health

        self.instance = health.start_worker_instance()
        self.timer_entry = None

    def start(self, worker):
        from django.conf import settings

        from config import health

        health.record_worker_heartbeat(worker.hostname, self.instance)
        self.timer_entry = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_INTERVAL,
            health.record_worker_heartbeat,
            (worker.hostname, self.instance),
            priority=10,
        )

    def stop(self, worker):
        if self.timer_entry is not None:
            self.timer_entry.cancel()


class ClaimSweepStep(bootsteps.StartStopStep):
    """Every worker sweeps for work whose worker stopped (config/claim_sweep.py), so recovery
    needs no `celery beat`; a Redis lock lets one sweep at a time."""

    requires = {HeartbeatStep}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.stopping = threading.Event()
        self.thread = None

    def start(self, worker):
        from config import claim_sweep

        self.thread = threading.Thread(
            target=claim_sweep.sweep_periodically, args=(worker.hostname, self.stopping),
            name="claim-sweep", daemon=True,
        )  # fmt: skip
        self.thread.start()

    def stop(self, worker):
        self.stopping.set()


app.steps["worker"].add(HeartbeatStep)
app.steps["worker"].add(ClaimSweepStep)


# --- Logs and metrics ----------------------------------------------------------------------------


@signals.setup_logging.connect
def _django_logging(**kwargs):
    """The worker logs as the web does (Django's LOGGING: JSON lines), not in Celery's format."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    logs.task_sent(headers)


@signals.task_prerun.connect
def _bind_task(sender=None, task_id=None, args=None, kwargs=None, **more):
    logs.task_started(sender, task_id, args, kwargs)


@signals.task_postrun.connect
def _unbind_task(sender=None, state=None, **kwargs):
    logs.task_ended(sender, state)


@signals.worker_init.connect
def _compact_dead_metric_files(**kwargs):
    metrics.compact_dead_processes()


@signals.worker_process_shutdown.connect
def _pool_process_ended(pid=None, **kwargs):
    metrics.process_ended(pid or os.getpid())
