"""apply_corrections and roll_back_corrections: acting as a named user who must be allowed,
saying what they did, and clear errors (exit code 1) that change nothing."""

from io import StringIO

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from corrections import services
from corrections.models import Correction
from tests.corrections.proposed import propose_all, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(make_user):
    proposed = propose_all(make_user)
    first, second = make_user("risk", username="ann"), make_user("risk", username="bob")
    for correction in (proposed.one, *proposed.two):
        services.approve(correction, by=first)
    for correction in proposed.two:
        services.approve(correction, by=second)
    return proposed


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_runs_approved_corrections_are_applied_and_rolled_back(approved):
    run = approved.run.pk
    out = _run("apply_corrections", "--run", str(run), "--as", "ann")
    assert f"Run {run}: 3 corrections applied by ann; 4 applied, 0 pending" in out
    assert Correction.objects.filter(status="applied").count() == 4
    out = _run("roll_back_corrections", "--run", str(run), "--reason", "bad feed", "--as", "bob")
    assert f"Run {run}: 4 corrections rolled back by bob; 4 rolled back, 0 still applied" in out
    assert _run("apply_corrections", "--run", str(run), "--as", "ann").startswith(
        f"Run {run}: 0 corrections applied"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "nobody-here"], "No active user 'nobody-here'"),
        (["--as", "finn"], "finn may not apply or roll back corrections"),
        (["--as", "adam"], "adam may not apply or roll back corrections"),
    ],
)
def test_only_someone_allowed_applies(make_user, approved, args, message):
    make_user("finance", username="finn")
    make_user("admin", username="adam")
    before = state()
    with pytest.raises(CommandError, match=message):
        _run("apply_corrections", "--run", str(approved.run.pk), *args)
    with pytest.raises(CommandError, match=message):
        _run("roll_back_corrections", "--run", str(approved.run.pk), "--reason", "x", *args)
    assert state() == before


def test_a_missing_run_and_an_empty_reason_are_clear_errors(approved):
    _run("apply_corrections", "--run", str(approved.run.pk), "--as", "ann")
    before = state()
    with pytest.raises(CommandError, match="No run 999999"):
        _run("apply_corrections", "--run", "999999", "--as", "ann")
    with pytest.raises(CommandError, match="Say why it is rolled back"):
        _run("roll_back_corrections", "--run", str(approved.run.pk), "--reason", " ", "--as", "ann")
    assert state() == before


def test_an_error_exits_non_zero_from_the_command_line(approved, capsys):
    command = load_command_class("corrections", "apply_corrections")
    argv = ["manage.py", "apply_corrections", "--run", str(approved.run.pk), "--as", "nobody"]
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(argv)  # last: it closes the database connection
    assert exited.value.code == 1
    assert "CommandError: No active user 'nobody'" in capsys.readouterr().err


def test_the_arguments_are_required():
    for name in ("apply_corrections", "roll_back_corrections"):
        with pytest.raises(CommandError, match="--run"):
            call_command(name)
