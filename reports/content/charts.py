"""The report's charts, each described once (types.Chart): the PDF, HTML and Excel renderers
draw them from these descriptions."""

from __future__ import annotations

from reports.content import types as t

TOP_ASSETS = 10


def charts(*, by_severity: tuple[t.Tally, ...], by_type: tuple[t.Tally, ...],
           exposures: tuple[t.Exposure, ...], by_hour: tuple[int, ...],
           currency: str) -> tuple[t.Chart, ...]:  # fmt: skip
    """Breaks by severity and by type, value at risk of the top assets, breaks by hour; a chart
    with nothing to show is left out."""
    found = []
    if any(x.count for x in by_severity):
        found.append(t.Chart(
            "by_severity", "Breaks by severity", "column", tuple(x.key for x in by_severity),
            (t.Series("Breaks", tuple(x.count for x in by_severity)),), "breaks",
            x_label="Severity", y_label="Breaks",
        ))  # fmt: skip
    if by_type:
        found.append(t.Chart(
            "by_type", "Breaks by type", "pie", tuple(x.key for x in by_type),
            (t.Series("Breaks", tuple(x.count for x in by_type)),), "breaks",
        ))  # fmt: skip
    top = [x for x in exposures if x.value_rc][:TOP_ASSETS]
    if top:
        found.append(t.Chart(
            "value_at_risk_by_asset", f"Value at risk by asset (top {len(top)})", "bar",
            tuple(x.asset for x in top), (t.Series(currency, tuple(x.value_rc for x in top)),),
            currency, x_label="Asset", y_label=currency,
        ))  # fmt: skip
    if any(by_hour):
        found.append(t.Chart(
            "by_hour", "Breaks by hour first seen (UTC)", "column",
            tuple(f"{hour:02d}" for hour in range(24)), (t.Series("Breaks", by_hour),), "breaks",
            x_label="Hour (UTC)", y_label="Breaks",
        ))  # fmt: skip
    return tuple(found)
