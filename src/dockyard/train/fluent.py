"""The fluent API: a few lines in a training script.

    import dockyard

    dockyard.set_experiment("churn")
    with dockyard.start_run(name="rf-baseline"):
        dockyard.log_params({"n_estimators": 200})
        dockyard.log_metric("loss", 0.3, step=1)

Metric, param and tag calls are checked at once (a bad value raises at the
line that logged it), then queued and sent in batches by a background
thread; see :mod:`dockyard.train.logger`. ``end_run``, leaving a ``with``
block, :func:`flush` and interpreter exit make everything durable.

Every new run is tagged with the machine it ran on (``dockyard.hardware.*``),
and a top-level run samples ``system/*`` metrics in the background through
the same batched logger; see :mod:`dockyard.train.system`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from dockyard.client import Client
from dockyard.config import get_settings
from dockyard.entities import (
    AliasChange,
    Experiment,
    GroundTruthReport,
    Metric,
    ModelVersion,
    NewRun,
    Param,
    Run,
    RunStatus,
    RunTag,
    artifact_location,
    now_ms,
)
from dockyard.entities import validation as v
from dockyard.entities.dataset import DatasetInput, DatasetVersion
from dockyard.errors import Conflict, InvalidArgument, InvalidState
from dockyard.store.names import generate_run_name
from dockyard.train.background import Background
from dockyard.train.logger import BatchLogger
from dockyard.train.source import capture_source
from dockyard.train.spool import Spool
from dockyard.train.reproduce import Snapshot, log_snapshot, snapshot_once
from dockyard.train.seeds import TAG as SEED_TAG
from dockyard.train.seeds import current_seed
from dockyard.train.system import SystemMetricsMonitor, hardware_tags

if TYPE_CHECKING:
    from dockyard.manage.packages import ModelInfo
    from dockyard.models import LoadedModel

DEFAULT_EXPERIMENT = "default"
log = logging.getLogger("dockyard.fluent")


class ActiveRun:
    """The run a ``with dockyard.start_run()`` block logs to.

    Attribute access falls through to the :class:`~dockyard.entities.Run` as it
    was when the run started (``run.id``, ``run.name``, ``run.experiment_id``).
    """

    def __init__(self, run: Run) -> None:
        self.info = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self.info, name)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.info.name} ({self.info.id})>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if _state.stack and _state.stack[-1].info.id == self.info.id:
            end_run(status)


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.client: Client | None = None
        self.logger: BatchLogger | None = None
        self.uri: str | None = None
        self.experiment: Experiment | None = None
        self.stack: list[ActiveRun] = []
        self.params: dict[str, dict[str, str]] = {}
        self.steps: dict[tuple[str, str], int] = {}
        self.monitors: dict[str, SystemMetricsMonitor] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.background = Background()


_state = _State()


def set_tracking_uri(uri: str | None) -> None:
    """Point the fluent API at another store or server (``None``: back to ``DOCKYARD_URI``)."""
    _state.background.wait()  # outside the lock: the work it waits for may need it
    with _state.lock:
        if _state.stack:
            raise InvalidState("end the active run before changing the tracking URI")
        _reset()
        _state.uri = uri


def get_tracking_uri() -> str:
    """The store or server URI the fluent API writes to."""
    return _state.uri or get_settings().uri


def _reset() -> None:
    for run_id in list(_state.monitors):
        _stop_monitor(run_id)
    if _state.logger is not None:
        _state.logger.close()
    if _state.client is not None:
        _state.client.close()
    _state.client = _state.logger = _state.experiment = None
    _state.params.clear()
    _state.steps.clear()


def _client() -> Client:
    with _state.lock:
        if _state.client is None:
            _state.client = Client(get_tracking_uri())
        return _state.client


def _logger() -> BatchLogger:
    with _state.lock:
        if _state.logger is None:
            client = _client()
            settings = get_settings()
            _state.logger = BatchLogger(
                client.store, Spool(settings.spool, client.uri),
                batch_size=settings.batch_size, flush_interval=settings.flush_interval)
        return _state.logger


def set_experiment(name: str, project: str | None = None) -> Experiment:
    """Make ``name`` the experiment new runs go to, creating it if needed."""
    exp = _client().get_or_create_experiment(v.validate_name("experiment", name), project)
    _state.experiment = exp
    return exp


def _current_experiment() -> Experiment:
    return _state.experiment or set_experiment(DEFAULT_EXPERIMENT)


def start_run(name: str | None = None, *, experiment: str | None = None, nested: bool = False,
              tags: Mapping[str, Any] | None = None, run_id: str | None = None,
              description: str | None = None,
              log_system_metrics: bool | None = None,
              log_source: bool | None = None) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it the active run.

    With ``nested=True`` the new run is a child of the active one. Use as a
    context manager: the run ends FINISHED, FAILED if the block raises, or
    KILLED on Ctrl-C.

    A new run is tagged with a summary of the machine (``dockyard.hardware.cpu``,
    ``.cores``, ``.memory_gb``, ``.gpus``, ``.os``, ``.host``). With
    ``log_system_metrics`` the run samples CPU, memory, disk, network and GPU
    use as ``system/*`` metrics every ``DOCKYARD_SYSTEM_METRICS_INTERVAL``
    seconds until it ends; ``None`` leaves it to ``DOCKYARD_SYSTEM_METRICS``,
    which by default samples for top-level runs and not for nested ones (the
    outer run already covers the machine).

    With ``log_source`` (``None``: ``DOCKYARD_LOG_SOURCE``, by default on for
    new top-level runs) the run records what it takes to run it again: the
    command line, the git branch and uncommitted changes (or the script), and
    the installed packages; see :mod:`dockyard.train.reproduce` and
    ``dockyard runs reproduce``.

    A new run gets its id here and reaches the store with its first batch
    (so a short run costs one request, and a run can start while the server
    is away); :func:`flush` makes it visible to other clients at once.
    """
    client = _client()
    settings = get_settings()  # a bad system-metrics setting fails here, before the run exists
    if log_system_metrics is not None and not isinstance(log_system_metrics, bool):
        raise InvalidArgument(
            f"log_system_metrics must be True, False or None, got {log_system_metrics!r}")
    with _state.lock:
        if _state.stack and not nested and run_id is None:
            raise InvalidState(
                f"run {_state.stack[-1].info.name} is already active; end it first "
                "or pass nested=True for a child run")
        if run_id is not None:
            run = client.get_run(run_id)
            if run.status.is_terminal:
                raise InvalidState(f"run {run_id} is {run.status.value}; it cannot be resumed")
        else:
            exp = client.get_or_create_experiment(experiment) if experiment else _current_experiment()
            all_tags = _hardware_tags()
            seed = current_seed()
            if seed is not None:
                all_tags[SEED_TAG] = seed
            all_tags.update({v.validate_key("tag", k): v.tag_value(k, val)
                             for k, val in v.check_mapping("tags", tags or {}).items()})
            if description:
                all_tags["dockyard.note"] = v.tag_value("dockyard.note", description)
            source = capture_source(client.user)
            made = _snapshot(source.entry_point, log_source, settings.log_source,
                             top_level=not (nested and _state.stack))
            if made is not None:
                all_tags = {**made.tags, **all_tags}
            new = NewRun(
                experiment_id=exp.id, id=uuid.uuid4().hex,
                name=v.validate_name("run", name) if name is not None else generate_run_name(),
                start_time=now_ms(), tags=all_tags, source=source,
                parent_id=_state.stack[-1].info.id if (nested and _state.stack) else None)
            run = Run(id=new.id, experiment_id=exp.id, name=new.name, status=RunStatus.RUNNING,
                      start_time=new.start_time, user=source.user, parent_id=new.parent_id,
                      entry_point=source.entry_point, git_commit=source.git_commit,
                      git_dirty=source.git_dirty, python_version=source.python_version,
                      artifact_location=artifact_location(exp.id, new.id), tags=all_tags)
            _logger().start_run(new)
            if made is not None:
                _state.snapshots[new.id] = made
        # one sampler per machine is enough: a run started inside another is "nested"
        top_level = run.parent_id is None and not _state.stack
        enabled = log_system_metrics
        if enabled is None:
            enabled = settings.system_metrics if settings.system_metrics is not None \
                else top_level
        active = ActiveRun(run)
        _state.stack.append(active)
        if enabled:
            _start_monitor(run, settings.system_metrics_interval)
        return active


