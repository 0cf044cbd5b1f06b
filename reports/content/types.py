"""What a report says, as plain frozen data: the one contract between the content builder
(reports/content/builder.py) and the renderers (reports/renderers/), which only lay it out.

Amounts are exact `Decimal`s, times aware `datetime`s in UTC; nothing here is computed by a
renderer. The kinds a report holds by the hundred thousand (a break, a correction, a tally per
asset) are slotted dataclasses, not frozen ones: a frozen one costs a call per field to make,
a second per hundred thousand breaks; nothing changes them once the builder returns.

Every figure's definition is in docs/reports.md and travels with it (`Figure.definition`).
No Django here: the renderers and their tests need none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

Number = Decimal | int


@dataclass(frozen=True)
class Figure:
    """One figure, printed with what it means."""

    key: str  # stable name, e.g. "match_rate_count"
    label: str  # "Match rate (by count)"
    value: Number | None  # None: not defined for this scope (say why in `note`)
    unit: str  # "%", "breaks", "hours", "" or the reporting currency
    definition: str  # one sentence, as in docs/reports.md
    note: str = ""  # e.g. "no resolved breaks in scope"


@dataclass(slots=True)
class Tally:
    """Breaks grouped by one key (a severity, type, asset, source, field)."""

    key: str
    count: int
    value_rc: Decimal  # the sum of the breaks' absolute values in the reporting currency


@dataclass(slots=True)
class Exposure:
    """The value at risk of one asset: its open breaks, valued with the price shown."""

    asset: str
    breaks: int
    value_rc: Decimal
    price: Decimal | None  # in the reporting currency; None: no price known
    price_as_of: datetime | None
    stale: bool  # the price is older than the rule set version's staleness limit


@dataclass(frozen=True)
class Flag:
    """A recommendation or a regulatory flag, naming the figure and the threshold that raised it."""

    code: str  # e.g. "critical_open_past_cob"
    level: str  # "critical", "warning" or "info"
    text: str
    figure: str  # the Figure.key or measure it is about
    value: str  # the figure's value, as text
    threshold: str  # the threshold it crossed, as text (from settings: docs/reports.md)


@dataclass(frozen=True)
class Recurring:
    """A break seen by more than one run."""

    break_id: int
    since_run: int
    times_seen: int
    asset: str
    field: str
    severity: str


@dataclass(frozen=True)
class Patterns:
    most_frequent_field: Tally | None
    most_problematic_source: Tally | None
    by_hour: tuple[int, ...]  # 24 counts: breaks by the hour (UTC) they were first seen
    recurring: tuple[Recurring, ...]  # most sightings first


@dataclass(frozen=True)
class RunLine:
    id: int
    type: str
    status: str
    internal: str  # the book dataset, as shown in the product
    external: str
    rule_set_version: str
    as_of: datetime
    finished_at: datetime | None
    break_count: int | None
    match_count: int | None
    adjustment_count: int


@dataclass(slots=True)
class BreakLine:
    id: int
    run_id: int  # the run whose observation the values are
    type: str
    severity: str
    status: str  # now, at generation
    source: str
    account: str
    asset: str
    entity: str
    field: str
    internal_value: Decimal | None
    external_value: Decimal | None
    difference: Decimal | None
    value_rc: Decimal | None
    first_seen_at: datetime
    last_seen_at: datetime
    times_seen: int
    first_seen_run: int
    causes: tuple[str, ...]
    comment: str  # the latest comment, as its author wrote it ("" if none)
    resolved_at: datetime | None = None
    assigned: bool = False  # someone is assigned to work it


@dataclass(slots=True)
class CorrectionLine:
    id: int
    break_id: int
    run_id: int
    type: str
    asset: str
    target: str
    field: str
    operation: str
    original_value: Decimal | None
    corrected_value: Decimal | None
    delta: Decimal | None
    impact_rc: Decimal | None
    status: str
    origin: str
    automatic: bool  # approved by the rule set version's auto-correction limits
    policy_note: str
    reason: str
    created_by: str  # "system" for a run's proposal
    created_at: datetime
    approvers: tuple[str, ...]
    approved_at: datetime | None
    applied_at: datetime | None
    rolled_back_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: str


@dataclass(slots=True)
class CommentLine:
    break_id: int
    author: str
    created_at: datetime
    text: str


@dataclass(slots=True)
class AuditLine:
    sequence: int
    created_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    hash: str


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[Number, ...]  # one per category


@dataclass(frozen=True)
class Chart:
    """One chart, described once: the PDF (reportlab), HTML (SVG) and Excel (openpyxl) charts
    are all drawn from it."""

    key: str
    title: str
    kind: str  # "bar" (horizontal), "column" (vertical) or "pie"
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str = ""  # of the values: "breaks", or the reporting currency
    x_label: str = ""  # the categories' axis, whichever way the bars run
    y_label: str = ""  # the values' axis


@dataclass(frozen=True)
class ChainHead:
    sequence: int  # 0: the log is empty
    hash: str


@dataclass(frozen=True)
class Scope:
    kind: str  # "run" or "period"
    description: str  # e.g. "Run 12 (position), book main@kraken-book against main@kraken"
    run_id: int | None = None
    period_from: date | None = None
    period_to: date | None = None  # inclusive
    filters: dict[str, str] = field(default_factory=dict)  # source, type, account, severity
    runs: tuple[RunLine, ...] = ()


@dataclass(frozen=True)
class Summary:
    key_figures: tuple[Figure, ...]
    critical_issues: tuple[str, ...]
    top_recommendations: tuple[Flag, ...]
    regulatory_status: str  # e.g. "2 regulatory flags raised" or "No regulatory flag raised"


@dataclass(frozen=True)
class ReportContent:
    title: str
    generated_at: datetime
    generated_by: str
    reporting_currency: str
    scope: Scope
    rule_set_versions: tuple[str, ...]
    chain_head: ChainHead
    summary: Summary
    by_severity: tuple[Tally, ...]  # most severe first
    by_type: tuple[Tally, ...]
    by_asset: tuple[Tally, ...]  # most value first
    by_source: tuple[Tally, ...]
    value_at_risk: Decimal
    exposures: tuple[Exposure, ...]  # most value first
    patterns: Patterns
    performance: tuple[Figure, ...]
    recommendations: tuple[Flag, ...]
    regulatory_flags: tuple[Flag, ...]
    breaks: tuple[BreakLine, ...]  # most severe, then most value, first
    corrections: tuple[CorrectionLine, ...]
    comments: tuple[CommentLine, ...]
    audit: tuple[AuditLine, ...]
    charts: tuple[Chart, ...]
