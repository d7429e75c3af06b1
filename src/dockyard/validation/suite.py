"""``dockyard.validate``: every check in one call, judged by a policy.

    report = dockyard.validate(
        "models:/churn/3", data=test_frame, target="churned",
        cohorts=["region", {"column": "tenure", "bins": 4}],
        sensitive="gender", baseline="models:/churn@champion",
        time_column="signup_date", policy="policy.yaml")
    report.passed        # True, False, or None without a policy

Checks, in the order they run (each in its own module of this package):

- ``holdout`` (always): the task's metrics, ``accuracy``, ``rmse`` ...;
- ``cohorts`` (``cohorts`` given): ``cohort_gap.<m>``, ``cohort_worst.<m>``;
- ``backtest`` (``time_column`` given): ``backtest.<m>_worst``, ``_trend`` ...;
- ``robustness`` (on by default): ``robustness.noise_0.1.<m>_drop`` ...;
- ``explain`` (on by default): permutation importance and SHAP tables;
- ``fairness`` (``sensitive`` given): ``fairness.demographic_parity_difference`` ...;
- ``calibration`` (on by default): ``calibration.ece`` ...;
- ``compare`` (``baseline`` given): ``champion.<m>_delta``, ``champion.p_value`` ...

Everything the caller can get wrong is refused before the model predicts:
a missing target, options a check does not take, columns the data does not
have, data that does not fit the model's signature, and a policy naming a
metric no check will produce. A check that cannot apply to this model (the
calibration of a regressor) is reported with its reason, and a policy rule
that reads its metrics fails with that reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dockyard.client import Client
from dockyard.entities import now_ms
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.progress import ProgressCallback, reporter
from dockyard.validation.evaluation import Evaluation
from dockyard.validation.policy import Policy
from dockyard.validation.results import CheckResult, ValidationReport

IN_MEMORY = "<in-memory model>"
BACKTEST_MIN_ROWS = 30


@dataclass
class _Step:
    name: str
    run: Callable[..., CheckResult]
    names: Callable[..., list[str]]
    options: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    columns: list[str] = field(default_factory=list)
    preflight: Callable[[Evaluation], object] | None = None
    """Checks the data against the options, cheaply, before anything is predicted."""


def run_checks(model: Any, data: pd.DataFrame, target: str, *, model_uri: str = IN_MEMORY,
               task: str = "auto", positive_class: Any = None,
               cohorts: list[Any] | None = None, min_cohort_size: int = 30,
               sensitive: str | list[str] | None = None,
               baseline: Any = None, baseline_name: str = "champion",
               time_column: str | None = None, windows: int = 5, refit: Any = None,
               robustness: bool | Mapping[str, Any] = True,
               explain: bool | Mapping[str, Any] = True,
               calibration: bool | Mapping[str, Any] = True,
               policy: Policy | None = None,
               progress: bool | ProgressCallback = False) -> ValidationReport:
    """Run the checks on a loaded model and a DataFrame; see the module docstring.

    ``robustness``, ``explain`` and ``calibration`` take True, False or a
    mapping of that check's options (``{"noise": [0.1, 0.3]}``).
    """
    ev = Evaluation(model, data, target, task=task, positive_class=positive_class)
    steps = _plan(cohorts=cohorts, min_cohort_size=min_cohort_size, sensitive=sensitive,
                  baseline=baseline, baseline_name=baseline_name, time_column=time_column,
                  windows=windows, refit=refit, robustness=robustness, explain=explain,
                  calibration=calibration)
    expected = {step.name: step.names(ev.task, ev.metric_names, **step.options)
                for step in steps}
    missing = sorted({c for step in steps for c in step.columns} - set(map(str, ev.frame)))
    if missing:
        raise InvalidArgument(f"the data has no column {', '.join(map(repr, missing))}; its "
                              f"columns are: {', '.join(map(str, ev.frame.columns))}")
    for step in steps:
        if step.preflight is not None:
            step.preflight(ev)
    if policy is not None:
        policy.check_names([*ev.metric_names, *(n for names in expected.values() for n in names)])
    _check_signature(model, ev.features[ev.model_columns])

    report = ValidationReport(model_uri=model_uri, task=ev.task, target=target,
                              rows=len(ev.frame), created=now_ms())
    with reporter(progress, "validating", "checks") as tick:
        tick(0, len(steps) + 1)
        report.checks.append(_timed("holdout", lambda: _holdout(ev)))
        for done, step in enumerate(steps, start=2):
            report.checks.append(_timed(step.name, lambda s=step: s.run(ev, *s.args,
                                                                         **s.options)))
            tick(done, len(steps) + 1)
    if policy is not None:
        errors = {name: check.error for check in report.checks if check.error
                  for name in [check.name, *expected.get(check.name, [])]}
        report.policy = policy.evaluate(report.values(), errors)
    return report


def _plan(*, cohorts: list[Any] | None, min_cohort_size: int,
          sensitive: str | list[str] | None, baseline: Any, baseline_name: str,
          time_column: str | None, windows: int, refit: Any,
          robustness: bool | Mapping[str, Any], explain: bool | Mapping[str, Any],
          calibration: bool | Mapping[str, Any]) -> list[_Step]:
    from dockyard.validation import backtest as bt
    from dockyard.validation import calibration as cal
    from dockyard.validation import cohorts as co
    from dockyard.validation import compare as cmp
    from dockyard.validation import explain as ex
    from dockyard.validation import fairness as fa
    from dockyard.validation import robustness as rb

    steps: list[_Step] = []
    if cohorts:
        columns = [s if isinstance(s, str) else s["column"] for s in cohorts
                   if isinstance(s, str) or (isinstance(s, dict) and "column" in s)]
        steps.append(_Step("cohorts", co.cohorts, _with_args(co.names, cohorts),
                           {"min_size": min_cohort_size}, args=(cohorts,), columns=columns,
                           preflight=lambda ev: co.find(ev.frame, cohorts,
                                                        min_size=min_cohort_size)))
    if time_column is not None:
        steps.append(_Step("backtest", bt.backtest, bt.names,
                           {"time_column": time_column, "windows": windows, "refit": refit,
                            "min_size": BACKTEST_MIN_ROWS},
                           columns=[time_column],
                           preflight=lambda ev: bt.chunks(ev.frame, time_column, windows,
                                                          BACKTEST_MIN_ROWS)))
    if robustness:
        options = dict(_options("robustness", robustness))
        chosen = options.get("columns")
        steps.append(_Step("robustness", rb.robustness, rb.names, options,
                           columns=[chosen] if isinstance(chosen, str)
                           else list(chosen) if isinstance(chosen, (list, tuple)) else [],
                           preflight=lambda ev: rb.chosen_columns(ev, chosen)))
    if explain:
        steps.append(_Step("explain", ex.explain, ex.names, dict(_options("explain", explain))))
    if sensitive is not None:
        columns = [sensitive] if isinstance(sensitive, str) else list(sensitive)
        steps.append(_Step("fairness", fa.fairness, fa.names, {"sensitive": columns},
                           columns=columns))
    if calibration:
        steps.append(_Step("calibration", cal.calibration, cal.names,
                           dict(_options("calibration", calibration))))
    if baseline is not None:
        steps.append(_Step("compare", cmp.compare, cmp.names, {"name": baseline_name},
                           args=(baseline,)))
    return steps


def _with_args(names: Callable[..., list[str]], *args: Any) -> Callable[..., list[str]]:
    """A check's ``names`` with its positional options bound after (task, metric_names)."""
    return lambda task, metric_names, **options: names(task, metric_names, *args, **options)


