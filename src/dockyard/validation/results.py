"""What a validation produces: one result per check, and the report that holds them.

Every number a policy can judge is in a check's ``metrics``, under a dotted
name that is unique across checks (``accuracy``, ``cohort_gap.accuracy``,
``robustness.noise_0.1.accuracy_drop`` ...); :meth:`ValidationReport.values`
merges them. ``tables`` hold what the report shows but a policy does not
judge (the cohorts one by one, a degradation curve, importances), as lists
of rows.

A check is a function ``check(ev: Evaluation, **options) -> CheckResult``
that raises InvalidArgument for bad options before it does any work, and
returns a result with ``error`` set when it cannot run on this data (a
calibration of a regressor). Its module also has ``names(task, metric_names,
**options)``:
the metric names it will produce, so that a policy naming an unknown metric
is refused before anything runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dockyard.validation.policy import PolicyOutcome


class CheckResult(BaseModel):
    """One check's outcome. ``error`` is set when the check could not run on this data."""

    model_config = ConfigDict(extra="forbid")

    name: str
    metrics: dict[str, float] = Field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    figures: dict[str, str] = Field(default_factory=dict)
    """Plots as SVG markup, by name (a SHAP summary plot)."""
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
    policy: PolicyOutcome | None = None
    """The policy's verdict, when the validation was judged by one."""
    run_id: str | None = None
    """The run the report was logged to (see :mod:`dockyard.validation.record`)."""

    @property
    def passed(self) -> bool | None:
        """The policy's verdict: True, False, or None when no policy judged the report."""
        return None if self.policy is None else self.policy.passed

    def values(self) -> dict[str, float]:
        """Every check's metrics in one mapping, as a policy reads them."""
        merged: dict[str, float] = {}
        for check in self.checks:
            merged.update(check.metrics)
        return merged

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)
