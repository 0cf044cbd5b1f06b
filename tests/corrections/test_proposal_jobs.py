"""A run's proposals as a job: queued once, claimed per delivery, done in the same transaction
as the corrections, superseded by a later delivery, given up after too many, failed visibly."""

import pytest

from audit import selectors as audit_selectors
from config import claim_sweep, health
from corrections import jobs
from corrections.models import Correction, ProposalJob
from reconciliation.models import Run
from tests.corrections.large_books import finished_run

pytestmark = pytest.mark.django_db(transaction=True)

ASSETS = 40


@pytest.fixture
def run() -> Run:
    return finished_run(ASSETS)


def test_a_run_is_queued_once_and_its_job_done_with_its_corrections(run, monkeypatch):
    sent = []
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", sent.append)
    jobs.queue(run.pk)
    jobs.queue(run.pk)  # the signal again (e.g. a merge retried): no second job, no second task
    assert sent == [run.pk] and ProposalJob.objects.count() == 1

    outcome = jobs.deliver(run.pk, worker="w1@host")
    job = ProposalJob.objects.get()
    assert outcome["proposed"] == ASSETS and outcome["applied"] == ASSETS // 4
    assert (job.status, job.deliveries, job.worker, job.outcome) == ("done", 1, "w1@host", outcome)
    assert job.finished_at is not None and job.worker_instance == ""
    assert jobs.deliver(run.pk, worker="w2@host") == {"skipped": True}  # a late redelivery
    assert Correction.objects.filter(run=run).count() == ASSETS
    assert ProposalJob.objects.get().deliveries == 1


def test_a_delivery_superseded_by_a_later_claim_makes_nothing(run, monkeypatch):
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", lambda run_id: None)
    jobs.queue(run.pk)
    first = jobs._claim(run.pk, "w1@host")
    jobs._claim(run.pk, "w2@host")  # the sweep took w1 for dead; another worker claimed it
    # w1 comes back and goes on with its own (older) delivery number.
    monkeypatch.setattr(jobs, "_claim", lambda run_id, worker: first)
    assert jobs.deliver(run.pk, worker="w1@host") == jobs.SUPERSEDED
    assert Correction.objects.filter(run=run).count() == 0
    assert ProposalJob.objects.get().status == "running"


def test_work_whose_workers_keep_dying_is_given_up_and_audited(run, monkeypatch):
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", lambda run_id: None)
    jobs.queue(run.pk)
    for number in range(claim_sweep.MAX_DELIVERIES):
        jobs._claim(run.pk, f"w{number}@host")  # each delivery's worker died
    assert jobs.deliver(run.pk, worker="last@host") == {"given_up": True}
    job = ProposalJob.objects.get()
    assert job.status == "given_up" and job.deliveries == claim_sweep.MAX_DELIVERIES + 1
    assert Correction.objects.filter(run=run).count() == 0
    entry = audit_selectors.events(action="corrections.proposals_given_up").get()
    assert entry.object_id == str(run.pk)
    assert entry.after == {"deliveries": claim_sweep.MAX_DELIVERIES}


def test_an_unexpected_error_fails_the_job_and_makes_nothing(run, monkeypatch):
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", lambda run_id: None)
    jobs.queue(run.pk)

    def broken(run):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs.services, "propose_for_run", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        jobs.deliver(run.pk, worker="w1@host")
    job = ProposalJob.objects.get()
    assert job.status == "failed" and "worker's log" in job.outcome["error"]
    assert Correction.objects.filter(run=run).count() == 0


def test_the_sweep_sends_again_a_job_whose_worker_is_silent(run, monkeypatch, settings):
    sent = []
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", sent.append)
    jobs.queue(run.pk)
    sent.clear()
    monkeypatch.setenv(health.INSTANCE_ENV, "instance-that-died")
    jobs._claim(run.pk, "gone@host")  # that instance never sent a heartbeat: silent
    assert ProposalJob.objects.get().worker_instance == "instance-that-died"
    monkeypatch.delenv(health.INSTANCE_ENV)
    handed = [h for h in claim_sweep.sweep() if h.kind == jobs.PROPOSALS.name]
    assert [(h.pk, h.worker, h.fence) for h in handed] == [
        (ProposalJob.objects.get().pk, "gone@host", {"deliveries": 1})
    ]
    assert sent == [run.pk]
    assert claim_sweep.sweep() == []  # handed back once: the instance is cleared
    outcome = jobs.deliver(run.pk, worker="next@host")
    assert outcome["proposed"] == ASSETS
    job = ProposalJob.objects.get()
    assert (job.status, job.deliveries) == ("done", 2)
    entry = audit_selectors.events(action="corrections.proposals_handed_back").get()
    assert entry.after == {"worker": "gone@host", "deliveries": 1}


