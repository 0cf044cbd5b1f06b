"""Storing a run's results: breaks (identity across runs), observations, matches, in one go.

All in one transaction, which first locks the run and checks it is running and not yet stored,
so a redelivered task stores nothing twice. Breaks are staged with COPY into a temporary table
and merged with one INSERT ... ON CONFLICT, which also writes this run's observation of each: a
break seen before keeps its identity, status, assignee and comments, and counts one more
sighting; a break of the same type and accounts not seen in this run is resolved; a resolved
break seen again is open again.

A whole run's matches are written meanwhile on a connection of their own (a million matches
are a second of work that need not wait for the breaks) and committed before the breaks: the
store waits for them before it marks the run stored, and a run that fails after they were
committed keeps none (run_execution.finish deletes them, as it does for the parts of a split run).
"""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import Future, ThreadPoolExecutor

import polars as pl
from django.db import connection, connections, transaction
from django.utils import timezone

from audit import services as audit
from reconciliation.engine.types import RunCancelled, RunOver, RunResult
from reconciliation.models import Run
from reconciliation.runs import match_store

STAGED = [
    "identity", "break_key", "account", "asset", "entity", "field", "internal_value",
    "external_value", "difference", "difference_pct", "value_rc", "severity", "causes",
    "suggested_value", "details",
]  # fmt: skip


# Each merged break's observation by this run, from the ids the merge returns (no second
# lookup of 125,000 identities); the statement answers how many breaks are new.
OBSERVE = """
, observed AS (
INSERT INTO reconciliation_breakobservation (
    run_id, break_record_id, internal_value, external_value, difference, value_rc, severity)
SELECT %(run)s, m.id, s.internal_value, s.external_value, s.difference, s.value_rc, s.severity
FROM merged m JOIN staged_breaks s ON s.identity = m.identity
ON CONFLICT DO NOTHING)
SELECT count(*) FILTER (WHERE inserted) FROM merged
"""

MERGE = (
    """
WITH merged AS (
INSERT INTO reconciliation_break (
    identity, type, break_key, internal_account_id, external_account_id, account, asset, entity,
    field, status, accepted_reason, first_seen_run_id, last_seen_run_id, first_seen_at,
    last_seen_at, times_seen, internal_value, external_value, difference, difference_pct,
    value_rc, severity, causes, suggested_value, details)
SELECT s.identity, %(type)s, s.break_key, %(internal)s, %(external)s, s.account, s.asset,
    s.entity, s.field, 'open', '', %(run)s, %(run)s, %(now)s, %(now)s, 1, s.internal_value,
    s.external_value, s.difference, s.difference_pct, s.value_rc, s.severity, s.causes,
    s.suggested_value, s.details
FROM staged_breaks s
ON CONFLICT (identity) DO UPDATE SET
    last_seen_run_id = EXCLUDED.last_seen_run_id,
    last_seen_at = EXCLUDED.last_seen_at,
    times_seen = reconciliation_break.times_seen + 1,
    internal_value = EXCLUDED.internal_value,
    external_value = EXCLUDED.external_value,
    difference = EXCLUDED.difference,
    difference_pct = EXCLUDED.difference_pct,
    value_rc = EXCLUDED.value_rc,
    severity = EXCLUDED.severity,
    causes = EXCLUDED.causes,
    suggested_value = EXCLUDED.suggested_value,
    details = EXCLUDED.details,
    status = CASE WHEN reconciliation_break.status = 'resolved' THEN 'open'
                  ELSE reconciliation_break.status END,
    resolved_at = CASE WHEN reconciliation_break.status = 'resolved' THEN NULL
                       ELSE reconciliation_break.resolved_at END
RETURNING id, identity, (xmax = 0) AS inserted)
"""
    + OBSERVE
)

