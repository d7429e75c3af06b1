"""Where a validation is kept: a run of its own, linked to the model it judged.

A validation of a logged or registered model (``models:/churn/3``,
``runs:/<id>/model``) becomes a run in the experiment of the run that
logged the model, named ``validate-<model>``:

- metrics: every number of the report (``accuracy``, ``cohort_gap.accuracy``
  ...) and ``validation.passed`` (1 or 0) when a policy judged it;
- tags: ``dockyard.validation.model_uri``, ``dockyard.validation.of_run``
  (the run that logged the model), ``.model`` and ``.version`` for a
  registered version, ``.policy`` and ``.passed``;
- artifacts: ``validation/report.json`` (the whole report) and
  ``validation/report.html`` (the page to read);
- input: the dataset version validated on, when the data was given as one
  (context ``validation``).

The run ends FINISHED whatever the verdict: a failed policy is a finding,
not a failure of the validation.
"""

from __future__ import annotations

from dockyard.client import Client
from dockyard.entities import Metric, RunStatus, RunTag, now_ms
from dockyard.entities import validation as v
from dockyard.entities.registry import ResolvedModel
from dockyard.errors import InvalidArgument
from dockyard.validation.html import render
from dockyard.validation.results import ValidationReport

REPORT_JSON = "validation/report.json"
REPORT_HTML = "validation/report.html"
TAG = "dockyard.validation."


def log_report(client: Client, report: ValidationReport, resolved: ResolvedModel) -> str:
    """Store ``report`` as a run beside the run that logged the model; returns its run id."""
    from dockyard.train import media

    source = client.get_run(resolved.run_id)
    version = resolved.model_version
    label = f"{version.name}-v{version.version}" if version else resolved.run_id[:8]
    tags = {TAG + "model_uri": report.model_uri, TAG + "of_run": resolved.run_id,
            "dockyard.note": f"Validation of {report.model_uri}"}
    if version is not None:
        tags.update({TAG + "model": version.name, TAG + "version": str(version.version)})
    if report.policy is not None:
        tags.update({TAG + "policy": report.policy.policy or report.policy.digest[:12],
                     TAG + "passed": str(report.policy.passed).lower()})
    run = client.create_run(source.experiment_id, v.validate_name("run", f"validate-{label}"),
                            tags={k: v.tag_value(k, val) for k, val in tags.items()})
    try:
        values = report.values()
        if report.policy is not None:
            values["validation.passed"] = float(report.policy.passed)
        stamp = now_ms()
        metrics = [Metric(key=key, value=value, step=0, timestamp=stamp)
                   for key, value in values.items() if _finite(value)]
        client.log_batch(run.id, metrics=metrics,
                         tags=[RunTag(key=TAG + "checks",
                                      value=",".join(c.name for c in report.checks))])
        media.log_text(client, run.id, report.model_dump_json(indent=2), REPORT_JSON)
        media.log_text(client, run.id, render(report), REPORT_HTML)
    except BaseException:
        client.set_terminated(run.id, RunStatus.FAILED)
        raise
    client.set_terminated(run.id, RunStatus.FINISHED)
    return run.id


def _finite(value: float) -> bool:
    try:
        v.metric_value("metric", value)
    except InvalidArgument:
        return False
    return True
