"""A validation report as one self-contained HTML page (no scripts, no external files)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2

from dockyard.validation.results import ValidationReport

MAX_ROWS = 50
"""Rows shown per table; the JSON report has them all."""

_env = jinja2.Environment(loader=jinja2.PackageLoader("dockyard.ui", "templates"),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows[:MAX_ROWS] for key in row))


def render(report: ValidationReport) -> str:
    """The report as HTML: the policy's verdict, then each check's summary, metrics,
    tables (at most :data:`MAX_ROWS` rows each) and figures."""
    created = (dt.datetime.fromtimestamp(report.created / 1000, dt.timezone.utc)
               .strftime("%Y-%m-%d %H:%M UTC") if report.created else "")
    return _env.get_template("validation_report.html").render(
        report=report, created=created, number=_number, columns_of=_columns,
        max_rows=MAX_ROWS)
