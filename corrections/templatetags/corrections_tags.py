"""`{% break_corrections item %}`: a break's corrections and the form proposing one, on the
break's page; `{% run_corrections run %}`: a run's corrections by status, and applying or
rolling back all of them, on the run's page.

A template tag rather than the break view's context: reconciliation never imports the apps
built on it (the import contracts in pyproject), so the corrections app renders its own part
of the page, through its selectors.
"""

from django import template

from accounts.access import has_capability
from corrections import selectors
from corrections.models import Correction

register = template.Library()
# Break fields whose correction sets a text (corrections/targets.py): a side, a time, a fee asset.
TEXT_FIELDS = ("side", "executed_at", "fee_asset")


@register.inclusion_tag("corrections/_break_corrections.html", takes_context=True)
def break_corrections(context, item):
    user = context["request"].user
    if not has_capability(user, "view_corrections"):
        return {"shown": False}
    return {
        "shown": True,
        "item": item,
        "corrections": selectors.of_break(item),
        "propose_refusal": selectors.may_propose(user, item),
        "can_propose": has_capability(user, "propose_corrections"),
        "text_field": item.field in TEXT_FIELDS,
        "request": context["request"],
    }


@register.inclusion_tag("corrections/_run_corrections.html", takes_context=True)
def run_corrections(context, run):
    user = context["request"].user
    if not has_capability(user, "view_corrections"):
        return {"shown": False}
    counts = selectors.run_counts(run)
    stuck = selectors.ended_badly_proposals(run)
    return {
        "shown": any(counts.values()) or stuck is not None,
        "run": run,
        "stuck": stuck,
        "can_retry": has_capability(user, "propose_corrections"),
        "counts": [
            (status, Correction.Status(status).label.lower(), n)
            for status, n in counts.items()
            if n
        ],
        "approved": counts["approved"],
        "applied": counts["applied"],
        "can_decide": has_capability(user, "approve_corrections"),
        "request": context["request"],
    }
