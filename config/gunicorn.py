"""Gunicorn's settings for Recondesk (`gunicorn -c config/gunicorn.py config.wsgi`).

Why these (docs/decisions.md, "Gunicorn: threads, a timeout that guards the worker, not the
request"):
- `gthread` workers: each process answers `WEB_THREADS` requests at once, and its main thread
  tells the arbiter it is alive every second whatever the request threads are doing. So
  `timeout` restarts a worker that is stuck as a whole, and never cuts a long streamed download
  (a run's matches CSV, a break export): the sync worker, by contrast, reports only between
  requests and is killed `timeout` seconds into any one of them. Long work does not run in a
  request at all (imports are a worker's job), so nothing else needs a long request.
- No `max_requests`: a worker restarted on a request count would cut the downloads it is
  streaming once `graceful_timeout` passed.
- No control socket, and no `Server: gunicorn` header: gunicorn has no setting for the
  header; the name it sends is the module constant `SERVER`, which a config file may set
  before any worker answers (below).

- Logs as the app's (config/logs.py: JSON lines, LOG_FORMAT), the access line with the
  request's id; metric files of worker processes that ended are bookkept (`child_exit`), and
  those of processes gone before this server started folded into one (`on_starting`).

Environment: WEB_BIND (0.0.0.0:8000), WEB_CONCURRENCY (processes; the CPU count, at least 2),
WEB_THREADS (4), WEB_TIMEOUT (60 s), WEB_GRACEFUL_TIMEOUT (30 s), WEB_KEEPALIVE (5 s).
"""

import os
import sys
from pathlib import Path

import gunicorn
import gunicorn.http.wsgi

# The project, importable when gunicorn reads this file (before it changes to its folder).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import logs, metrics

SERVER_NAME = "recondesk"  # no product version, no "gunicorn"
gunicorn.SERVER = gunicorn.http.wsgi.SERVER = SERVER_NAME
gunicorn.SERVER_SOFTWARE = gunicorn.http.wsgi.SERVER_SOFTWARE = SERVER_NAME

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 1)))
threads = int(os.environ.get("WEB_THREADS", 4))
timeout = int(os.environ.get("WEB_TIMEOUT", 60))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", 30))
keepalive = int(os.environ.get("WEB_KEEPALIVE", 5))
# No control socket (gunicorn 23+ opens one in $HOME): nothing here uses it, and several
# servers of one user would share its path.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
logconfig_dict = logs.logging_config(
    os.environ.get("LOG_FORMAT", "json"), os.environ.get("LOG_LEVEL", "INFO")
)


def on_starting(server):
    """The master, before any worker: the metric folder set for them, dead processes folded."""
    metrics.use_directory()
    metrics.compact_dead_processes()


def child_exit(server, worker):
    """A worker process ended (restarted, stopped): its metric files' bookkeeping."""
    metrics.process_ended(worker.pid)
