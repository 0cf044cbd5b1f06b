"""A form sent twice is acted on once (config/form_tokens.py): every POST form has a token, and
the server runs each submission once, also when the two arrive together."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connections
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from audit.models import AuditEvent
from config import form_tokens
from reconciliation.breaks import workflow as break_workflow
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, BreakComment, Dataset, RuleSet, Run
from reconciliation.rules import services as rule_sets
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.slow_calls import slowed

ROOT = Path(__file__).resolve().parents[1]
# The sign-in form is sent by someone not yet signed in, so there is nobody to hold a claim
# for; and a repeat must sign in again, since the first answer's session cookie may never
# have reached the browser. Its button is still disabled after one click (static/js/forms.js).
NOT_GUARDED = {"accounts/login.html"}
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
POST = re.compile(r"""method\s*=\s*["']?post""", re.I)
TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def template_files() -> list[Path]:
    folders = [Path(folder) for engine in settings.TEMPLATES for folder in engine["DIRS"]]
    folders += [p for p in ROOT.glob("*/templates") if ".venv" not in p.parts]
    return sorted({path for folder in folders for path in folder.rglob("*.html")})


def post_forms_without_token(text: str) -> list[str]:
    return [
        match.group(0)[:120]
        for match in FORM.finditer(text)
        if POST.search(match.group(1)) and "{% form_token %}" not in match.group(2)
    ]


def test_the_template_check_finds_a_post_form_without_a_token():
    text = '<form method="get"></form><form method="post">{% csrf_token %}</form>'
    assert post_forms_without_token(text) == ['<form method="post">{% csrf_token %}</form>']
    assert post_forms_without_token('<form method="POST">{% form_token %}</form>') == []


def test_every_post_form_in_every_template_carries_a_form_token():
    files = template_files()
    assert any(path.name == "break.html" for path in files)
    missing = {
        str(path.relative_to(ROOT)): forms
        for path in files
        if str(path.relative_to(ROOT)).removeprefix("templates/") not in NOT_GUARDED
        and (forms := post_forms_without_token(path.read_text()))
    }
    assert missing == {}, "add {% form_token %} next to {% csrf_token %} in these forms"


def test_every_page_loads_the_script_that_disables_a_sent_forms_buttons():
    base = (ROOT / "templates" / "base.html").read_text()
    assert "js/forms.js" in base
    assert (ROOT / "static" / "js" / "forms.js").exists()


RENDERED_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["risk", "admin"])
def test_every_post_form_on_every_page_as_rendered_carries_a_form_token(a_break, client_as, role):
    """The pages as people get them, includes and htmx fragments too."""
    client = client_as(role)
    draft = rule_sets.start_draft(RuleSet.objects.get(name="default"), by=None)
    run = a_break.last_seen_run
    pages = [
        "/", "/breaks/", f"/breaks/{a_break.pk}/", "/runs/", f"/runs/{run.pk}/", "/datasets/",
        "/datasets/upload/", "/datasets/aliases/", "/rules/", f"/rules/versions/{draft.pk}/",
        "/schedules/", "/audit/",
    ]  # fmt: skip
    seen = 0
    for url in pages:
        for headers in ({}, {"HX-Request": "true"}):
            html = client.get(url, headers=headers).content.decode()
            for match in RENDERED_FORM.finditer(html):
                if POST.search(match.group(1)):
                    seen += 1
                    assert 'name="form_token"' in match.group(2), (url, match.group(0)[:200])
    assert seen > len(pages)


# --- the server side, through the pages people use -------------------------------------------


@pytest.fixture
def demo(transactional_db):
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


@pytest.fixture
def a_break(demo):
    run = runs.start_run(
        type="position", internal=demo["book balances"], external=demo["kraken ledgers"],
        prices=demo["prices"],
    )  # fmt: skip
    run_execution.execute_run(run.pk)
    return Break.objects.filter(type="position").order_by("pk").first()


@pytest.fixture
def two_browsers(make_user):
    """Two clients with one session: the same person's two requests, as a browser sends them."""

    def make(*roles):
        first = Client()
        first.force_login(make_user(*roles))
        second = Client()
        second.cookies = first.cookies
        return first, second

    return make


def token_on(client, url: str, after: str = "") -> str:
    page = client.get(url).content.decode()
    return TOKEN.findall(page[page.index(after) :] if after else page)[0]


def send_together(clients, url: str, data: dict) -> list:
    """Post the same data from each client at the same moment; the responses in order."""
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def send(index, client):
        try:
            barrier.wait()
            time.sleep(0.08 * index)  # the second click, 80 ms after the first
            responses[index] = client.post(url, data)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


