"""Notifications (SPEC 7.2): who is told what, once, by e-mail and webhook.

Events: a run that ended with critical breaks or a threshold breach (per its rule set version's
`escalation`: reconciliation/engine/rule_definition.py), a run that failed, a run's corrections
waiting for approval, a report build that failed. Each event is ONE grouped message per
recipient (counts by severity, the top breaks with links, each breach with its figure and
threshold), never one per break or per correction.

Nobody is told twice: each message is a `Notification` row, unique per (event, step, channel,
recipient), inserted before anything is sent (a second insert of the same message does
nothing), then claimed by one conditional UPDATE (pending -> sending, committed) before it is
sent. A redelivered task, a second worker or a re-notified run finds the rows claimed or sent.
So delivery is at most once per message: a worker that dies mid-send leaves its row "sending"
(visible in the admin), never sent again. A send that fails (the mail server, a webhook
receiver's answer) is retried after OUTBOX_RETRY_DELAYS, as the corrections' outbox is, by the
task each workers' sweep sends, then given up ("failed"). Sent and given-up messages are
audited. Webhooks are signed with the endpoint's secrets as the outbox signs
(corrections/webhooks.py: Standard Webhooks, no redirects).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Abs
from django.urls import reverse
from django.utils import timezone

from accounts.access import holders_of
from audit import services as audit
from corrections import outbox, selectors, webhooks
from corrections.models import WebhookEndpoint
from notifications import task_queue
from notifications.models import Notification
from reconciliation.engine.rule_definition import NOTIFY_ROLES, SEVERITIES
from reconciliation.models import Break, BreakObservation, Run
from reports.models import Report

logger = logging.getLogger(__name__)

K, C, S = Notification.Kind, Notification.Channel, Notification.Status
RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
UNRESOLVED = (Break.Status.OPEN, Break.Status.INVESTIGATING)


def _link(name: str, *args, query: str = "") -> str:
    return f"{settings.SITE_URL}{reverse(name, args=args)}{query}"


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), ",f")


# --- Who --------------------------------------------------------------------------------------


def people(names) -> dict[str, object]:
    """{e-mail address (lower case): user or None} for escalation `notify` entries: a role's
    active holders, a username's active user, an e-mail address as given. Users without an
    e-mail address cannot be told (logged)."""
    users = get_user_model().objects.filter(is_active=True)
    found: dict[str, object] = {}
    for name in names:
        if "@" in name:
            found.setdefault(name.strip().lower(), None)
            continue
        if name in NOTIFY_ROLES:
            who = Q(groups__name=name) | (Q(is_superuser=True) if name == "admin" else Q(pk=None))
            matched = users.filter(who).distinct()
        else:
            matched = users.filter(username=name)
        listed = False
        for user in matched.order_by("username"):
            listed = True
            if user.email:
                found.setdefault(user.email.lower(), user)
            else:
                logger.warning("notifications: %s has no e-mail address to tell", user.username)
        if not listed:
            logger.warning("notifications: escalation names %r, who is nobody active", name)
    return found


def _endpoints(names) -> list[str]:
    wanted = sorted(set(names))
    known = set(WebhookEndpoint.objects.filter(name__in=wanted).values_list("name", flat=True))
    for name in sorted(set(wanted) - known):
        logger.warning("notifications: no webhook endpoint is named %r", name)
    return sorted(known)


# --- What -------------------------------------------------------------------------------------


def run_event(run: Run, rules: list[dict], *, unresolved_only: bool = False) -> dict | None:
    """The grouped event of a succeeded run for these escalation rules (None when none of them
    is triggered): counts by severity, value at risk, breaches, the top breaks with links.

    A severity rule is triggered by any break of that severity or above; a threshold breach is
    the run's value at risk (the sum of its breaks' absolute values in the reporting currency)
    above a rule's `value_at_risk_above`. A later step (`unresolved_only`) counts only breaks
    still open or being investigated."""
    seen = BreakObservation.objects.filter(run=run)
    if unresolved_only:
        seen = seen.filter(break_record__status__in=UNRESOLVED)
    # Grouped in the database: a large run sees hundreds of thousands of breaks.
    counts = {severity: 0 for severity in SEVERITIES}
    for row in seen.values("severity").annotate(n=Count("pk")).order_by():
        counts[row["severity"]] = row["n"]
    at_risk = seen.aggregate(total=Sum(Abs("value_rc")))["total"] or Decimal(0)
    present = [RANK[severity] for severity, n in counts.items() if n]
    currency = run.rule_set_version.definition.get("reporting_currency", "")
    triggered, breaches, lowest = [], [], None
    for rule in rules:
        if "severity" in rule:
            rank = RANK[rule["severity"]]
            if any(seen_rank >= rank for seen_rank in present):
                triggered.append(rule)
                lowest = rank if lowest is None else min(lowest, rank)
        elif at_risk > Decimal(str(rule["value_at_risk_above"])):
            triggered.append(rule)
            breaches.append({"figure": "value_at_risk", "value": format(at_risk, "f"),
                             "threshold": str(rule["value_at_risk_above"]),
                             "currency": currency})  # fmt: skip
    if not triggered:
        return None
    rank_of = Case(*(When(severity=s, then=Value(r)) for s, r in RANK.items()),
                   output_field=IntegerField())  # fmt: skip
    shown = (
        seen.filter(severity__in=[s for s, r in RANK.items() if lowest is None or r >= lowest])
        .annotate(rank=rank_of, size=Abs("value_rc"))
        .select_related("break_record")
        .order_by("-rank", F("size").desc(nulls_last=True), "break_record_id")
    )[: settings.NOTIFICATIONS_TOP_BREAKS]
    top = [
        {"break": o.break_record_id, "severity": o.severity, "type": o.break_record.type,
         "account": o.break_record.account, "asset": o.break_record.asset,
         "field": o.break_record.field,
         "value_rc": None if o.value_rc is None else format(o.value_rc, "f"),
         "url": _link("breaks:detail", o.break_record_id)}
        for o in shown
    ]  # fmt: skip
    return {
        "run": run.pk, "run_type": run.type, "url": _link("runs:detail", run.pk),
        "counts": counts, "break_count": sum(counts.values()),
        "value_at_risk": format(at_risk, "f"),
        "reporting_currency": currency, "breaches": breaches, "top_breaks": top,
        "unresolved_only": unresolved_only, "rules": triggered,
    }  # fmt: skip


def _run_text(event: dict) -> tuple[str, str]:
    counts = ", ".join(f"{n} {s}" for s, n in reversed(event["counts"].items()) if n)
    title = f"Run {event['run']} ({event['run_type']}): {counts or 'no breaks'}"
    if event["breaches"]:
        title += " - threshold breached"
    lines = [f"Run {event['run']} ({event['run_type']}) ended with {event['break_count']} breaks"
             + (" still unresolved" if event["unresolved_only"] else "") + f": {counts}.",
             f"Value at risk: {_money(Decimal(event['value_at_risk']))} "
             f"{event['reporting_currency']}.", ""]  # fmt: skip
    for breach in event["breaches"]:
        lines.append(f"Threshold breached: value at risk {_money(Decimal(breach['value']))} "
                     f"{breach['currency']} is above {_money(Decimal(breach['threshold']))} "
                     f"{breach['currency']}.")  # fmt: skip
    if event["top_breaks"]:
        lines += ["", f"Top {len(event['top_breaks'])} breaks:"]
    for brk in event["top_breaks"]:
        value = "" if brk["value_rc"] is None else f", {_money(Decimal(brk['value_rc']))}"
        lines.append(f"- {brk['severity']}: {brk['account']} {brk['asset']} {brk['field']}"
                     f"{value} {event['reporting_currency']}  {brk['url']}")  # fmt: skip
    lines += ["", f"The run: {event['url']}"]
    return title[:300], "\n".join(lines) + "\n"


# --- Events -----------------------------------------------------------------------------------


def notify_run(run_id: int, *, step: int = 0) -> dict:
    """Tell of a run's end the escalation step `step` (minutes after it) names; at step 0 the
    later steps are queued. A failed run is told at once to everyone its escalation names."""
    run = Run.objects.select_related("rule_set_version", "created_by").filter(pk=run_id).first()
    if run is None or run.status not in (Run.Status.SUCCEEDED, Run.Status.FAILED):
        return {"skipped": True}
    escalation = run.rule_set_version.definition.get("escalation", []) or []
    if run.status == Run.Status.FAILED:
        if step:
            return {"skipped": True}
        names = {n for rule in escalation for n in rule.get("notify", [])}
        recipients = people(sorted(names))
        if run.created_by and run.created_by.is_active and run.created_by.email:
            recipients.setdefault(run.created_by.email.lower(), run.created_by)
        hooks = _endpoints(h for rule in escalation for h in rule.get("webhooks", []))
        event = {"run": run.pk, "run_type": run.type, "url": _link("runs:detail", run.pk),
                 "message": run.message}  # fmt: skip
        title = f"Run {run.pk} ({run.type}) failed"
        body = f"{title}: {run.message or 'no reason recorded'}\n\nThe run: {event['url']}\n"
        return tell(K.RUN_FAILED, "run", run.pk, 0, recipients, hooks, title, body, event)
    if step == 0:
        for later in sorted({rule.get("after_minutes", 0) for rule in escalation} - {0}):
            task_queue.run_ended(run.pk, later)
    rules = [rule for rule in escalation if rule.get("after_minutes", 0) == step]
    event = run_event(run, rules, unresolved_only=step > 0) if rules else None
    if event is None:
        return {"sent": 0}
    recipients = people(sorted({n for rule in event["rules"] for n in rule.get("notify", [])}))
    hooks = _endpoints(h for rule in event["rules"] for h in rule.get("webhooks", []))
    title, body = _run_text(event)
    return tell(K.RUN_BREAKS, "run", run.pk, step, recipients, hooks, title, body, event)


def notify_approvals(run_id: int) -> dict:
    """Tell each person who may approve some of a run's pending corrections, once, of all of
    them (not the proposer of a correction, nor who approved it already: four eyes)."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        return {"skipped": True}
    sent = 0
    queue = _link("corrections:queue", query=f"?mine=to_approve&run={run_id}")
    for user in holders_of("approve_corrections").exclude(email=""):
        waiting = selectors.corrections({"mine": "to_approve", "run": run_id}, user=user)
        count = waiting.count()
        if not count:
            continue
        top = list(waiting.order_by("-impact_rc", "id")[: settings.NOTIFICATIONS_TOP_BREAKS])
        event = {"run": run_id, "run_type": run.type, "waiting": count, "url": queue,
                 "corrections": [
                     {"correction": c.pk, "target": c.target, "asset": c.asset,
                      "impact_rc": None if c.impact_rc is None else format(c.impact_rc, "f"),
                      "approvals_required": c.approvals_required,
                      "url": _link("corrections:detail", c.pk)} for c in top]}  # fmt: skip
        title = f"{count} corrections of run {run_id} wait for your approval"
        lines = [f"{title}:", ""]
        lines += [f"- {c['target']} {c['asset']}: impact {c['impact_rc']}  {c['url']}"
                  for c in event["corrections"]]  # fmt: skip
        body = "\n".join([*lines, "", f"All of them: {queue}", ""])
        sent += tell(K.APPROVALS, "run", run_id, 0, {user.email.lower(): user}, [], title, body,
                     event)["sent"]  # fmt: skip
    return {"sent": sent}


