"""Django admin writes sources, accounts and asset aliases through the audited services."""

import pytest

from audit.models import AuditEvent
from reconciliation.models import Account, AssetAlias, Source

pytestmark = pytest.mark.django_db


def entries(object_type):
    return list(AuditEvent.objects.filter(object_type=object_type).order_by("sequence"))


def test_an_alias_edited_in_the_admin_is_in_the_audit_log(admin_client, admin_user):
    alias = AssetAlias.objects.create(exchange="kraken", code="ZZQ", asset="BTC")
    response = admin_client.post(
        f"/admin/reconciliation/assetalias/{alias.pk}/change/",
        {"exchange": "kraken", "code": "zzq", "asset": "XBT"},
    )
    assert response.status_code == 302, response.content
    alias.refresh_from_db()
    assert alias.asset == "XBT"
    [entry] = entries("asset_alias")
    assert entry.action == "asset_alias.saved" and entry.actor_id == admin_user.pk
    assert entry.before["asset"] == "BTC" and entry.after["asset"] == "XBT"


def test_a_source_and_an_account_made_and_changed_in_the_admin_are_audited(admin_client):
    source_form = {"code": "desk", "name": "Desk", "kind": "internal", "exchange": ""}
    assert admin_client.post("/admin/reconciliation/source/add/", source_form).status_code == 302
    source = Source.objects.get(code="desk")
    page = f"/admin/reconciliation/source/{source.pk}/change/"
    assert admin_client.post(page, {**source_form, "name": "The desk"}).status_code == 302
    assert [e.action for e in entries("source")] == ["source.created", "source.changed"]
    assert entries("source")[1].before["name"] == "Desk"

    account_form = {"source": source.pk, "code": "main", "name": "", "is_active": "on"}
    response = admin_client.post("/admin/reconciliation/account/add/", account_form)
    assert response.status_code == 302, response.content
    account = Account.objects.get(source=source, code="main")
    page = f"/admin/reconciliation/account/{account.pk}/change/"
    assert admin_client.post(page, {**account_form, "name": "Main"}).status_code == 302
    assert [e.action for e in entries("account")] == ["account.created", "account.changed"]
    assert entries("account")[1].after["name"] == "Main"


def test_a_bulk_delete_through_the_admin_action_is_audited_row_by_row(admin_client):
    aliases = [AssetAlias.objects.create(exchange="", code=c, asset="BTC") for c in ("ZZA", "ZZB")]
    response = admin_client.post(
        "/admin/reconciliation/assetalias/",
        {"action": "delete_selected", "_selected_action": [a.pk for a in aliases], "post": "yes"},
    )
    assert response.status_code == 302
    assert not AssetAlias.objects.filter(code__in=["ZZA", "ZZB"]).exists()
    deleted = entries("asset_alias")
    assert [e.action for e in deleted] == ["asset_alias.deleted"] * 2
    assert {e.before["code"] for e in deleted} == {"ZZA", "ZZB"}


def test_an_alias_the_service_refuses_is_said_on_the_admin_form(admin_client):
    response = admin_client.post(
        "/admin/reconciliation/assetalias/add/", {"exchange": "", "code": "bad code!", "asset": "X"}
    )
    assert response.status_code == 200
    assert "Not an asset code" in response.content.decode()
    assert not AssetAlias.objects.filter(asset="X").exists() and not entries("asset_alias")
