"""What a validation produces: one result per check, and the report that holds them.

Every number a policy can judge is in a check's ``metrics``, under a dotted
name that is unique across checks (``accuracy``, ``cohort_gap.accuracy``,
``robustness.noise_0.1.accuracy_drop`` ...); :meth:`ValidationReport.values`
merges them. ``tables`` hold what the report shows but a policy does not
judge (the cohorts one by one, a degradation curve, importances), as lists
of rows.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CheckResult(BaseModel):
    """One check's outcome. ``error`` is set when the check could not run on this data."""

    model_config = ConfigDict(extra="forbid")

    name: str
    metrics: dict[str, float] = Field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    summary: str = ""
    error: str | None = None
    seconds: float = 0.0


class ValidationReport(BaseModel):
    """The evidence about one model on one data set."""

    model_config = ConfigDict(extra="forbid")

    model_uri: str
    task: str
    target: str
    rows: int
    checks: list[CheckResult] = Field(default_factory=list)
    created: int = 0
    """Milliseconds since the epoch."""

    def values(self) -> dict[str, float]:
        """Every check's metrics in one mapping, as a policy reads them."""
        merged: dict[str, float] = {}
        for check in self.checks:
            merged.update(check.metrics)
        return merged

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)
