"""A report through the doors people use: asked for on the reports page and the API, built
(in process here; tests/reports/test_report_worker.py on a real worker), downloaded with its
checksum checked, refused where it must be, expired by retention, written by the command."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from config import claim_sweep
from reconciliation.models import Run
from reports import building, services
from reports.models import Report
from reports.scope import ScopeRefused, Wanted
from tests.api_tokens import token_client
from tests.corrections import large_books

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    return large_books.finished_run(12)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _built(run, user, format_="json") -> Report:
    report = services.request_report(Wanted(run_id=run.pk), format_=format_, by=user)
    assert building.build(report.pk, worker="test") == {"ended": True}
    report.refresh_from_db()
    return report


def test_asked_for_on_the_page_built_and_downloaded_with_its_checksum(client_as, run, settings):
    finance = client_as("finance")
    response = finance.post("/reports/", {"scope": "run", "run": run.pk,
                                          "formats": ["json", "csv"]})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    queued = list(Report.objects.order_by("id"))
    assert [(r.format, r.status, r.run_id) for r in queued] == [
        ("json", "queued", run.pk), ("csv", "queued", run.pk)]  # fmt: skip
    for report in queued:
        building.build(report.pk, worker="test")
    report = Report.objects.get(format="json")
    assert report.status == "ready" and report.break_count == 12
    stored = Path(settings.REPORTS_DIR) / report.file_name
    assert report.size == stored.stat().st_size
    assert report.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    page = finance.get(f"/reports/{report.pk}/")
    assert report.sha256 in page.content.decode() and b"Download" in page.content
    listed = finance.get("/reports/").content.decode()
    assert f'data-report="{report.pk}"' in listed and "ready" in listed
    response = finance.get(f"/reports/{report.pk}/download/")
    body = _body(response)
    assert response.status_code == 200 and hashlib.sha256(body).hexdigest() == report.sha256
    assert response["X-Content-SHA256"] == report.sha256
    assert "attachment" in response["Content-Disposition"]
    assert json.loads(body)["scope"]["run_id"] == run.pk
    downloads = AuditEvent.objects.filter(action="report.downloaded", object_id=str(report.pk))
    assert downloads.count() == 1
    actions = set(AuditEvent.objects.filter(object_type="report", object_id=str(report.pk))
                  .values_list("action", flat=True))  # fmt: skip
    assert actions == {"report.requested", "report.built", "report.downloaded"}


@pytest.mark.parametrize("role", ["risk", "finance"])
def test_finance_and_risk_download(client_as, make_user, run, role):
    report = _built(run, make_user("finance"))
    assert client_as(role).get(f"/reports/{report.pk}/download/").status_code == 200


@pytest.mark.parametrize("role", ["admin", None])
def test_admins_and_role_less_users_do_not_download(client, client_as, make_user, run, role):
    report = _built(run, make_user("finance"))
    browser = client_as(role) if role else client_as()
    response = browser.get(f"/reports/{report.pk}/download/")
    assert response.status_code == 403
    assert browser.post("/reports/", {"scope": "run", "run": run.pk, "formats": ["pdf"]}
                        ).status_code == 403  # fmt: skip
    assert not AuditEvent.objects.filter(action="report.downloaded").exists()
    assert Report.objects.count() == 1
    anonymous = client.get(f"/reports/{report.pk}/download/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_admins_see_the_list_without_a_generate_form(client_as, make_user, run):
    report = _built(run, make_user("finance"))
    page = client_as("admin").get("/reports/").content.decode()
    assert f'data-report="{report.pk}"' in page
    assert "data-report-form" not in page and "Download</a>" not in page


def test_a_damaged_file_is_not_served(client_as, make_user, run, settings):
    report = _built(run, make_user("finance"))
    stored = Path(settings.REPORTS_DIR) / report.file_name
    stored.write_bytes(stored.read_bytes().replace(b"12", b"13", 1))
    response = client_as("finance").get(f"/reports/{report.pk}/download/")
    assert response.status_code == 409
    assert "does not match its SHA-256 checksum" in response.content.decode()
    assert AuditEvent.objects.filter(action="report.file_damaged").count() == 1
    assert not AuditEvent.objects.filter(action="report.downloaded").exists()
    stored.unlink()
    response = client_as("finance").get(f"/reports/{report.pk}/download/")
    assert response.status_code == 409 and "is missing" in response.content.decode()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"scope": "run"}, "Choose the run to report."),
        ({"scope": "period", "period_from": "2026-02-01"}, "Give the period&#x27;s first"),
        ({"scope": "period", "period_from": "2026-02-01", "period_to": "2026-01-01"},
         "starts (2026-02-01) after it ends"),
        ({"scope": "period", "period_from": "2026-01-01", "period_to": "2999-01-01"},
         "ends in the future"),
        ({"scope": "run", "run": "abc"}, "Select a valid choice"),
    ],
)  # fmt: skip
def test_bad_requests_on_the_page_say_why_and_queue_nothing(client_as, run, form, message):
    response = client_as("finance").post("/reports/", {**form, "formats": ["pdf"]})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Report.objects.count() == 0


def test_a_run_that_did_not_succeed_is_refused_before_anything_is_queued(make_user, run):
    Run.objects.filter(pk=run.pk).update(status="failed", finished_at=timezone.now())
    with pytest.raises(ScopeRefused, match="is failed"):
        services.request_report(Wanted(run_id=run.pk), format_="pdf", by=make_user("finance"))
    assert Report.objects.count() == 0


def test_a_build_that_fails_says_why_and_can_be_retried(client_as, make_user, run):
    user = make_user("risk")
    report = services.request_report(Wanted(run_id=run.pk), format_="json", by=user)
    Run.objects.filter(pk=run.pk).update(status="failed", finished_at=timezone.now())
    building.build(report.pk)
    report.refresh_from_db()
    assert report.status == "failed" and "only a succeeded run" in report.message
    page = client_as("risk").get(f"/reports/{report.pk}/").content.decode()
    assert "Retry the build" in page and "only a succeeded run" in page
    Run.objects.filter(pk=run.pk).update(status="succeeded")
    response = client_as("risk").post(f"/reports/{report.pk}/retry/")
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "queued"
    building.build(report.pk)
    report.refresh_from_db()
    assert report.status == "ready"
    with pytest.raises(services.ReportRefused, match="only a failed build"):
        services.retry_report(report, by=user)


def test_a_redelivered_build_does_nothing_twice(make_user, run):
    report = _built(run, make_user("finance"))
    assert building.build(report.pk) == {"skipped": True}
    assert AuditEvent.objects.filter(action="report.built").count() == 1


def test_a_build_whose_worker_stopped_is_handed_back_and_given_up_after_its_deliveries(
    make_user, run
):
    report = services.request_report(Wanted(run_id=run.pk), format_="json",
                                     by=make_user("finance"))  # fmt: skip
    Report.objects.filter(pk=report.pk).update(
        status="building", deliveries=1, worker="gone@host", worker_instance="dead-instance"
    )
    handed = [h for h in claim_sweep.sweep() if h.kind == "report"]
    assert [(h.pk, h.fence) for h in handed] == [(report.pk, {"deliveries": 1})]
    report.refresh_from_db()
    assert report.status == "queued" and report.phase == claim_sweep.WAITING
    Report.objects.filter(pk=report.pk).update(deliveries=claim_sweep.MAX_DELIVERIES)
    assert building.build(report.pk) == {"given_up": True}
    report.refresh_from_db()
    assert report.status == "failed" and "Given up after" in report.message


def test_retention_expires_the_file_and_keeps_the_row(
    make_user, run, settings, client_as, django_capture_on_commit_callbacks
):
    report = _built(run, make_user("finance"))
    stored = Path(settings.REPORTS_DIR) / report.file_name
    assert services.expire_reports(timezone.now()) == 0
    Report.objects.filter(pk=report.pk).update(expires_at=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.expire_reports(timezone.now()) == 1
    assert not stored.exists()
    report.refresh_from_db()
    assert report.status == "expired" and report.sha256
    assert AuditEvent.objects.filter(action="report.expired", object_id=str(report.pk)).exists()
    response = client_as("finance").get(f"/reports/{report.pk}/download/")
    assert response.status_code == 409 and "only a ready report" in response.content.decode()
    assert services.expire_reports(timezone.now()) == 0


def test_the_api_asks_reads_and_downloads_once_per_idempotency_key(make_user, run):
    finance = token_client(make_user("finance"))
    body = {"format": "json", "run": run.pk}
    first = finance.post("/api/reports/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = finance.post("/api/reports/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and Report.objects.count() == 1
    report_id = first.json()["id"]
    building.build(report_id)
    shown = finance.get(f"/api/reports/{report_id}/").json()
    assert shown["status"] == "ready" and len(shown["sha256"]) == 64
    listed = finance.get("/api/reports/", {"status": "ready", "file_format": "json"}).json()
    assert [r["id"] for r in listed["results"]] == [report_id]
    download = finance.get(f"/api/reports/{report_id}/download/")
    assert download.status_code == 200
    assert hashlib.sha256(_body(download)).hexdigest() == shown["sha256"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "docx", "run": 1}, "format"),
        ({"format": "pdf"}, "report_scope_refused"),
        ({"format": "pdf", "run": 999_999}, "report_scope_refused"),
        ({"format": "pdf", "period_from": "2026-02-01", "period_to": "2026-01-01"},
         "report_scope_refused"),
        ({"format": "pdf", "run": 1, "filters": {"severity": "apocalyptic"}}, "filters"),
    ],
)  # fmt: skip
def test_the_api_refuses_bad_requests_and_queues_nothing(make_user, body, field):
    response = token_client(make_user("finance")).post("/api/reports/", body, format="json")
    assert response.status_code == 400, response.json()
    answer = response.json()
    assert answer["code"] == field or field in answer["fields"]
    assert Report.objects.count() == 0


def test_the_api_gives_admins_the_list_but_not_the_files(make_user, run):
    report = _built(run, make_user("finance"))
    admin = token_client(make_user("admin"))
    assert admin.get("/api/reports/").status_code == 200
    assert admin.get(f"/api/reports/{report.pk}/download/").status_code == 403
    assert admin.post("/api/reports/", {"format": "pdf", "run": run.pk},
                      format="json").status_code == 403  # fmt: skip
    assert token_client(make_user()).get("/api/reports/").status_code == 403


def test_the_command_writes_a_report_and_refuses_careless_calls(run, tmp_path):
    output = tmp_path / "run.csv"
    out = StringIO()
    call_command("generate_report", "--run", str(run.pk), "--format", "csv", "--output",
                 str(output), stdout=out)  # fmt: skip
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    assert digest in out.getvalue() and output.read_bytes().startswith("\ufeff".encode())
    written = AuditEvent.objects.get(action="report.written")
    assert written.after["sha256"] == digest
    careless = [
        (["--run", str(run.pk)], "exists: choose another name"),
        (["--run", str(run.pk), "--from", "2026-01-01"], "not both"),
        (["--from", "2026-01-01"], "Give --run RUN"),
        (["--from", "yesterday", "--to", "2026-01-01"], "not a day"),
        (["--run", "999999"], "There is no run 999999"),
    ]
    for arguments, message in careless:
        with pytest.raises(CommandError, match=message):
            call_command("generate_report", *arguments, "--format", "csv", "--output",
                         str(output))  # fmt: skip
    with pytest.raises(CommandError, match="no folder"):
        call_command("generate_report", "--run", str(run.pk), "--format", "csv", "--output",
                     str(tmp_path / "missing" / "x.csv"))  # fmt: skip
    assert output.read_bytes() and sorted(p.name for p in tmp_path.iterdir()) == ["run.csv"]


def test_a_run_page_links_to_its_report_for_those_who_may_download(client_as, run):
    page = client_as("finance").get(f"/runs/{run.pk}/").content.decode()
    assert f"/reports/?run={run.pk}#generate" in page
    form = client_as("finance").get(f"/reports/?run={run.pk}").content.decode()
    assert f'<option value="{run.pk}" selected>' in form
    assert "data-report-run" not in client_as("admin").get(f"/runs/{run.pk}/").content.decode()


def test_a_given_up_build_can_be_retried_with_new_deliveries(make_user, run):
    user = make_user("finance")
    report = services.request_report(Wanted(run_id=run.pk), format_="json", by=user)
    Report.objects.filter(pk=report.pk).update(deliveries=claim_sweep.MAX_DELIVERIES)
    assert building.build(report.pk) == {"given_up": True}
    services.retry_report(Report.objects.get(pk=report.pk), by=user)
    assert building.build(report.pk) == {"ended": True}
    report.refresh_from_db()
    assert report.status == "ready" and report.file_name.endswith(f".{report.deliveries}.json")


def test_a_runs_report_is_not_narrowed_by_a_periods_filters(make_user, run):
    with pytest.raises(ScopeRefused, match="type narrow a period's runs"):
        services.request_report(Wanted(run_id=run.pk, filters={"type": "trades"}),
                                format_="pdf", by=make_user("finance"))  # fmt: skip
    assert Report.objects.count() == 0
