import time

import pytest
import redis
from django.db import connections

from config import health

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_heartbeat(settings):
    health.record_worker_heartbeat("test-worker@localhost")


@pytest.fixture
def admin(client_as):
    """Signed in as an admin: /healthz gives each check's details."""
    return client_as("admin")


def test_healthz_is_public_and_tells_anonymous_callers_only_up(client, live_heartbeat):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert b"test-worker" not in response.content


@pytest.mark.parametrize("role", ["risk", "finance", None])
def test_healthz_tells_other_callers_only_down(client, client_as, role):
    caller = client_as(role) if role else client
    response = caller.get("/healthz")  # no worker heartbeat: down
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert connections["default"].settings_dict["NAME"].encode() not in response.content


def test_healthz_gives_admins_every_check_with_its_details(admin, live_heartbeat):
    response = admin.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["detail"] == connections["default"].settings_dict["NAME"]
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "up",
        "broker": "up",
        "worker": "up",
        "outbox": "up",
    }
    assert "test-worker@localhost" in body["checks"]["worker"]["detail"]


def test_healthz_reports_the_outbox_backlog_to_admins(admin, client, live_heartbeat, make_user):
    from corrections import outbox
    from corrections import services as corrections
    from reconciliation.models import Break
    from tests.demo_runs import finished_position_run

    empty = admin.get("/healthz").json()["checks"]["outbox"]
    assert empty == {"status": "up", "detail": "0 deliveries pending", "backlog": 0,
                     "oldest_age_seconds": 0.0, "given_up": 0}  # fmt: skip
    run = finished_position_run()
    item = Break.objects.filter(last_seen_run=run, suggested_value__isnull=False).first()
    correction = corrections.propose(item, by=make_user("risk"), reason="health")
    outbox.create_endpoint(name="trading", url="http://127.0.0.1:9/hooks", by=make_user("admin"))
    outbox.publish("correction.applied", correction, {"a": "1"})  # not relayed: never committed
    response = admin.get("/healthz")
    assert response.status_code == 200  # a backlog is reported, it is not a service down
    check = response.json()["checks"]["outbox"]
    assert (check["status"], check["backlog"], check["given_up"]) == ("up", 1, 0)
    assert 0 <= check["oldest_age_seconds"] < 60
    assert check["detail"].startswith("1 delivery pending, the oldest for ")
    assert client.get("/healthz").json() == {"status": "ok"}  # anonymous callers: no figures


def test_no_worker_heartbeat_gives_503(admin):
    response = admin.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {
        "status": "down",
        "detail": "no worker has reported a heartbeat",
    }


def test_stale_worker_heartbeat_gives_503(admin, settings):
    stale = time.time() - settings.WORKER_HEARTBEAT_MAX_AGE - 5
    redis.Redis.from_url(settings.REDIS_URL).hset(health.HEARTBEAT_KEY, "old@host", str(stale))
    response = admin.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["status"] == "down"


def test_broker_down_gives_503(admin, settings, live_heartbeat):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = admin.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


def test_database_down_gives_503(admin, settings, live_heartbeat):
    unreachable = {**connections["default"].settings_dict, "HOST": "127.0.0.1", "PORT": 1}
    connections.settings["unreachable"] = unreachable
    settings.HEALTH_DATABASE_ALIAS = "unreachable"
    try:
        response = admin.get("/healthz")
    finally:
        del connections.settings["unreachable"]
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["broker"]["status"] == "up"


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


def test_healthcheck_command_exits_1_when_a_service_is_down(capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unhealthy"):
        call_command("healthcheck", "--json")
    body = __import__("json").loads(capsys.readouterr().out)
    assert body["checks"]["worker"]["status"] == "down"


def test_healthcheck_command_checks_this_hosts_worker_only(capsys, live_heartbeat):
    import socket

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("healthcheck", "--this-worker")  # only test-worker@localhost has a beat
    health.record_worker_heartbeat(f"celery@{socket.gethostname()}")
    call_command("healthcheck", "--this-worker")
    call_command("healthcheck", "--broker")
    assert "broker: up" in capsys.readouterr().out
