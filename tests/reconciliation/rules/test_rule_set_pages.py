"""Rule set pages and API keep the editor's input on every refusal (issue 12 item 11).

Publish used to publish the stored draft and silently drop the edits on the page; "New draft"
while one exists and a taken name gave bare error pages with the input lost.
"""

import copy
import json
from html.parser import HTMLParser

import pytest
from django.test import Client

from audit.models import AuditEvent
from reconciliation.demo import data as demo_data
from reconciliation.models import Dataset, RuleSet, RuleSetVersion
from reconciliation.rules import services as rule_sets
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db

BARE_ERROR_TITLES = ("<title>Cannot do that", "<title>Not found")


class _Forms(HTMLParser):
    """The page's POST forms as a browser would submit them: {button text: (action, fields)}."""

    def __init__(self):
        super().__init__()
        self.buttons, self._form, self._fields, self._textarea, self._button = (
            {},
            None,
            {},
            None,
            None,
        )

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form, self._fields = attrs.get("action", ""), {}
        elif tag == "input" and self._form is not None and attrs.get("name"):
            self._fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "textarea" and self._form is not None and attrs.get("name"):
            self._textarea = attrs["name"]
            self._fields[self._textarea] = ""
        elif tag == "button" and self._form is not None:
            self._button = [attrs.get("formaction") or self._form, ""]

    def handle_data(self, data):
        if self._textarea:
            self._fields[self._textarea] += data
        if self._button is not None:
            self._button[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "button" and self._button is not None:
            action, text = self._button
            self.buttons[text.strip()] = (action, self._fields)
            self._button = None
        elif tag == "form":
            self._form = None


def press(client: Client, page_url: str, button: str, **edits):
    """Open the page, change the named fields as a person would, press the button."""
    page = client.get(page_url)
    forms = _Forms()
    forms.feed(page.content.decode())
    action, fields = forms.buttons[button]
    return client.post(action or page_url, {**fields, **edits})


def body(response) -> str:
    return response.content.decode()


def assert_not_bare(response):
    assert not any(title in body(response) for title in BARE_ERROR_TITLES), body(response)[:400]


@pytest.fixture
def admin_client(client_as):
    return client_as("admin")


@pytest.fixture
def draft(make_user):
    return rule_sets.start_draft(RuleSet.objects.get(name="default"), by=make_user("admin"))


def page_of(version) -> str:
    return f"/rules/versions/{version.pk}/"


def edited(version, relative="0.0005") -> str:
    definition = copy.deepcopy(version.definition)
    definition["types"]["position"]["relative"] = relative
    return json.dumps(definition, indent=2)


# Publish with unsaved edits


def test_publish_saves_the_edits_shown_on_the_page_then_publishes(admin_client, draft):
    response = press(
        admin_client, page_of(draft), "Save and publish", definition=edited(draft), notes="tighter"
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"
    assert draft.definition["types"]["position"]["relative"] == "0.0005"
    assert draft.notes == "tighter"
    edit = AuditEvent.objects.get(action="rule_set.draft_edited", object_id=str(draft.pk))
    assert edit.after["changes"] == [
        {"path": "types.position.relative", "old": "0.001", "new": "0.0005"}
    ]


def test_publish_with_invalid_edits_publishes_nothing_and_keeps_the_text(admin_client, draft):
    before = copy.deepcopy(draft.definition)
    text = edited(draft, relative="lots")
    response = press(
        admin_client, page_of(draft), "Save and publish", definition=text, notes="mine"
    )
    assert response.status_code == 422
    assert "types.position.relative" in body(response)
    assert "&quot;lots&quot;" in body(response) and 'value="mine"' in body(response)
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.definition == before and draft.notes == ""


def test_publish_with_broken_json_publishes_nothing_and_keeps_the_text(admin_client, draft):
    response = press(admin_client, page_of(draft), "Save and publish", definition="{not json")
    assert response.status_code == 422
    assert "{not json" in body(response)
    draft.refresh_from_db()
    assert draft.status == "draft"


@pytest.mark.parametrize("button", ["Save the draft", "Save and publish"])
def test_a_draft_changed_by_someone_else_since_the_page_opened_is_not_overwritten(
    admin_client, draft, make_user, button
):
    page = admin_client.get(page_of(draft))
    forms = _Forms()
    forms.feed(body(page))
    action, fields = forms.buttons[button]
    theirs = json.loads(edited(draft, relative="0.002"))
    rule_sets.update_draft(draft, definition=theirs, notes="theirs", by=make_user("admin"))

    mine = edited(draft, relative="0.0005")
    response = admin_client.post(action or page_of(draft), {**fields, "definition": mine})
    assert response.status_code == 409
    assert_not_bare(response)
    assert "changed draft" in body(response) and "0.0005" in body(response)  # my text is kept
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.definition == theirs and draft.notes == "theirs"

    # The page now carries what is stored: pressing again deliberately replaces their version.
    forms = _Forms()
    forms.feed(body(response))
    action, fields = forms.buttons[button]
    assert admin_client.post(action or page_of(draft), fields).status_code == 302
    draft.refresh_from_db()
    assert draft.definition["types"]["position"]["relative"] == "0.0005"


@pytest.mark.parametrize("button", ["Save the draft", "Save and publish", "Discard the draft"])
def test_a_draft_published_meanwhile_gives_its_page_with_the_text_kept(
    admin_client, draft, make_user, button
):
    page = admin_client.get(page_of(draft))
    forms = _Forms()
    forms.feed(body(page))
    action, fields = forms.buttons[button]
    rule_sets.publish(draft, by=make_user("admin"))
    stored = copy.deepcopy(RuleSetVersion.objects.get(pk=draft.pk).definition)

    response = admin_client.post(action or page_of(draft), {**fields, "definition": edited(draft)})
    assert response.status_code == 409
    assert_not_bare(response)
    assert "published" in body(response)
    if button != "Discard the draft":
        assert "Your text (not saved)" in body(response) and "0.0005" in body(response)
    assert RuleSetVersion.objects.get(pk=draft.pk).definition == stored


def test_a_draft_discarded_meanwhile_keeps_the_text_on_the_page(admin_client, draft):
    page = admin_client.get(page_of(draft))
    forms = _Forms()
    forms.feed(body(page))
    action, fields = forms.buttons["Save the draft"]
    rule_sets.discard_draft(draft, by=None)
    response = admin_client.post(action or page_of(draft), {**fields, "definition": edited(draft)})
    # A discarded draft is gone: the page itself is not found, as for any missing object.
    assert response.status_code == 404


def test_publish_without_the_form_content_still_publishes_the_stored_draft(admin_client, draft):
    assert admin_client.post(f"/rules/versions/{draft.pk}/publish/").status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"


# New draft and new rule set


def test_new_draft_while_one_exists_shows_the_error_with_a_link_to_the_draft(admin_client, draft):
    default = RuleSet.objects.get(name="default")
    response = admin_client.post(f"/rules/{default.pk}/draft/")
    assert response.status_code == 409
    assert_not_bare(response)
    assert "already has a draft" in body(response)
    assert f'href="/rules/versions/{draft.pk}/"' in body(response)
    assert 'name="name"' in body(response)  # the list page, with its forms
    assert default.versions.filter(status="draft").count() == 1


def test_a_taken_name_shows_the_error_with_the_input_kept_and_a_link(admin_client, draft):
    response = admin_client.post("/rules/new/", {"name": "default", "description": "my own"})
    assert response.status_code == 422
    assert_not_bare(response)
    assert "already exists" in body(response)
    assert 'value="default"' in body(response) and 'value="my own"' in body(response)
    assert f'href="/rules/versions/{draft.pk}/"' in body(response)
    assert RuleSet.objects.count() == 1


def test_a_taken_name_without_a_draft_links_to_its_latest_version(admin_client):
    latest = RuleSetVersion.objects.get(rule_set__name="default", number=1)
    response = admin_client.post("/rules/new/", {"name": "  default ", "description": ""})
    assert response.status_code == 422
    assert f'href="/rules/versions/{latest.pk}/"' in body(response)


@pytest.mark.parametrize(
    ("name", "description", "field", "kept"),
    [
        ("", "kept description", "name", 'value="kept description"'),
        ("   ", "kept description", "name", 'value="kept description"'),
        ("x" * 101, "kept description", "name", 'value="kept description"'),
        ("bad\x00name", "kept description", "name", 'value="badname"'),
        ("fine name", "bad\x00description", "description", 'value="fine name"'),
    ],
)
def test_every_refused_new_rule_set_keeps_the_input_on_the_form(
    admin_client, name, description, field, kept
):
    response = admin_client.post("/rules/new/", {"name": name, "description": description})
    assert response.status_code == 422
    assert_not_bare(response)
    assert kept in body(response)
    assert f"<li>{field}:" in body(response)
    assert (
        RuleSet.objects.count() == 1
        and not AuditEvent.objects.filter(action="rule_set.created").exists()
    )


# Every other refused edit keeps the text and notes


@pytest.mark.parametrize(
    ("definition", "notes", "field"),
    [
        ("[]", "my notes", ""),
        ("[" * 100_000, "my notes", "JSON"),
        (None, "bad\x00notes", "notes"),
        ("NUL", "my notes", "definition"),
    ],
)
def test_every_refused_save_keeps_the_text_and_notes(admin_client, draft, definition, notes, field):
    if definition is None:
        definition = edited(draft)
    elif definition == "NUL":
        definition = json.dumps(with_nul(json.loads(edited(draft))))
    before = copy.deepcopy(draft.definition)
    response = press(
        admin_client, page_of(draft), "Save the draft", definition=definition, notes=notes
    )
    assert response.status_code == 422
    assert_not_bare(response)
    assert f"<code>{field}</code>" in body(response)
    if "\x00" not in notes:
        assert f'value="{notes}"' in body(response)
    draft.refresh_from_db()
    assert draft.definition == before and draft.notes == ""


def with_nul(definition: dict) -> dict:
    """A valid definition but for a NUL inside one of its texts (jsonb cannot hold one)."""
    definition["types"]["position"]["overrides"] = [
        {"account": "ma\x00in", "absolute": "1", "relative": "0"}
    ]
    return definition


def test_a_preview_of_an_unknown_or_unfinished_run_is_said_in_the_preview(admin_client, draft):
    ids = demo_data.load()
    queued = runs.start_run(
        type="position",
        internal=Dataset.objects.get(pk=ids["book balances"]),
        external=Dataset.objects.get(pk=ids["kraken ledgers"]),
    )
    refused = 400  # run_refused: the caller asked for a run not finished
    odd = ("abc", "²", "9" * 30, "-1")  # "²" passed isdigit and made int() raise: a 500
    cases = ((queued.pk, refused), (999_999, 404), *((v, 404) for v in odd))
    for run_id, status in cases:
        response = admin_client.get(page_of(draft), {"preview_run": run_id})
        assert response.status_code == status, run_id
        assert_not_bare(response)
        assert "Edit the draft" in body(response)


# The API


def api(client, method, url, payload=None):
    return getattr(client, method)(
        url, json.dumps(payload) if payload is not None else None, content_type="application/json"
    )


def test_api_publish_saves_the_sent_definition_first(admin_client, draft):
    definition = json.loads(edited(draft))
    response = api(
        admin_client, "post", f"/api/rule-sets/versions/{draft.pk}/publish/",
        {"definition": definition, "notes": "tight"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["status"] == "published"
    draft.refresh_from_db()
    assert draft.definition == definition and draft.notes == "tight"


def test_api_publish_of_an_invalid_definition_publishes_nothing(admin_client, draft):
    before = copy.deepcopy(draft.definition)
    definition = json.loads(edited(draft, relative="lots"))
    response = api(
        admin_client, "post", f"/api/rule-sets/versions/{draft.pk}/publish/",
        {"definition": definition},
    )  # fmt: skip
    assert response.status_code == 400
    assert "types.position.relative" in response.json()["fields"]
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.definition == before


@pytest.mark.parametrize("action", ["put", "publish"])
def test_api_refuses_a_stale_fingerprint(admin_client, draft, make_user, action):
    read = admin_client.get(f"/api/rule-sets/versions/{draft.pk}/").json()
    theirs = json.loads(edited(draft, relative="0.002"))
    rule_sets.update_draft(draft, definition=theirs, by=make_user("admin"))
    payload = {"definition": json.loads(edited(draft)), "fingerprint": read["fingerprint"]}
    if action == "put":
        response = api(admin_client, "put", f"/api/rule-sets/versions/{draft.pk}/", payload)
    else:
        url = f"/api/rule-sets/versions/{draft.pk}/publish/"
        response = api(admin_client, "post", url, payload)
    assert response.status_code == 409
    assert response.json()["code"] == "draft_changed"
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.definition == theirs


def test_api_edit_without_notes_keeps_the_notes(admin_client, draft):
    rule_sets.update_draft(draft, definition=draft.definition, notes="keep me", by=None)
    response = api(
        admin_client, "put", f"/api/rule-sets/versions/{draft.pk}/",
        {"definition": json.loads(edited(draft))},
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["notes"] == "keep me"


def test_api_new_draft_while_one_exists_names_the_draft(admin_client, draft):
    default = RuleSet.objects.get(name="default")
    response = admin_client.post(f"/api/rule-sets/{default.pk}/drafts/")
    assert response.status_code == 409
    assert response.json()["code"] == "draft_exists"
    assert f"v{draft.number}" in response.json()["message"]


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "default"},
        {"name": ""},
        {"name": "x" * 101},
        {"name": "a\x00b"},
        {"name": "ok", "description": "a\x00b"},
    ],
)
def test_api_refused_new_rule_sets_answer_400_with_fields(admin_client, payload):
    response = api(admin_client, "post", "/api/rule-sets/", payload)
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "fields"} and response.json()["fields"]
    assert RuleSet.objects.count() == 1


def test_api_a_nul_inside_the_definition_is_refused(admin_client, draft):
    definition = with_nul(json.loads(edited(draft)))
    response = api(
        admin_client, "put", f"/api/rule-sets/versions/{draft.pk}/", {"definition": definition}
    )
    assert response.status_code == 400
    assert response.json()["fields"]


# Who may not edit, and comparisons that cannot be made


def test_a_risk_user_posting_an_edit_is_told_and_nothing_is_saved(client_as, draft):
    before = copy.deepcopy(draft.definition)
    response = client_as("risk").post(page_of(draft), {"definition": edited(draft), "notes": "x"})
    assert response.status_code == 403
    assert "nothing was saved" in body(response) and "<title>No access" in body(response)
    draft.refresh_from_db()
    assert draft.definition == before and draft.notes == ""


def _versions():
    published = RuleSetVersion.objects.filter(rule_set__name="default").first()
    return published.pk


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({}, {"old", "new"}),
        ({"old": "{v}"}, {"new"}),
        ({"old": "abc", "new": "{v}"}, {"old"}),
        ({"old": "{v}", "new": "-1"}, {"new"}),
        ({"old": "²", "new": "9" * 30}, {"old", "new"}),
    ],
)
def test_compare_without_two_version_ids_says_which_is_missing(client_as, query, named):
    query = {k: v.format(v=_versions()) for k, v in query.items()}
    page = client_as("risk").get("/rules/compare/", query)
    assert page.status_code == 400
    assert "Choose two rule set versions to compare" in body(page)
    api = client_as("risk").get("/api/rule-sets/compare/", query)
    assert api.status_code == 400 and set(api.json()["fields"]) == named


def test_compare_with_an_unknown_version_names_it(client_as):
    query = {"old": str(_versions()), "new": "987654"}
    page = client_as("risk").get("/rules/compare/", query)
    assert page.status_code == 404 and "No rule set version 987654." in body(page)
    assert client_as("risk").get("/api/rule-sets/compare/", query).status_code == 404
