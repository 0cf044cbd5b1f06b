"""A break's own page, API and exports: both sides' trade ids, readable evidence, working it."""

import csv
import io
import json
import re
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.access import has_capability
from reconciliation.breaks import evidence as break_evidence
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def finished(demo, type_, internal, external):
    run = runs.start_run(
        type=type_, internal=demo[internal], external=demo[external], prices=demo["prices"]
    )
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    return run


@pytest.fixture
def trades_run(demo):
    return finished(demo, "trades", "book trades", "kraken trades")


@pytest.fixture
def position_run(demo):
    return finished(demo, "position", "book balances", "kraken ledgers")


def csv_rows(text: str) -> dict[int, dict]:
    return {int(r["break_id"]): r for r in csv.DictReader(io.StringIO(text))}


def test_a_matched_trades_break_names_the_books_and_the_exchanges_trade_ids(
    trades_run, client_as, make_user, tmp_path
):
    item = Break.objects.get(type="trades", field="price", last_seen_run=trades_run)
    book, exchange = item.details["internal_ids"], item.details["external_ids"]
    assert book and exchange and set(book).isdisjoint(exchange)  # the book has ids of its own
    page = client_as("finance").get(f"/breaks/{item.pk}/").content.decode()
    shown = unescape(re.search(r'<dd id="trade-ids">(.*?)</dd>', page).group(1))
    assert all(i in shown for i in book + exchange)
    api = APIClient()
    api.force_authenticate(make_user("finance"))
    body = api.get(f"/api/breaks/{item.pk}/").json()
    assert (body["book_trade_ids"], body["exchange_trade_ids"]) == (book, exchange)
    listed = {b["id"]: b for b in api.get("/api/breaks/", {"type": "trades"}).json()["results"]}
    assert listed[item.pk]["book_trade_ids"] == book
    response = client_as("finance").get("/breaks/export.csv", {"run": trades_run.pk})
    exported = csv_rows(b"".join(response.streaming_content).decode())
    command = tmp_path / "breaks.csv"
    call_command("export_breaks", run=trades_run.pk, output=str(command))
    for rows in (exported, csv_rows(command.read_text())):
        assert json.loads(rows[item.pk]["book_trade_ids"]) == book
        assert json.loads(rows[item.pk]["exchange_trade_ids"]) == exchange


def test_a_trade_missing_on_one_side_names_it_on_its_side_only(trades_run, make_user):
    api = APIClient()
    api.force_authenticate(make_user("finance"))
    missing = Break.objects.filter(type="trades", field="trade", last_seen_run=trades_run)
    by_side = {"book": 0, "exchange": 0}
    for item in missing:
        body = api.get(f"/api/breaks/{item.pk}/").json()
        side = "book" if item.internal_value is not None else "exchange"
        other = "exchange" if side == "book" else "book"
        assert body[f"{side}_trade_ids"] == [item.details["trade_id"]]
        assert body[f"{other}_trade_ids"] == []
        by_side[side] += 1
    assert by_side["book"] and by_side["exchange"]


def test_the_search_finds_a_match_by_the_books_trade_id(trades_run, client_as):
    item = Break.objects.get(type="trades", field="price", last_seen_run=trades_run)
    page = client_as("finance").get("/breaks/", {"q": item.details["internal_ids"][0]})
    assert f'href="/breaks/{item.pk}/"' in page.content.decode()


def test_breaks_about_no_single_trade_have_no_trade_ids(position_run, make_user):
    api = APIClient()
    api.force_authenticate(make_user("finance"))
    body = api.get("/api/breaks/", {"run": position_run.pk}).json()["results"]
    assert body and all(b["book_trade_ids"] is None is b["exchange_trade_ids"] for b in body)