def _failed(run, monkeypatch) -> None:
    jobs.queue(run.pk)
    monkeypatch.setattr(jobs.services, "propose_for_run", _broken)
    with pytest.raises(RuntimeError):
        jobs.deliver(run.pk, worker="w1@host")
    monkeypatch.undo()


def _broken(run):
    raise RuntimeError("disk full")


def test_failed_proposals_are_proposed_again_once_by_a_person_and_audited(run, make_user,
                                                                         monkeypatch):  # fmt: skip
    _failed(run, monkeypatch)
    sent = []
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", sent.append)
    risk = make_user("risk")
    job = jobs.retry(run.pk, by=risk)
    assert (job.status, job.deliveries, job.delivery_limit) == (
        "queued", 1, 1 + claim_sweep.MAX_DELIVERIES,
    )  # fmt: skip
    assert sent == [run.pk] and job.outcome == {} and job.finished_at is None
    entry = audit_selectors.events(action="corrections.proposals_retried").get()
    assert entry.actor_id == risk.pk and entry.before["status"] == "failed"

    with pytest.raises(jobs.RetryRefused, match="Queued"):  # twice: refused, nothing changes
        jobs.retry(run.pk, by=risk)
    assert sent == [run.pk]
    outcome = jobs.deliver(run.pk, worker="w2@host")
    assert outcome["proposed"] == ASSETS
    job = ProposalJob.objects.get()
    assert (job.status, job.deliveries) == ("done", 2)
    with pytest.raises(jobs.RetryRefused, match="Done"):
        jobs.retry(run.pk, by=risk)


def test_a_given_up_job_tried_again_gets_room_and_an_old_delivery_cannot_hold_it(
    run, make_user, monkeypatch
):
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", lambda run_id: None)
    jobs.queue(run.pk)
    straggler = None
    for number in range(claim_sweep.MAX_DELIVERIES):
        straggler = jobs._claim(run.pk, f"w{number}@host")
    assert jobs.deliver(run.pk, worker="last@host") == {"given_up": True}
    jobs.retry(run.pk, by=make_user("admin"))  # admins propose (they do not approve)
    # A delivery of before the retry, still alive, holds an old number: it makes nothing.
    original = jobs._claim
    monkeypatch.setattr(jobs, "_claim", lambda run_id, worker: straggler)
    assert ProposalJob.objects.get().status == "queued"
    assert jobs.deliver(run.pk, worker="w0@host") == jobs.SUPERSEDED
    monkeypatch.setattr(jobs, "_claim", original)
    outcome = jobs.deliver(run.pk, worker="new@host")  # not given up: the limit was raised
    assert outcome["proposed"] == ASSETS


@pytest.mark.parametrize("role", ["finance", None])
def test_who_may_not_propose_cannot_retry_and_nothing_changes(run, make_user, monkeypatch, role):
    _failed(run, monkeypatch)
    user = make_user(role) if role else make_user()
    with pytest.raises(jobs.NotAllowed):
        jobs.retry(run.pk, by=user)
    assert ProposalJob.objects.get().status == "failed"
    assert not audit_selectors.events(action="corrections.proposals_retried").exists()


def test_the_run_page_says_the_proposals_failed_and_risk_proposes_again(run, client_as,
                                                                        monkeypatch):  # fmt: skip
    _failed(run, monkeypatch)
    sent = []
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", sent.append)
    finance = client_as("finance")
    page = finance.get(f"/runs/{run.pk}/").content.decode()
    assert "automatic corrections were not proposed" in page and "Propose again" not in page
    assert finance.post(f"/corrections/runs/{run.pk}/propose-again/").status_code == 403
    assert ProposalJob.objects.get().status == "failed"

    risk = client_as("risk")
    page = risk.get(f"/runs/{run.pk}/").content.decode()
    assert "Propose again" in page and "data-confirm" in page
    answer = risk.post(f"/corrections/runs/{run.pk}/propose-again/", follow=True)
    assert "queued again" in answer.content.decode()
    assert ProposalJob.objects.get().status == "queued" and sent == [run.pk]
    again = risk.post(f"/corrections/runs/{run.pk}/propose-again/", follow=True)  # double click
    assert "only failed or given-up" in again.content.decode() and sent == [run.pk]


def test_the_admin_lists_jobs_and_its_action_proposes_a_failed_one_again(run, client_as,
                                                                         monkeypatch):  # fmt: skip
    _failed(run, monkeypatch)
    monkeypatch.setattr(jobs.task_queue, "propose_for_run", lambda run_id: None)
    admin = client_as("admin")
    listing = admin.get("/admin/corrections/proposaljob/")
    assert listing.status_code == 200 and "failed" in listing.content.decode()
    job = ProposalJob.objects.get()
    chosen = {"action": "propose_again", "_selected_action": [job.pk]}
    answer = admin.post("/admin/corrections/proposaljob/", chosen, follow=True)
    assert "1 run(s) queued again" in answer.content.decode()
    assert ProposalJob.objects.get().status == "queued"
