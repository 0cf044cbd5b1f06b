"""JSON numbers are one rule on every door: API rows and `.json` files through import_dataset.

Numbers keep the digits as written (never through a binary float); an exponent is refused on
both paths, as the file importer refuses it ("not a plain decimal number (... no exponent)").
"""

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from reconciliation.models import Dataset

pytestmark = pytest.mark.django_db

PLAIN = ["1000.5", "0.1", "12345678901234567.89", "0.000000000000000001", "-2.50", "7"]
EXPONENTS = ["1e3", "1E3", "1.5e1", "2.5E-3", "1e+2", "-1e0"]


def body_with(number: str) -> str:
    """A balances row whose quantity is the JSON number `number`, written as it is given."""
    row = {"account": "main", "asset": "BTC", "quantity": "Q", "as_of": "2026-01-01T00:00:00Z"}
    return json.dumps([row]).replace('"Q"', number)


def post_rows(make_user, number: str):
    client = APIClient()
    client.force_authenticate(make_user("admin"))
    text = body_with(number)
    payload = (
        f'{{"source": "book", "account": "main", "format": "generic-balances", "rows": {text}}}'
    )
    return client.post("/api/datasets/", payload, content_type="application/json"), client


def import_file(tmp_path, number: str):
    path = tmp_path / "balances.json"
    path.write_text(body_with(number))
    call_command("import_dataset", "--source", "book", "--account", "main",
                 "--format", "generic-balances", str(path), "--json")  # fmt: skip


@pytest.mark.parametrize("number", EXPONENTS)
def test_an_exponent_is_refused_through_the_api_as_in_a_file(
    number, make_user, book, tmp_path, capsys
):
    with pytest.raises(CommandError, match="nothing was loaded"):
        import_file(tmp_path, number)
    refused = capsys.readouterr().err
    assert f"value '{number}': not a plain decimal number" in refused and "no exponent" in refused
    response, _ = post_rows(make_user, number)
    assert response.status_code == 422, response.json()
    errors = response.json()["fields"]["errors"]
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [(1, "quantity", number)]
    assert "no exponent" in errors[0]["reason"]
    assert Dataset.objects.count() == 0


@pytest.mark.parametrize("number", PLAIN)
def test_a_plain_number_is_stored_exactly_on_both_paths(number, make_user, book, tmp_path, capsys):
    import_file(tmp_path, number)
    from_file = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dataset_id"]
    response, client = post_rows(make_user, number)
    assert response.status_code in (200, 201), response.json()
    from_api = response.json()["dataset"]["id"]
    stored = [
        client.get(f"/api/datasets/{pk}/records/").json()["results"][0]["quantity"]
        for pk in (from_file, from_api)
    ]
    assert stored[0] == stored[1] and Decimal(stored[0]) == Decimal(number)