@pytest.mark.parametrize("type_", ["trades", "position"])
def test_evidence_reads_as_a_definition_list_with_exact_values(demo, client_as, type_):
    inputs = {"trades": ("book trades", "kraken trades"),
              "position": ("book balances", "kraken ledgers")}[type_]  # fmt: skip
    run = finished(demo, type_, *inputs)
    client = client_as("finance")
    for item in Break.objects.filter(last_seen_run=run).exclude(details={}):
        page = client.get(f"/breaks/{item.pk}/").content.decode()
        evidence = page[page.index('<details id="evidence">') :]
        evidence = evidence[: evidence.index("</details>")]
        assert "{&#x27;" not in evidence and "{'" not in evidence  # no Python dict printed
        texts = [unescape(t) for t in re.findall(r'<span class="exact">(.*?)</span>', evidence)]
        for value in _leaves(item.details):
            assert _exactly_shown(break_evidence.text(value), texts), value
        # Stored decimals lose their padding (0.000000000000000000 reads 0), never a digit.
        assert not any(re.fullmatch(r"-?[0-9]+\.[0-9]*0", t) for t in texts)


def _exactly_shown(expected: str, texts: list[str]) -> bool:
    if expected in texts:
        return True
    decimal = re.fullmatch(r"-?[0-9]+\.[0-9]+", expected)
    return bool(decimal) and any(
        re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", t) and Decimal(t) == Decimal(expected) for t in texts
    )


def _leaves(value):
    if isinstance(value, dict) and value:
        for inner in value.values():
            yield from _leaves(inner)
    else:
        yield value


def test_an_accepted_break_is_reopened_from_its_page(position_run, client_as):
    item = Break.objects.filter(last_seen_run=position_run).first()
    client = client_as("risk")
    page = f"/breaks/{item.pk}/"
    accept = {"ids": [item.pk], "action": "accept", "reason": "known custody lag", "next": page}
    accepted = client.post("/breaks/bulk/", accept)
    assert accepted.status_code == 302
    html = client.get(page).content.decode()
    form = re.search(r'<form[^>]*id="status-action".*?</form>', html, re.S).group(0)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    assert fields["action"] == "reopen" and fields["ids"] == str(item.pk)
    fields["csrfmiddlewaretoken"] = ""
    client.post("/breaks/bulk/", fields)
    item.refresh_from_db()
    assert item.status == "open" and item.accepted_reason == ""


def test_a_break_is_assigned_from_its_page(position_run, client_as, make_user):
    worker = make_user("risk", username="wanda")
    make_user("finance", username="fred")  # may not work breaks: not offered
    item = Break.objects.filter(last_seen_run=position_run).first()
    client = client_as("risk")
    html = client.get(f"/breaks/{item.pk}/").content.decode()
    form = re.search(r'<form[^>]*id="assign-action".*?</form>', html, re.S).group(0)
    offered = dict(re.findall(r'<option value="(\d+)"[^>]*>(\w+)</option>', form))
    assert offered.get(str(worker.pk)) == "wanda" and "fred" not in offered.values()
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    assert fields["action"] == "assign"
    client.post("/breaks/bulk/", {**fields, "assignee": str(worker.pk)})
    item.refresh_from_db()
    assert item.assignee == worker
    assert "selected>wanda</option>" in client.get(f"/breaks/{item.pk}/").content.decode()


def test_the_assignee_choice_offers_exactly_who_may_work_breaks(position_run, make_user):
    """Asked by capability: the list offers whom the assign action accepts, and nobody else."""
    viewer, admin, root = make_user("risk"), make_user("admin"), make_user()
    root.is_superuser = True  # a superuser without a group is an admin
    root.save()
    gone = make_user("risk")
    gone.is_active = False
    gone.save()
    make_user("finance")
    make_user()  # no role at all
    client = Client()
    client.force_login(viewer)
    html = client.get("/breaks/").content.decode()
    select = re.search(r'<select name="assignee".*?</select>', html, re.S).group(0)
    offered = set(re.findall(r'<option value="\d+">(\w+)</option>', select))
    assert offered == {viewer.username, admin.username, root.username}
    assert offered == {u.username for u in get_user_model().objects.all()
                       if has_capability(u, "work_breaks")}  # fmt: skip