def _hardware_tags() -> dict[str, str]:
    try:
        return {key: v.tag_value(key, value) for key, value in hardware_tags().items()}
    except Exception as exc:  # describing the machine must never stop a run
        log.warning("dockyard: could not describe the hardware: %r", exc)
        return {}


def _start_monitor(run: Run, interval: float) -> None:
    """Sample ``system/*`` metrics for ``run`` through the run's batched logger."""
    logger = _logger()
    run_id = run.id
    # a resumed run goes on counting from the samples it already has
    first_step = 1 + max((m.step for key, m in run.metrics.items()
                          if key.startswith("system/")), default=-1)

    def send(metrics: dict[str, float], step: int, timestamp_ms: int) -> None:
        logger.log_metrics(run_id, [
            Metric.model_construct(key=key, value=value, step=step, timestamp=timestamp_ms)
            for key, value in metrics.items()])

    try:
        monitor = SystemMetricsMonitor(send, interval, first_step=first_step,
                                       name=f"dockyard-system-metrics-{run_id[:8]}")
        _state.monitors[run_id] = monitor.start()
    except Exception as exc:  # tracking must never break training
        log.warning("dockyard: system metrics are off for run %s: %r", run_id, exc)


def _snapshot(entry_point: str, asked: bool | None, setting: bool | None, *,
              top_level: bool) -> Snapshot | None:
    """What the new run records to be run again, when it records it (never raises)."""
    wanted = asked if asked is not None else (setting if setting is not None else top_level)
    if not wanted:
        return None
    try:
        return snapshot_once(entry_point)
    except Exception as exc:  # tracking must never break training
        log.warning("dockyard: the run will not record its source: %r", exc)
        return None


