"""Which renderer lays out a format, and how its file is named and served."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reports.content.types import ReportContent


@dataclass(frozen=True)
class Rendering:
    module: str  # under reports.renderers, with `render(content, out)`
    extension: str
    content_type: str


RENDERINGS = {
    "pdf": Rendering("pdf", "pdf", "application/pdf"),
    "xlsx": Rendering(
        "xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
    "html": Rendering("html", "html", "text/html; charset=utf-8"),
    "csv": Rendering("csv_report", "csv", "text/csv; charset=utf-8"),
    "json": Rendering("json_report", "json", "application/json"),
}


def render(format_: str, content: ReportContent, out: BinaryIO) -> None:
    """Lay the content out in the format into `out` (renderers are imported when first used:
    a web process that never builds a PDF never loads reportlab)."""
    module = importlib.import_module(f"reports.renderers.{RENDERINGS[format_].module}")
    module.render(content, out)


def measure(path: Path) -> tuple[int, str]:
    """A written file's size and SHA-256 (read back: what is stored is what is measured)."""
    digest = hashlib.sha256()
    with path.open("rb") as written:
        while chunk := written.read(1 << 20):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()