@pytest.mark.django_db(transaction=True)
def test_add_a_comment_clicked_twice_posts_one_comment(a_break, two_browsers, monkeypatch):
    first, second = two_browsers("risk")
    url = f"/breaks/{a_break.pk}/"
    data = {"text": "Seen twice?", "form_token": token_on(first, url)}
    slowed(monkeypatch, break_workflow, "comment")
    answers = send_together([first, second], f"/breaks/{a_break.pk}/comments/", data)
    assert [a.status_code for a in answers] == [302, 302]
    assert {a["Location"] for a in answers} == {url}
    assert BreakComment.objects.filter(break_record=a_break).count() == 1
    assert sorted(a.get("Form-Replayed", "") for a in answers) == ["", "true"]


@pytest.mark.django_db(transaction=True)
def test_start_the_run_clicked_twice_starts_one_run(demo, two_browsers, monkeypatch):
    first, second = two_browsers("risk")
    data = {
        "type": "position", "internal": demo["book balances"].pk,
        "external": demo["kraken ledgers"].pk, "prices": demo["prices"].pk,
        "form_token": token_on(first, "/runs/"),
    }  # fmt: skip
    before = Run.objects.count()
    slowed(monkeypatch, runs, "start_run")
    answers = send_together([first, second], "/runs/", data)
    assert Run.objects.count() == before + 1
    run = Run.objects.latest("pk")
    assert [a.status_code for a in answers] == [302, 302]
    assert {a["Location"] for a in answers} == {f"/runs/{run.pk}/"}


@pytest.mark.django_db(transaction=True)
def test_a_bulk_action_sent_twice_together_is_applied_once(
    a_break, two_browsers, make_user, monkeypatch
):
    first, second = two_browsers("risk")
    worker = make_user("risk")
    data = {
        "ids": [a_break.pk], "action": "assign", "assignee": worker.pk, "next": "/breaks/",
        "form_token": token_on(first, "/breaks/", after='id="bulk"'),
    }  # fmt: skip
    slowed(monkeypatch, break_workflow, "apply")
    answers = send_together([first, second], "/breaks/bulk/", data)
    assert [a.status_code for a in answers] == [302, 302]
    assert AuditEvent.objects.filter(action="break.assigned").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_new_rule_set_sent_twice_together_is_created_once(two_browsers, monkeypatch):
    first, second = two_browsers("admin")
    data = {"name": "desk", "description": "", "form_token": token_on(first, "/rules/")}
    slowed(monkeypatch, rule_sets, "create_rule_set")
    answers = send_together([first, second], "/rules/new/", data)
    draft = RuleSet.objects.get(name="desk").versions.get()
    # Without the token the second would be a bare "That name is taken" page.
    assert [a.status_code for a in answers] == [302, 302]
    assert {a["Location"] for a in answers} == {f"/rules/versions/{draft.pk}/"}


@pytest.mark.django_db(transaction=True)
def test_a_repeat_later_gets_the_first_outcome_and_its_messages(demo, client_as):
    client = client_as("risk")
    data = {
        "type": "position", "internal": demo["book balances"].pk,
        "external": demo["kraken ledgers"].pk, "prices": demo["prices"].pk,
        "form_token": token_on(client, "/runs/"),
    }  # fmt: skip
    first = client.post("/runs/", data)
    client.get(first["Location"])  # the page shown, with its message
    again = client.post("/runs/", data, follow=True)
    assert Run.objects.count() == 1
    page = again.content.decode()
    assert again.redirect_chain == [(first["Location"], 302)]
    assert 'pill run-queued">queued' in page  # the run's own page (starting flashes no message)
    assert "already been sent; it was acted on once" in page


@pytest.mark.django_db(transaction=True)
def test_the_same_form_changed_after_it_was_sent_is_a_new_submission(a_break, client_as):
    client = client_as("risk")
    token = token_on(client, f"/breaks/{a_break.pk}/")
    for text in ("first", "second", "second"):
        client.post(f"/breaks/{a_break.pk}/comments/", {"text": text, "form_token": token})
    texts = sorted(BreakComment.objects.values_list("text", flat=True))
    assert texts == ["first", "second"]