def test_the_polled_status_of_a_finished_run_shows_the_matches(trades_run, client_as):
    client = client_as("finance")
    polled = client.get(f"/runs/{trades_run.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert f'href="/runs/{trades_run.pk}/matches.csv"' in polled
    assert "hx-get" not in polled  # polling stops


def test_a_run_that_finished_before_its_page_was_shown_says_only_how_it_ended(demo, client_as):
    client = client_as("risk")
    started = client.post("/runs/", {
        "type": "position", "internal": demo["book balances"].pk,
        "external": demo["kraken ledgers"].pk, "prices": demo["prices"].pk,
    })  # fmt: skip
    assert started.status_code == 302
    run = Run.objects.get()
    run_execution.execute_run(run.pk)
    page = client.get(started["Location"]).content.decode()
    assert "succeeded" in page and f"Run {run.pk} queued." not in page
    assert 'class="messages"' not in page  # the status box is the one place that says it


def test_starting_a_run_leaves_no_message_beside_its_live_status(demo, client_as):
    client = client_as("risk")
    started = client.post("/runs/", {
        "type": "position", "internal": demo["book balances"].pk,
        "external": demo["kraken ledgers"].pk,
    })  # fmt: skip
    page = client.get(started["Location"]).content.decode()
    assert 'class="messages"' not in page
    assert 'pill run-queued">queued' in page  # said once, where it is kept up to date
    run = Run.objects.get()
    assert f'href="/datasets/{run.prices_dataset_id}/"' in page  # the prices it took, named


# Odd posted values: refused with a message, nothing changed (one was a 500, one unassigned)


@pytest.mark.parametrize(
    "posted",
    [
        {"action": "accept", "ids": ["²"], "reason": "known difference"},
        {"action": "accept", "ids": ["abc"], "reason": "known difference"},
        {"action": "assign", "assignee": "²"},
        {"action": "assign", "assignee": "abc"},
    ],
)
def test_a_bulk_action_with_a_value_that_is_not_an_id_changes_nothing(
    position_run, client_as, make_user, posted
):
    item = Break.objects.filter(last_seen_run=position_run).first()
    worker = make_user("risk")
    Break.objects.filter(pk=item.pk).update(assignee=worker)  # set up: assigned to someone
    client = client_as("risk")
    response = client.post("/breaks/bulk/", {"ids": [str(item.pk)], **posted}, follow=True)
    assert response.status_code == 200
    assert "Nothing was changed" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "open" and item.assignee == worker


def test_a_comment_or_reason_with_a_nul_is_refused_and_nothing_is_stored(
    position_run, client_as, make_user
):
    from rest_framework.test import APIClient

    item = Break.objects.filter(last_seen_run=position_run).first()
    client = client_as("risk")
    page = client.post(f"/breaks/{item.pk}/comments/", {"text": "a\x00b"}, follow=True)
    assert page.status_code == 200 and "holds a NUL character" in page.content.decode()
    accepted = client.post(
        "/breaks/bulk/", {"action": "accept", "ids": [str(item.pk)], "reason": "known\x00 one"},
        follow=True,
    )  # fmt: skip
    assert "holds a NUL character" in accepted.content.decode()
    api = APIClient()
    api.force_authenticate(make_user("risk"))
    answer = api.post(f"/api/breaks/{item.pk}/comments/", {"text": "a\x00b"}, format="json")
    assert answer.status_code == 400 and "text" in answer.json()["fields"]
    item.refresh_from_db()
    assert item.comments.count() == 0 and item.status == "open"


@pytest.mark.parametrize("url", ["/datasets/", "/audit/"])
def test_an_older_page_link_that_is_not_an_id_is_ignored_not_a_500(db, client_as, url):
    client = client_as("admin", "risk")
    client.raise_request_exception = False
    assert client.get(url, {"before": "²"}).status_code == 200
