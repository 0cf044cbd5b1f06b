"""Structured logs (SPEC 7.1): JSON lines carrying the request's id, into the Celery tasks the
request starts, with the task's run id."""

import json
import logging
import sys
import time

import pytest
import structlog
from rest_framework.test import APIClient

from config import logs
from reconciliation.demo import data as demo_data
from reconciliation.models import Run
from tests import worker as worker_helpers


def _json_lines(text: str) -> list[dict]:
    """The log's JSON lines (a worker also prints its banner, as text, to stdout)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _lines_until(worker, seen, timeout: float = 30) -> list[dict]:
    """The worker's log lines once one of them is `seen` (the run ends before its task does)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = _json_lines(worker.log())
        if any(seen(line) for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def _formatted(record: logging.LogRecord, log_format: str = "json") -> str:
    options = dict(logs.logging_config(log_format, "INFO")["formatters"]["structured"])
    factory = options.pop("()")
    return factory(**options).format(record)


def test_a_standard_library_record_is_one_json_line_with_the_bound_request_id():
    record = logging.LogRecord("reconciliation.x", logging.WARNING, __file__, 1, "run %s failed",
                               (7,), None)  # fmt: skip
    with logs.bind_request("req-0123456789"):
        line = _formatted(record)
    assert "\n" not in line
    assert json.loads(line) | {"timestamp": None} == {
        "event": "run 7 failed", "level": "warning", "logger": "reconciliation.x",
        "request_id": "req-0123456789", "timestamp": None,
    }  # fmt: skip
    assert "request_id" not in json.loads(_formatted(record))  # unbound after the block


def test_a_traceback_is_data_without_the_frames_local_variables():
    def sign(secret):
        raise ValueError("refused")

    secret = "-".join(["hunter2", "the", "secret"])  # not in any source line a traceback shows
    try:
        sign(secret)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    for log_format in ("json", "console"):
        assert secret not in _formatted(record, log_format)
    exception = json.loads(_formatted(record))["exception"][0]
    assert (exception["exc_type"], exception["exc_value"]) == ("ValueError", "refused")
    assert exception["frames"][-1]["name"] == "sign"


def test_console_format_is_text_for_people():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    line = _formatted(record, "console")
    assert "hello" in line and not line.startswith("{")


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.logging_config("xml", "INFO")


@pytest.mark.django_db
def test_every_response_carries_the_request_id_it_was_logged_under(client):
    response = client.get("/accounts/login/")
    assert len(response["X-Request-ID"]) == 32
    assert structlog.contextvars.get_contextvars() == {}  # nothing left bound after it


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_requests_id_reaches_the_log_lines_of_the_task_it_started(make_user):
    ids = demo_data.load()
    api = APIClient()
    api.force_authenticate(make_user("risk"))
    body = {"type": "position", "internal": ids["book balances"],
            "external": ids["kraken ledgers"]}  # fmt: skip
    with worker_helpers.worker_process() as worker, worker_helpers.sending_to(worker.queue):
        response = api.post("/api/runs/", body, format="json")
        assert response.status_code == 201, response.content
        run = worker_helpers.wait_until_ended(Run.objects.get(pk=response.json()["id"]), worker)
        lines = _lines_until(worker, lambda line: line["event"] == "task ended")
    request_id = response["X-Request-ID"]
    assert run.status == "succeeded"
    task_lines = [line for line in lines if line.get("task") == "reconciliation.execute_run"]
    events = [line["event"] for line in task_lines]
    # Ours at both ends, Celery's own "succeeded" line between: all with the ids.
    assert events[0] == "task started" and events[-1] == "task ended", events
    assert any(event.startswith("Task reconciliation.execute_run[") for event in events), events
    for line in task_lines:
        assert line["request_id"] == request_id
        assert line["run_id"] == run.pk
        assert line["level"] == "info"
    assert task_lines[-1]["state"] == "SUCCESS"
    assert all(line["task_id"] == task_lines[0]["task_id"] for line in task_lines)
    # Lines outside the task (the worker's start) carry no request's id.
    assert not any("request_id" in line for line in lines if "task" not in line)