def _store_snapshot(run_id: str, made: Snapshot | None) -> None:
    """Upload an ending run's source files (the diff, the requirements) while it may still
    change; a failure is a warning (the run still ends)."""
    if made is None or not made.files:
        return
    try:
        _logger().flush()  # the run must exist in the store before its files do
        log_snapshot(_client(), run_id, Snapshot(files=made.files))
    except Exception as exc:
        log.warning("dockyard: could not store the source of run %s: %r", run_id, exc)


def _stop_monitor(run_id: str) -> None:
    monitor = _state.monitors.pop(run_id, None)
    if monitor is not None:
        monitor.stop()  # takes the final sample; never raises


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    return _state.stack[-1] if _state.stack else None


def _run_id() -> str:
    if _state.stack:
        return _state.stack[-1].info.id
    raise InvalidState("no active run; call dockyard.start_run() first")


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run after everything it logged is durable.

    A run with background logging still to do (an autologged model being
    saved) stops being the active run at once and ends when that work is
    done; :func:`flush` waits for it.
    """
    try:
        status = RunStatus(status)
    except ValueError:
        raise InvalidArgument(f"status must be one of {', '.join(s.value for s in RunStatus)}") from None
    with _state.lock:
        if not _state.stack:
            return
        active = _state.stack.pop()
    run_id = active.info.id
    _stop_monitor(run_id)  # its final sample goes out before the run's end
    made = _state.snapshots.pop(run_id, None)
    _state.params.pop(run_id, None)
    for key in [k for k in _state.steps if k[0] == run_id]:
        del _state.steps[key]

    def finish() -> None:
        _store_snapshot(run_id, made)
        _logger().end_run(run_id, status)

    if _state.background.pending(run_id):
        _state.background.submit(run_id, finish)
    else:
        finish()


def in_background(run_id: str, work: Callable[[], None]) -> None:
    """Run ``work`` for ``run_id`` on the background logging thread; the run ends after it."""
    _state.background.submit(run_id, work)


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """Log one point. Without ``step``, steps count up from 0 for each key."""
    run_id = _run_id()
    key = v.validate_key("metric", key)
    value = v.metric_value(key, value)  # a refused point does not take a step
    if step is None:
        step = _state.steps.get((run_id, key), -1) + 1
    _state.steps[(run_id, key)] = v.int64("step", step)
    log_metric_to(run_id, key, value, step, timestamp)


def log_metric_to(run_id: str, key: str, value: float, step: int = 0,
                  timestamp: int | None = None) -> None:
    """Log one point to ``run_id``, which need not be the active run (background logging)."""
    key = v.validate_key("metric", key)
    value = v.metric_value(key, value)
    ts = v.int64("timestamp", timestamp) if timestamp is not None else now_ms()
    metric = Metric.model_construct(key=key, value=value, step=v.int64("step", step), timestamp=ts)
    _logger().log_metrics(run_id, [metric])


def log_metrics(metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None) -> None:
    """Log several metrics at the same step (see :func:`log_metric`)."""
    for key, value in v.check_mapping("metrics", metrics).items():
        log_metric(key, value, step, timestamp)


def log_param(key: str, value: Any) -> None:
    """Log one param; values are stored as strings (see :func:`log_params`)."""
    log_params({key: value})


def log_params(params: Mapping[str, Any]) -> None:
    """Log params (immutable: the same value again is fine, another raises Conflict)."""
    run_id = _run_id()
    seen = _state.params.setdefault(run_id, {})
    items = []
    for key, value in v.check_mapping("params", params).items():
        key = v.validate_key("param", key)
        text = v.param_value(key, value)
        if seen.get(key, text) != text:
            raise Conflict(f"param {key!r} was logged as {seen[key]!r}; it cannot change to {text!r}")
        if key not in seen:
            seen[key] = text
            items.append(Param.model_construct(key=key, value=text))
    if items:
        _logger().log_params(run_id, items)


def set_tag(key: str, value: Any) -> None:
    """Set one tag on the active run (tags, unlike params, may change)."""
    set_tags({key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    run_id = _run_id()
    items = [RunTag.model_construct(key=v.validate_key("tag", k), value=v.tag_value(k, val))
             for k, val in v.check_mapping("tags", tags).items()]
    _logger().set_tags(run_id, items)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> str:
    """Upload a file into the active run's artifacts; returns its path in the run."""
    run_id = _run_id()
    flush()  # the run must exist in the store before its files do
    return _client().log_artifact(run_id, local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[str]:
    """Upload every file below a folder into the active run's artifacts, keeping the layout."""
    run_id = _run_id()
    flush()
    return _client().log_artifacts(run_id, local_dir, artifact_path)


def log_dataset(data: Any = None, name: str | None = None, **options: Any) -> DatasetVersion:
    """Record a version of the dataset ``name``: digest, schema, profile, and the data.

    ``data`` is a DataFrame, a Parquet or CSV path, or an ``s3://`` URI (or
    give ``query=`` and ``database=``); the options are those of
    :func:`dockyard.data.datasets.log_dataset`. The same data returns the
    version it already has. Link it to a run with :func:`log_input`.
    """
    return _client().log_dataset(data, name, **options)


def log_input(dataset: DatasetVersion | str, context: str = "training") -> DatasetInput:
    """Record that the active run used a dataset version (``churn@2`` or the version itself),
    for ``training``, ``validation``, ``test``, ``evaluation`` or ``reference``."""
    run_id = _run_id()
    flush()  # the run must exist in the store before anything points at it
    return _client().log_input(run_id, dataset, context)


def load_dataset(dataset: DatasetVersion | str, **options: Any) -> Any:
    """A dataset version's data as a pandas DataFrame (``columns=``, ``verify=``)."""
    return _client().load_dataset(dataset, **options)


def log_model(model: Any, artifact_path: str = "model", **save_options: Any) -> ModelInfo:
    """Save ``model`` as a package into the active run's artifacts.

    ``save_options`` are those of :func:`dockyard.models.save`: pass
    ``input_example`` to record a signature and an example. Returns a
    ModelInfo whose ``uri`` (``runs:/<run_id>/model``) registers or loads it.
    """
    return stored_client().log_model(_run_id(), model, artifact_path, **save_options)


def stored_client() -> Client:
    """The fluent API's client, once what was logged so far (new runs included) is stored:
    for writing a run's files, which needs the run to exist in the store."""
    flush()
    return _client()


def register_model(model_uri: str, name: str, *, description: str = "",
                   tags: Mapping[str, Any] | None = None, card: str = "") -> ModelVersion:
    """Register the package at ``model_uri`` as the next version of ``name`` (created if new)."""
    flush()
    return _client().register_model(model_uri, name, description, tags, card)


def set_alias(name: str, alias: str, version: int,
              override_reason: str | None = None) -> AliasChange:
    """Point ``alias`` (``champion``, ``challenger`` ...) of model ``name`` at ``version``.

    A protected alias of a model with a validation policy needs a passing
    validation of the version; ``override_reason`` lets the change through
    anyway and is recorded in the audit trail (see :meth:`dockyard.Client.set_alias`).
    """
    return _client().set_alias(name, alias, version, override_reason)


def load_model(model_uri: str | Path, *, trust: bool | None = None) -> LoadedModel:
    """Load a model from ``models:/name/3``, ``models:/name@alias``, ``runs:/<id>/model`` or a folder.

    The returned model's ``predict`` takes a DataFrame, a dict of columns, a
    list of records or a numpy array, checked against the signature.
    """
    return _client().load_model(model_uri, trust=trust)


def log_ground_truth(prediction_ids: Sequence[str], labels: Sequence[Any], *,
                     label_time: Any = None, replace: bool = False) -> GroundTruthReport:
    """Record the true outcome of served predictions, by the ids the server returned.

    Labels may arrive days later; each joins its prediction's time window. The
    report counts what was written and lists duplicate ids (the first label
    stays unless ``replace=True``) and ids not found in the prediction log.
    See :meth:`Client.log_ground_truth`.
    """
    return _client().log_ground_truth(prediction_ids, labels, label_time=label_time,
                                      replace=replace)


def flush(timeout: float | None = None) -> None:
    """Block until everything logged so far is committed (or spooled, if the server is away),
    background logging (an autologged model being saved) included."""
    _state.background.wait(timeout)
    if _state.logger is not None:
        _state.logger.flush(timeout)


def get_run(run_id: str) -> Run:
    """A run with its params, tags and latest metrics (after flushing this process's logging)."""
    flush()
    return _client().get_run(run_id)


def search_runs(experiments: str | Sequence[str] | None = None, filter: str | None = None,
                order_by: Sequence[str] | str | None = None, max_results: int = 1000) -> list[Run]:
    """Runs of one or more experiments (by name), filtered and ordered.

    Without ``experiments``, the current experiment. See ``docs/tracking.md``
    for the filter grammar.
    """
    client = _client()
    flush()  # what this process logged is visible to its own searches
    if experiments is None:
        ids = [_current_experiment().id]
    else:
        names = [experiments] if isinstance(experiments, str) else list(experiments)
        ids = [client.get_experiment_by_name(n).id for n in names]
    return client.search_runs(ids, filter, order_by, max_results).items
