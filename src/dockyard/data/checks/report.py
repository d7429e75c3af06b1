"""Reports: the outcome of every check of a run, as plain JSON and as a terminal table."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field


class CheckResult(BaseModel):
    """The outcome of one expectation."""

    expectation: dict[str, Any]
    """The expectation as in YAML (see :meth:`Suite.to_dict`)."""
    description: str
    passed: bool
    failing: int = 0
    """Failing rows; 0 or 1 for the table-level checks (column, row_count, freshness)."""
    checked: int = 0
    """Rows looked at: non-null values for most column checks, every row for not_null, 1
    for the table-level checks."""
    failing_fraction: float = 0.0
    sample: list[dict[str, Any]] = Field(default_factory=list)
    """Up to ``sample_rows`` failing rows, the checked columns first, as JSON-safe values."""
    observed: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    """Why the check could not run (it then fails); None when it ran."""


class CheckReport(BaseModel):
    """What :func:`run_checks` found; ``model_dump(mode="json")`` is what is stored."""

    suite: str
    passed: bool
    rows: int
    source: str
    """What was checked: a path, or the kind of in-memory table."""
    results: list[CheckResult]
    started_at: int
    """When the run started, in milliseconds since the epoch (UTC)."""
    duration_ms: float

    @property
    def failures(self) -> list[CheckResult]:
        """The results that did not pass (errors included)."""
        return [r for r in self.results if not r.passed]

    def summary(self, samples: int = 3) -> str:
        """A plain-text table of the results, for a terminal, with up to ``samples`` failing
        rows under each failed check."""
        failed = len(self.failures)
        head = (f"suite {self.suite!r}: {'passed' if self.passed else 'FAILED'}, "
                f"{failed} of {len(self.results)} checks failed, {self.rows:,} rows, "
                f"{self.duration_ms:,.0f} ms")
        width = min(60, max((len(r.description) for r in self.results), default=0))
        lines = [head]
        for r in self.results:
            status = "ok" if r.passed else "ERROR" if r.error else "FAIL"
            detail = _detail(r)
            text = r.description if len(r.description) <= width else \
                r.description[:width - 3] + "..."
            lines.append(f"  {status:<5}  {text:<{width}}  {detail}")
            for row in r.sample[:samples] if not r.passed else ():
                lines.append(f"         e.g. {json.dumps(row, default=str)[:200]}")
        return "\n".join(lines)


def _detail(result: CheckResult) -> str:
    if result.error:
        return result.error
    kind, seen = result.expectation.get("type"), result.observed
    if kind == "column":
        return seen.get("dtype", "missing")
    if kind == "row_count":
        return f"{seen['rows']:,} rows"
    if kind == "freshness":
        if seen.get("newest") is None:
            return "no values"
        return f"newest {seen['newest']}, {_age(seen['age_seconds'])} old"
    detail = f"{result.failing:,} of {result.checked:,} failing"
    if result.failing:
        detail += f" ({result.failing_fraction:.2%})"
    return detail


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