def notify_report_failed(report_id: int) -> dict:
    """Tell whoever asked for a failed report (a pack's report: who made the pack), once."""
    report = (
        Report.objects.select_related("requested_by", "pack_delivery__pack__created_by")
        .filter(pk=report_id, status=Report.Status.FAILED)
        .first()
    )
    if report is None:
        return {"skipped": True}
    who = report.requested_by
    if who is None and report.pack_delivery_id:
        who = report.pack_delivery.pack.created_by
    recipients = {who.email.lower(): who} if who and who.is_active and who.email else {}
    url = _link("reports:detail", report.pk)
    event = {"report": report.pk, "format": report.format, "message": report.message, "url": url}
    title = f"Report {report.pk} ({report.format}) could not be built"
    body = f"{title}: {report.message}\n\nThe report: {url}\n"
    return tell(K.REPORT_FAILED, "report", report.pk, 0, recipients, [], title, body, event)


# --- Sending ----------------------------------------------------------------------------------


def tell(kind: str, subject_type: str, subject_id: int, step: int, recipients: dict,
         hooks: list[str], title: str, body: str, event: dict) -> dict:  # fmt: skip
    """Record one message per recipient and endpoint (those recorded before stay as they are),
    then send those still pending; what was sent now."""
    now = timezone.now()
    event_id = f"ntf_{kind}_{subject_type}_{subject_id}_{step}"
    message = {"type": f"notification.{kind}", "timestamp": now.isoformat(), "data": event}
    rows = [
        Notification(kind=kind, subject_type=subject_type, subject_id=subject_id, step=step,
                     channel=channel, recipient=recipient, user=user, event_id=event_id,
                     title=title, body=body, payload=message, next_attempt_at=now,
                     created_at=now)
        for channel, recipient, user in [
            *((C.EMAIL, address, user) for address, user in recipients.items()),
            *((C.WEBHOOK, name, None) for name in hooks),
        ]
    ]  # fmt: skip
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    pending = Notification.objects.filter(
        kind=kind, subject_type=subject_type, subject_id=subject_id, step=step, status=S.PENDING
    ).values_list("pk", flat=True)
    sent = sum(1 for pk in list(pending) if attempt(pk) == S.SENT)
    return {"sent": sent}