@pytest.mark.django_db(transaction=True)
def test_a_refused_submission_can_be_sent_again(two_browsers):
    client, _ = two_browsers("admin")
    rule_sets.create_rule_set(name="taken", by=None)
    token = token_on(client, "/rules/")
    for _ in range(2):
        refused = client.post("/rules/new/", {"name": "taken", "form_token": token})
        assert refused.status_code == 422 and "Form-Replayed" not in refused
    created = client.post("/rules/new/", {"name": "free", "form_token": token})
    assert created.status_code == 302 and RuleSet.objects.filter(name="free").exists()


@pytest.mark.django_db(transaction=True)
def test_a_submission_that_failed_lets_its_claim_go(a_break, client_as, monkeypatch):
    client = client_as("risk")
    client.raise_request_exception = False
    token = token_on(client, f"/breaks/{a_break.pk}/")

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(break_workflow, "comment", broken)
    data = {"text": "retry me", "form_token": token}
    assert client.post(f"/breaks/{a_break.pk}/comments/", data).status_code == 500
    monkeypatch.undo()
    assert client.post(f"/breaks/{a_break.pk}/comments/", data).status_code == 302
    assert BreakComment.objects.get().text == "retry me"


@pytest.mark.django_db(transaction=True)
def test_a_repeat_of_a_submission_still_running_says_so(a_break, client_as, monkeypatch):
    client = client_as("risk")
    data = {"text": "slow", "form_token": token_on(client, f"/breaks/{a_break.pk}/")}
    monkeypatch.setattr(form_tokens, "WAIT_SECONDS", 0.2)
    request = client.post(f"/breaks/{a_break.pk}/comments/", data).wsgi_request
    key = form_tokens.submission_key(request, data["form_token"])
    store = redis.Redis.from_url(settings.REDIS_URL)
    store.set(key, "someone-else-running", ex=60)  # as if the first were still running
    BreakComment.objects.all().delete()
    again = client.post(f"/breaks/{a_break.pk}/comments/", data)
    assert again.status_code == 409
    assert "still being carried out" in again.content.decode()
    assert BreakComment.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_outcome_is_kept_for_a_day_and_a_claim_left_running_expires(a_break, client_as):
    client = client_as("risk")
    data = {"text": "kept", "form_token": token_on(client, f"/breaks/{a_break.pk}/")}
    request = client.post(f"/breaks/{a_break.pk}/comments/", data).wsgi_request
    store = redis.Redis.from_url(settings.REDIS_URL)
    ttl = store.ttl(form_tokens.submission_key(request, data["form_token"]))
    assert form_tokens.KEEP_FOR - 60 < ttl <= form_tokens.KEEP_FOR
    assert form_tokens.RUNNING_FOR < form_tokens.KEEP_FOR


@pytest.mark.django_db(transaction=True)
def test_another_user_sending_the_same_token_is_not_given_the_first_outcome(a_break, client_as):
    data = {"text": "mine", "form_token": "the-same-token"}
    for client in (client_as("risk"), client_as("risk")):
        client.post(f"/breaks/{a_break.pk}/comments/", data)
    assert BreakComment.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_key_left_by_an_earlier_database_is_not_replayed_to_a_new_session(
    a_break, client_as, make_user
):
    # User ids come back when a database is recreated while Redis keeps its keys: the same user
    # id in another session (another sign-in) sending the same token is a submission of its own.
    user = make_user("risk")
    data = {"text": "again", "form_token": "a-token-from-before"}
    for _ in range(2):
        client = Client()
        client.force_login(user)
        client.post(f"/breaks/{a_break.pk}/comments/", data)
    assert BreakComment.objects.count() == 2


# --- htmx partial posts: the fragment answered first is answered to a repeat -----------------

sent_fragments = []


def add_fragment(request):
    sent_fragments.append(request.POST["text"])
    response = HttpResponse(f"<li>{len(sent_fragments)}: {request.POST['text']}</li>")
    response["HX-Trigger"] = "commented"
    return response


urlpatterns = [path("fragment/", add_fragment)]


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_an_htmx_post_sent_twice_gets_the_first_fragment_again(client_as):
    client = client_as("risk")
    sent_fragments.clear()
    data = {"text": "hello", "form_token": form_tokens.new_token()}
    first = client.post("/fragment/", data, headers={"HX-Request": "true"})
    again = client.post("/fragment/", data, headers={"HX-Request": "true"})
    assert sent_fragments == ["hello"]
    assert again.content == first.content == b"<li>1: hello</li>"
    assert again["HX-Trigger"] == "commented" and again["Form-Replayed"] == "true"
    # The page gives the form a new token after each answer: the next send is a new one.
    client.post("/fragment/", {**data, "form_token": form_tokens.new_token()})
    assert sent_fragments == ["hello", "hello"]