# A run of older data than a run already stored (re-running last month, say) adds to the history
# but decides nothing about today: it changes no status and no latest values, and a difference
# only it sees is recorded as resolved, since the newer run did not see it.
MERGE_OLDER = (
    """
WITH merged AS (
INSERT INTO reconciliation_break (
    identity, type, break_key, internal_account_id, external_account_id, account, asset, entity,
    field, status, accepted_reason, first_seen_run_id, last_seen_run_id, first_seen_at,
    last_seen_at, times_seen, resolved_at, internal_value, external_value, difference,
    difference_pct, value_rc, severity, causes, suggested_value, details)
SELECT s.identity, %(type)s, s.break_key, %(internal)s, %(external)s, s.account, s.asset,
    s.entity, s.field, 'resolved', '', %(run)s, %(run)s, %(now)s, %(now)s, 1, %(now)s,
    s.internal_value, s.external_value, s.difference, s.difference_pct, s.value_rc, s.severity,
    s.causes, s.suggested_value, s.details
FROM staged_breaks s
ON CONFLICT (identity) DO UPDATE SET times_seen = reconciliation_break.times_seen + 1
RETURNING id, identity, (xmax = 0) AS inserted)
"""
    + OBSERVE
)


RESOLVE = """
UPDATE reconciliation_break SET status = 'resolved', resolved_at = %(now)s
WHERE type = %(type)s AND internal_account_id = %(internal)s
  AND external_account_id = %(external)s AND status IN ('open', 'investigating')
  AND last_seen_run_id <> %(run)s
"""


def _json_list(column: str) -> pl.Expr:
    """A list of strings as a JSON array, escaped (ids are free text in the generic format)."""
    escaped = pl.col(column).list.eval(
        pl.element()
        .cast(pl.String)
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all('"', '\\"', literal=True)
        .str.replace_all(r"[\x00-\x1f]", " ")
    )
    return (
        pl.when(escaped.list.len() == 0)
        .then(pl.lit("[]"))
        .otherwise(pl.lit('["') + escaped.list.join('","') + pl.lit('"]'))
    )


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="", quote_style="non_numeric")
    return buffer.getvalue()


def _identities(keys: pl.Series, scope: str) -> pl.Series:
    """Each break's identity across runs: sha256 of "type|internal account|external account|key".

    Hashed here once (100,000 keys take about 0.1 s) rather than twice in SQL (merge, observe).
    """
    values = [hashlib.sha256(f"{scope}|{key}".encode()).hexdigest() for key in keys.to_list()]
    return pl.Series("identity", values, dtype=pl.String)