def send_due(*, limit: int = 200) -> dict:
    """Send the messages due (new ones a task has not sent, failed ones whose retry is due)."""
    due = (
        Notification.objects.filter(
            status__in=[S.PENDING, S.RETRYING], next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    outcomes = [attempt(pk) for pk in list(due)]
    return {"sent": outcomes.count(S.SENT), "retrying": outcomes.count(S.RETRYING),
            "failed": outcomes.count(S.FAILED)}  # fmt: skip


def attempt(pk: int) -> str | None:
    """Claim one due message (committed before sending: nobody else sends it), send it, and
    record what came of it; its status, or None when someone else holds or sent it."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=pk, status__in=[S.PENDING, S.RETRYING], next_attempt_at__lte=now
    ).update(status=S.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return None
    row = Notification.objects.get(pk=pk)
    try:
        error = _email(row) if row.channel == C.EMAIL else _webhook(row)
    except Exception as failure:  # the mail server, the network: recorded and retried
        logger.exception("notification %s to %s: sending failed", row.pk, row.recipient)
        error = f"{type(failure).__name__}: {failure}"
    row.last_error = error[:500]
    delays = settings.OUTBOX_RETRY_DELAYS
    if not error:
        row.status, row.sent_at = S.SENT, timezone.now()
    elif row.attempts > len(delays):
        row.status = S.FAILED
    else:
        row.status = S.RETRYING
        row.next_attempt_at = timezone.now() + timedelta(seconds=delays[row.attempts - 1])
    with transaction.atomic():
        row.save(update_fields=["status", "sent_at", "last_error", "next_attempt_at"])
        if row.status in (S.SENT, S.FAILED):
            audit.record(action=f"notification.{row.status}", object_type="notification",
                         object_id=row.pk, after={
                             "kind": row.kind, "channel": row.channel, "recipient": row.recipient,
                             "subject": f"{row.subject_type} {row.subject_id}", "step": row.step,
                             "title": row.title, "attempts": row.attempts,
                             "error": row.last_error})  # fmt: skip
    return row.status


def _email(row: Notification) -> str:
    EmailMessage(subject=f"[Recondesk] {row.title}", body=row.body,
                 from_email=settings.DEFAULT_FROM_EMAIL, to=[row.recipient]).send()  # fmt: skip
    return ""


def _webhook(row: Notification) -> str:
    endpoint = WebhookEndpoint.objects.filter(name=row.recipient).first()
    if endpoint is None or not endpoint.enabled:
        return f"webhook endpoint {row.recipient!r} is missing or disabled"
    outcome = webhooks.send(
        endpoint.url, msg_id=row.event_id, body=webhooks.body_of(row.payload),
        signing_secrets=outbox.active_secrets(endpoint), timeout=settings.OUTBOX_HTTP_TIMEOUT,
    )  # fmt: skip
    if outcome.delivered:
        return ""
    return f"HTTP {outcome.status}: {outcome.error}" if outcome.status else outcome.error