def _options(check: str, asked: bool | Mapping[str, Any]) -> Mapping[str, Any]:
    if asked is True:
        return {}
    if isinstance(asked, Mapping):
        return asked
    raise InvalidArgument(f"{check} must be True, False or a mapping of its options, "
                          f"got {asked!r}")


def _holdout(ev: Evaluation) -> CheckResult:
    metrics = ev.score_rows()
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
    return CheckResult(name="holdout", metrics=metrics,
                       summary=f"on {len(ev.frame):,} rows: {shown}")


def _timed(name: str, run: Callable[[], CheckResult]) -> CheckResult:
    """Run a check; a failure that is not the caller's mistake becomes its ``error``."""
    start = time.perf_counter()
    try:
        result = run()
    except InvalidArgument:
        raise
    except Exception as exc:  # noqa: BLE001 - one broken check must not lose the others
        result = CheckResult(name=name, error=f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - start
    return result


def _check_signature(model: Any, features: pd.DataFrame) -> None:
    """Data that does not fit a packaged model's signature is refused before any work."""
    signature = getattr(model, "signature", None)
    if signature is None:
        return
    from dockyard.models.signature import to_input

    try:
        to_input(features, signature, extra_columns="drop")
    except DockyardError as exc:
        raise InvalidArgument(f"the data does not fit the model's signature: {exc}") from exc


def load_policy(policy: Policy | str | Path | Mapping[str, Any] | Iterable[Any] | None
                ) -> Policy | None:
    """A Policy from a Policy, a YAML file path, or the parsed structure."""
    if policy is None or isinstance(policy, Policy):
        return policy
    if isinstance(policy, (str, Path)):
        return Policy.load(policy)
    return Policy.parse(policy)


def validate(model: Any, data: Any, target: str, *, baseline: Any = None,
             policy: Policy | str | Path | Mapping[str, Any] | Iterable[Any] | None = None,
             progress: bool | ProgressCallback = False, client: Client | None = None,
             log: bool | None = None, **options: Any) -> ValidationReport:
    """Validate a model on labelled data; returns the :class:`ValidationReport`.

    ``model`` and ``baseline`` are model URIs (``models:/churn/3``,
    ``models:/churn@champion``, ``runs:/<id>/model``, a package folder) or
    model objects with ``predict``. ``data`` is a DataFrame, a Parquet or CSV
    file, or a dataset version (``churn@2``, ``datasets:/churn/2``).
    ``policy`` is a :class:`Policy`, a YAML file, or the parsed structure.
    URIs and dataset versions are read through ``client`` (by default the
    fluent API's, which follows ``DOCKYARD_URI``).

    ``log`` (by default: when ``model`` is a ``models:/`` or ``runs:/`` URI)
    stores the report as a run beside the run that logged the model, with
    the JSON and HTML report as artifacts (see :mod:`dockyard.validation.record`),
    and, for a registered version, records the validation on the version: the
    evidence the promotion gate reads (see docs/registry.md).
    The other options are those of :func:`run_checks` (``task``, ``cohorts``,
    ``sensitive``, ``time_column``, ``robustness`` ...); see the module
    docstring for the checks.
    """
    judged = load_policy(policy)  # a bad policy file fails before anything loads
    if client is None:
        from dockyard.train import fluent

        client = fluent._client()
    frame = _load_data(data, client)
    loaded, uri = _load_model(model, client)
    other = _load_model(baseline, client)[0] if baseline is not None else None
    logged = isinstance(model, str) and model.startswith(("models:/", "runs:/"))
    if log and not logged:
        raise InvalidArgument("log=True needs the model as a models:/ or runs:/ URI: that is "
                              "where the report is kept")
    resolved = client.resolve_model_uri(model) if logged and log is not False else None
    report = run_checks(loaded, frame, target, model_uri=uri, baseline=other, policy=judged,
                        progress=progress, **options)
    if resolved is not None:
        from dockyard.validation.record import REPORT_JSON, log_report

        report.run_id = log_report(client, report, resolved)
        version = resolved.model_version
        if version is not None:  # the evidence the promotion gate reads
            client.record_validation(version.name, version.version, report,
                                     report_uri=f"runs:/{report.run_id}/{REPORT_JSON}")
        if _is_dataset(data):  # the lineage: dataset version --used_for_validation--> run
            client.log_input(report.run_id, str(data), "validation")
    return report


def _is_dataset(data: Any) -> bool:
    return isinstance(data, str) and not Path(data).exists() and (
        "@" in data or data.startswith("datasets:/"))


def _load_model(model: Any, client: Client) -> tuple[Any, str]:
    if not isinstance(model, (str, Path)):
        return model, IN_MEMORY
    return client.load_model(str(model)), str(model)


def _load_data(data: Any, client: Client) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if not isinstance(data, (str, Path)):
        raise InvalidArgument(f"data must be a DataFrame, a Parquet or CSV file, or a dataset "
                              f"version such as churn@2; got {type(data).__name__}")
    path = Path(data)
    if path.exists():
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        raise InvalidArgument(f"{path} is neither a .parquet nor a .csv file")
    if _is_dataset(data):
        return client.load_dataset(str(data))
    raise InvalidArgument(f"{data} is not a file, and not a dataset version (churn@2, "
                          "datasets:/churn/2)")