def _staged(breaks: pl.DataFrame, scope: str) -> pl.DataFrame:
    unique = breaks.unique(subset=["break_key"], keep="first", maintain_order=True)
    return (
        unique.with_columns(_identities(unique.get_column("break_key"), scope))
        .with_columns(pl.col("causes").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .with_columns(causes=_json_list("causes"), details=pl.col("details").fill_null("{}"))
        .select(STAGED)
    )


def _copy(cursor, sql: str, frame: pl.DataFrame) -> None:
    with cursor.cursor.copy(sql) as copy:
        for start in range(0, frame.height, 100_000):
            copy.write(_csv(frame.slice(start, 100_000)))


def store_results(
    run: Run,
    result: RunResult,
    *,
    engine_ms: int,
    match_count: int | None = None,
    held: dict | None = None,
) -> bool:
    """Store everything the run found, once; False if it was already stored or is not running.

    `match_count`: matches already stored by the parts of a split run (result.matches is None).
    `held`: the claim of the delivery storing (e.g. {"deliveries": 2}); nothing is stored once
    the run no longer has it (a later delivery took over).
    """
    # Inside a caller's transaction (a test) another connection would not see the run.
    if result.matches is None or connection.in_atomic_block:
        return _store(run, result, engine_ms, match_count, None, held or {})
    with ThreadPoolExecutor(max_workers=1) as pool:  # left only once the matches are done
        return _store(run, result, engine_ms, match_count, pool, held or {})


def _store(
    run: Run,
    result: RunResult,
    engine_ms: int,
    match_count: int | None,
    pool: ThreadPoolExecutor | None,
    held: dict,
) -> bool:
    now = timezone.now()
    params = {
        "type": run.type,
        "internal": run.internal_dataset.account_id,
        "external": run.external_dataset.account_id,
        "run": run.pk,
        "now": now,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # FOR NO KEY UPDATE: the matches' connection takes FOR KEY SHARE (run_execution.finish,
        # which deletes the matches of a run that failed, takes FOR UPDATE and waits for them).
        locked = (
            Run.objects.select_for_update(no_key=True)
            .filter(pk=run.pk, status=Run.Status.RUNNING, break_count__isnull=True, **held)
            .values_list("cancel_requested", flat=True)
            .first()
        )
        if locked is None:
            return False
        if locked:  # asked while the breaks were being computed: nothing is stored
            raise RunCancelled
        matches_stored = None
        if pool is not None:
            matches_stored = pool.submit(_store_matches_beside, run.pk, result.matches)
        # Dropped explicitly too: ON COMMIT only fires at the outermost commit.
        cursor.execute("DROP TABLE IF EXISTS staged_breaks")
        cursor.execute(
            "CREATE TEMP TABLE staged_breaks (identity text, break_key text, account text, "
            "asset text, "
            "entity text, field text, internal_value numeric, external_value numeric, "
            "difference numeric, difference_pct numeric, value_rc numeric, severity text, "
            "causes jsonb, suggested_value numeric, details jsonb) ON COMMIT DROP"
        )
        scope = f"{run.type}|{params['internal']}|{params['external']}"
        staged = _staged(result.breaks, scope)
        _copy(cursor, f"COPY staged_breaks ({', '.join(STAGED)}) FROM STDIN (FORMAT csv)", staged)
        newest = not _newer_run_exists(run)
        cursor.execute(MERGE if newest else MERGE_OLDER, params)
        inserted = cursor.fetchone()[0]
        resolved = 0
        if newest:
            cursor.execute(RESOLVE, params)
            resolved = cursor.rowcount
        cursor.execute("DROP TABLE staged_breaks")
        matches = match_count
        if matches_stored is not None:
            matches = _stored_count(matches_stored)
        elif result.matches is not None:
            matches = match_store.store(cursor, run.pk, 0, result.matches)
        by_severity = staged.group_by("severity").len().sort("severity").rows()
        Run.objects.filter(pk=run.pk).update(
            break_count=staged.height,
            match_count=matches,
            by_severity={severity: count for severity, count in by_severity},
            engine_ms=engine_ms,
        )
        audit.record(
            action="run.breaks_stored", object_type="run", object_id=run.pk,
            after={"breaks": staged.height, "new": inserted,
                   "seen_again": staged.height - inserted, "resolved": resolved,
                   "matches": matches},
        )  # fmt: skip
    return True


def _store_matches_beside(run_id: int, matches: pl.DataFrame) -> int | None:
    """Store a whole run's matches in a transaction of their own; None if the run is over."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT status = 'running' AND break_count IS NULL FROM reconciliation_run "
                "WHERE id = %s FOR KEY SHARE",
                [run_id],
            )
            unstored = cursor.fetchone()
            if not (unstored and unstored[0]):
                return None
            match_store.delete(cursor, run_id)  # left by a delivery whose worker died
            return match_store.store(cursor, run_id, 0, matches)
    finally:
        connections.close_all()  # this thread's connection, not the caller's


def _stored_count(matches_stored: Future) -> int:
    stored = matches_stored.result()  # an error there rolls the breaks back too
    if stored is None:  # the run ended meanwhile: it cannot while we hold it, but never store
        raise RunOver
    return stored


def _newer_run_exists(run: Run) -> bool:
    """Whether a stored run of the same type and accounts reconciled later data."""
    return Run.objects.filter(
        type=run.type,
        status=Run.Status.SUCCEEDED,
        internal_dataset__account_id=run.internal_dataset.account_id,
        external_dataset__account_id=run.external_dataset.account_id,
        as_of__gt=run.as_of,
    ).exists()
