"""Hyperparameter tuning on Optuna, recorded as runs.

    import dockyard

    def objective(params, trial):
        model = train(lr=params["lr"], depth=params["depth"])
        return model.loss

    result = dockyard.tune(objective, {"lr": ("log_float", 1e-4, 1e-1), "depth": ("int", 2, 10)},
                           n_trials=50)

The study has one run (the active run, or a new run named after the study),
and every trial is a child run of it named ``trial-<number>`` with its params,
its value and, through :func:`report`, its intermediate values. Several
processes or machines share one study through Optuna's RDB storage: each
worker calls ``tune(..., storage="postgresql://...", study_name="x")``.
See ``docs/tune.md``.

Trial runs are written through the object API, not the fluent run stack: the
stack is one per process, so trials running in threads (``n_jobs > 1``) would
log into each other's runs. Inside an objective the active fluent run stays
the study's run.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.client import Client
from dockyard.entities import Metric, Param, RunStatus, RunTag, now_ms
from dockyard.entities import validation as v
from dockyard.errors import Conflict, InvalidArgument, MissingExtra
from dockyard.train import fluent
from dockyard.train.source import capture_source

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("dockyard.tune")

RUN_ID_ATTR = "dockyard.run_id"  # a trial's user attribute: the run that records it
_KINDS = ("float", "log_float", "int", "log_int", "categorical")
_SAMPLERS = ("tpe", "random", "cmaes")
_PRUNERS = ("median", "hyperband", "none")
_SCHEMA_ATTEMPTS = 5
_ERROR_LIMIT = 1000  # characters of a failed trial's exception kept as a tag


@dataclass
class TuneResult:
    """What :func:`tune` found. ``study`` is the Optuna study, for everything else.

    ``best_*`` are None when no trial completed. In a shared study they cover
    every worker's trials, as the storage held them when this worker finished.
    """

    study: Any
    run_id: str
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_trial: int | None = None
    best_run_id: str | None = None


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingExtra("dockyard.tune needs Optuna: pip install 'dockyard[tune]'",
                           extra="tune") from None
    return optuna


# the search space -------------------------------------------------------------------------
def parse_space(space: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna distributions for a declarative space; raises InvalidArgument on bad input.

    Each entry is ``(kind, low, high)`` or ``(kind, low, high, step)`` with kind one of
    ``float``, ``log_float``, ``int``, ``log_int``; a list of choices (or
    ``("categorical", [choices])``); or an ``optuna.distributions`` object.
    """
    optuna = _optuna()
    dist = optuna.distributions
    if not isinstance(space, Mapping) or not space:
        raise InvalidArgument("space must be a non-empty dict of parameter name -> range")
    parsed = {}
    for name, spec in space.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"space: parameter names must be non-empty strings, "
                                  f"got {name!r}")
        v.validate_key("param", name)
        if isinstance(spec, dist.BaseDistribution):
            parsed[name] = spec
        elif isinstance(spec, list):
            parsed[name] = _categorical(dist, name, spec)
        elif isinstance(spec, tuple):
            parsed[name] = _ranged(dist, name, spec)
        else:
            raise InvalidArgument(
                f"space[{name!r}]: expected a tuple such as ('float', 0.0, 1.0), a list of "
                f"choices or an optuna distribution, got {spec!r}")
    return parsed


def _categorical(dist: Any, name: str, choices: Any) -> Any:
    if not isinstance(choices, (list, tuple)) or not choices:
        raise InvalidArgument(f"space[{name!r}]: categorical needs a non-empty list of choices")
    for choice in choices:
        if choice is not None and not isinstance(choice, (bool, int, float, str)):
            raise InvalidArgument(f"space[{name!r}]: choices must be None, bool, int, float or "
                                  f"str, got {choice!r}")
    return dist.CategoricalDistribution(list(choices))


def _ranged(dist: Any, name: str, spec: tuple[Any, ...]) -> Any:
    kind = spec[0] if spec else None
    if kind not in _KINDS:
        raise InvalidArgument(f"space[{name!r}]: unknown kind {kind!r}; use one of "
                              f"{', '.join(_KINDS)}")
    if kind == "categorical":
        if len(spec) != 2:
            raise InvalidArgument(f"space[{name!r}]: write ('categorical', [choices])")
        return _categorical(dist, name, spec[1])
    if len(spec) not in (3, 4):
        raise InvalidArgument(f"space[{name!r}]: write ({kind!r}, low, high) or "
                              f"({kind!r}, low, high, step)")
    low, high = spec[1], spec[2]
    step = spec[3] if len(spec) == 4 else None
    integer = kind.endswith("int")
    number = int if integer else (int, float)
    for label, value in (("low", low), ("high", high), ("step", step)):
        if value is None and label == "step":
            continue
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            raise InvalidArgument(f"space[{name!r}]: {label} must be "
                                  f"{'an integer' if integer else 'a finite number'}, "
                                  f"got {value!r}")
    if low > high:
        raise InvalidArgument(f"space[{name!r}]: low ({low}) is greater than high ({high})")
    log_scale = kind.startswith("log_")
    if log_scale and low <= 0:
        raise InvalidArgument(f"space[{name!r}]: a log scale needs low > 0, got {low}")
    if step is not None and (step <= 0 or log_scale):
        raise InvalidArgument(f"space[{name!r}]: step must be positive, and a log scale "
                              "takes no step")
    if integer:
        return dist.IntDistribution(low, high, log=log_scale, step=step or 1)
    return dist.FloatDistribution(float(low), float(high), log=log_scale, step=step)


def suggest(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Sample one value of each parameter of a parsed space through ``trial.suggest_*``."""
    dist = _optuna().distributions
    params = {}
    for name, d in space.items():
        if isinstance(d, dist.FloatDistribution):
            params[name] = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, dist.IntDistribution):
            params[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, dist.CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, d.choices)
        else:
            raise InvalidArgument(f"space[{name!r}]: unsupported distribution {d!r}")
    return params


def _describe(space: Mapping[str, Any]) -> str:
    return json.dumps({name: _optuna().distributions.distribution_to_json(d)
                       for name, d in space.items()}, sort_keys=True)


# samplers, pruners, storage ------------------------------------------------------------------
def _sampler(optuna: Any, sampler: Any, seed: int | None) -> Any:
    if sampler is None:
        sampler = "tpe"
    if isinstance(sampler, optuna.samplers.BaseSampler):
        if seed is not None:
            raise InvalidArgument("seed applies to a sampler given by name; "
                                  "pass it to the sampler object instead")
        return sampler
    if sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if sampler == "cmaes":
        if importlib.util.find_spec("cmaes") is None:  # Optuna would fail at the first trial
            raise MissingExtra("the cmaes sampler needs the cmaes package: pip install cmaes",
                               extra="tune")
        return optuna.samplers.CmaEsSampler(seed=seed)
    raise InvalidArgument(f"unknown sampler {sampler!r}; use one of {', '.join(_SAMPLERS)} "
                          "or an optuna.samplers object")


def _pruner(optuna: Any, pruner: Any) -> Any:
    if pruner is None or isinstance(pruner, optuna.pruners.BasePruner):
        return pruner  # None: Optuna's default (a median pruner)
    if pruner == "median":
        return optuna.pruners.MedianPruner()
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if pruner == "none":
        return optuna.pruners.NopPruner()
    raise InvalidArgument(f"unknown pruner {pruner!r}; use one of {', '.join(_PRUNERS)} "
                          "or an optuna.pruners object")


def _storage(optuna: Any, storage: Any) -> Any:
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise InvalidArgument(f"storage must be a database URI or an Optuna storage, "
                              f"got {storage!r}")
    for prefix in ("postgresql://", "postgres://"):
        if storage.startswith(prefix):  # the psycopg 3 driver, as for Dockyard's own store
            storage = "postgresql+psycopg://" + storage[len(prefix):]
    if not storage.startswith(("sqlite:", "postgresql+", "mysql")):
        raise InvalidArgument(f"storage must be a SQLAlchemy URI such as postgresql://host/db "
                              f"or sqlite:///tune.db, got {storage.split('://')[0]!r}")
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(storage)
        except (IntegrityError, ProgrammingError):
            # workers starting together race to create Optuna's tables in an empty
            # database; the loser finds them on its next attempt
            if attempt == _SCHEMA_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


@contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Optuna's INFO line per trial off, and its experimental warnings, while tuning."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(before)


# trials ------------------------------------------------------------------------------------
class _TrialRun:
    """The child run of one trial, written through the object API (safe across threads)."""

    def __init__(self, client: Client, run_id: str, metric: str) -> None:
        self.client = client
        self.run_id = run_id
        self.metric = metric
        self.last_step: int | None = None

    def log_metric(self, value: float, step: int) -> None:
        point = Metric(key=self.metric, value=v.metric_value(self.metric, value), step=step,
                       timestamp=now_ms())
        self.client.log_batch(self.run_id, metrics=[point])
        self.last_step = step if self.last_step is None else max(self.last_step, step)

    def end(self, status: RunStatus, params: Mapping[str, Any], tags: Mapping[str, str],
            value: float | None = None, *, terminate: bool = True) -> int:
        """Log the trial's outcome; returns the time it ended (the run stays open unless
        ``terminate``)."""
        ended = now_ms()
        metrics = []
        if value is not None:
            # the final value is the metric's latest point: at the last reported step
            metrics.append(Metric(key=self.metric, value=value, step=self.last_step or 0,
                                  timestamp=ended))
        self.client.log_batch(
            self.run_id, metrics=metrics,
            params=[Param(key=k, value=v.param_value(k, val)) for k, val in params.items()],
            tags=[RunTag(key=k, value=v.tag_value(k, val)) for k, val in tags.items()])
        if terminate:
            self.client.set_terminated(self.run_id, status, end_time=ended)
        return ended


@dataclass
class _Held:
    """This worker's best completed trial so far, whose run stays open until the study ends.

    A finished run accepts no more tags, and which trial is the best is known
    only at the end: so the best candidate's run is ended last (with the time
    its trial ended), after it is tagged ``dockyard.best_trial=true``.
    """

    run: _TrialRun
    value: float
    ended: int
    number: int

    def worse_than(self, other: _Held, maximize: bool) -> bool:
        if other.value == self.value:  # a tie goes to the earlier trial, as in Optuna
            return other.number < self.number
        return other.value > self.value if maximize else other.value < self.value

    def terminate(self) -> None:
        self.run.client.set_terminated(self.run.run_id, RunStatus.FINISHED, end_time=self.ended)


_lock = threading.Lock()
_running: dict[int, _TrialRun] = {}  # id(optuna trial) -> its run, while the objective runs


def report(trial: optuna.Trial, value: float, step: int, *, prune: bool = True) -> None:
    """Report an intermediate value: ``trial.report`` plus the trial run's metric at ``step``.

    With ``prune`` (the default), raises ``optuna.TrialPruned`` when the pruner
    says the trial should stop; :func:`tune` then ends its run tagged
    ``dockyard.trial_state=pruned``.
    """
    trial.report(value, step)
    with _lock:
        run = _running.get(id(trial))
    if run is not None:
        run.log_metric(value, step)
    if prune and trial.should_prune():
        raise _optuna().TrialPruned(f"pruned at step {step}")


def trial_run_id(trial: optuna.Trial) -> str:
    """The id of the run that records ``trial`` (to log more into it with a Client)."""
    return str(trial.user_attrs[RUN_ID_ATTR])


class _Objective:
    def __init__(self, func: Callable[..., Any], space: dict[str, Any] | None, client: Client,
                 parent: fluent.ActiveRun, study_name: str, metric: str) -> None:
        self.func, self.space, self.client = func, space, client
        self.parent, self.study_name, self.metric = parent, study_name, metric
        self.source = capture_source(client.user)
        self.maximize = False
        self.held: _Held | None = None
        self.held_lock = threading.Lock()

    def __call__(self, trial: optuna.Trial) -> Any:
        optuna = _optuna()
        made = self.client.create_run(
            self.parent.experiment_id, f"trial-{trial.number}", parent_id=self.parent.id,
            source=self.source,
            tags={"dockyard.trial": str(trial.number), "dockyard.study": self.study_name})
        trial.set_user_attr(RUN_ID_ATTR, made.id)
        run = _TrialRun(self.client, made.id, self.metric)
        with _lock:
            _running[id(trial)] = run
        try:
            if self.space is None:
                value = self.func(trial)
            else:
                params = suggest(trial, self.space)
                self.client.log_batch(made.id, params=[
                    Param(key=k, value=v.param_value(k, val)) for k, val in params.items()])
                value = self.func(params, trial)
        except optuna.TrialPruned:
            # pruning is the search working as asked, not a failure: the run FINISHED
            run.end(RunStatus.FINISHED, trial.params, {"dockyard.trial_state": "pruned"})
            raise
        except KeyboardInterrupt:
            run.end(RunStatus.KILLED, trial.params, {"dockyard.trial_state": "killed"})
            raise
        except BaseException as exc:
            run.end(RunStatus.FAILED, trial.params, {"dockyard.trial_state": "failed",
                                                     "dockyard.error": _error(exc)})
            raise
        finally:
            with _lock:
                _running.pop(id(trial), None)
        try:
            number = float(value)
            if math.isnan(number):
                raise ValueError("the objective returned NaN")
        except (TypeError, ValueError) as exc:  # Optuna marks the trial FAIL too
            run.end(RunStatus.FAILED, trial.params, {
                "dockyard.trial_state": "failed",
                "dockyard.error": f"the objective returned {value!r}, not a number: {exc}"[
                    :_ERROR_LIMIT]})
            return value
        ended = run.end(RunStatus.FINISHED, trial.params, {"dockyard.trial_state": "complete"},
                        number, terminate=False)
        self._hold(_Held(run, number, ended, trial.number))
        return value

    def _hold(self, candidate: _Held) -> None:
        """Keep the better of ``candidate`` and the held trial open; end the other."""
        with self.held_lock:
            held = self.held
            if held is None or held.worse_than(candidate, self.maximize):
                self.held, candidate = candidate, held  # type: ignore[assignment]
        if candidate is not None:
            candidate.terminate()

    def release(self) -> None:
        """Tag the held run, the best trial among this study run's children, and end it."""
        with self.held_lock:
            held, self.held = self.held, None
        if held is not None:
            self.client.set_tag(held.run.run_id, "dockyard.best_trial", "true")
        held.terminate()


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_ERROR_LIMIT]


# the study ---------------------------------------------------------------------------------
def _check_args(direction: str, n_trials: Any, timeout: Any, n_jobs: Any, metric: str,
                storage: Any, study_name: str | None) -> None:
    if direction not in ("minimize", "maximize"):
        raise InvalidArgument(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int)
                                 or n_trials < 1):
        raise InvalidArgument(f"n_trials must be a positive integer, got {n_trials!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise InvalidArgument(f"timeout must be a positive number of seconds, got {timeout!r}")
    if n_trials is None and timeout is None:
        raise InvalidArgument("give n_trials or timeout (or both): when should the study stop?")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1):
        raise InvalidArgument(f"n_jobs must be a positive integer or -1 (one per CPU), "
                              f"got {n_jobs!r}")
    v.validate_key("metric", metric)
    if storage is not None and not study_name:
        raise InvalidArgument("a shared storage needs a study_name: every worker passes the same "
                              "one to join the study")
    if study_name is not None:
        v.validate_name("study", study_name)


def tune(objective: Callable[..., Any], space: Mapping[str, Any] | None = None, *,
         n_trials: int | None = None, timeout: float | None = None,
         direction: str = "minimize", sampler: Any = None, pruner: Any = None,
         n_jobs: int = 1, storage: Any = None, study_name: str | None = None,
         metric: str = "objective", seed: int | None = None,
         catch: tuple[type[Exception], ...] = (Exception,)) -> TuneResult:
    """Search hyperparameters with Optuna; every trial is a child run of the study's run.

    With ``space`` (see :func:`parse_space`), ``objective(params, trial)`` gets
    the sampled values; without it, ``objective(trial)`` calls
    ``trial.suggest_*`` itself. Either returns the value to minimize or
    maximize; report intermediate values with :func:`report` for pruning.

    ``sampler`` is ``"tpe"`` (default), ``"random"``, ``"cmaes"`` or an Optuna
    sampler; ``seed`` seeds a sampler given by name. ``pruner`` is
    ``"median"``, ``"hyperband"``, ``"none"`` or an Optuna pruner (default:
    Optuna's median pruner). ``storage`` is None (in memory) or a database URI
    (``postgresql://...``, ``sqlite:///...``) shared by every worker that
    passes the same ``study_name``; ``n_trials`` and ``timeout`` count for
    this worker. Trials raising one of ``catch`` end FAILED and the study goes
    on; ``catch=()`` stops it at the first failure. Pruned trials end FINISHED,
    tagged ``dockyard.trial_state=pruned``.

    The best of this call's trials is tagged ``dockyard.best_trial=true``; the
    study's run gets ``best_value``, ``best_<param>`` and
    ``dockyard.best_trial_run`` for the study's best as its storage holds it.
    """
    optuna = _optuna()
    _check_args(direction, n_trials, timeout, n_jobs, metric, storage, study_name)
    parsed = parse_space(space) if space is not None else None
    rdb = _storage(optuna, storage)
    study = optuna.create_study(
        storage=rdb, sampler=_sampler(optuna, sampler, seed),
        pruner=_pruner(optuna, pruner), study_name=study_name, direction=direction,
        load_if_exists=True)
    name = study.study_name
    own = fluent.active_run() is None
    parent = fluent.start_run(name=name) if own else fluent.active_run()
    assert parent is not None
    status = RunStatus.FAILED
    result: TuneResult | None = None
    try:
        fluent.flush()  # the study's run is in the store before its children point at it
        client = fluent._client()
        client.set_tag(parent.id, "dockyard.study", name)
        client.log_batch(parent.id, tags=[RunTag(key=k, value=v.tag_value(k, val)) for k, val in {
            "dockyard.study.direction": direction,
            "dockyard.study.metric": metric,
            "dockyard.study.n_trials": "" if n_trials is None else str(n_trials),
            "dockyard.study.sampler": type(study.sampler).__name__,
            "dockyard.study.pruner": type(study.pruner).__name__,
            "dockyard.study.space": _describe(parsed) if parsed else "",
        }.items()])
        func = _Objective(objective, parsed, client, parent, name, metric)
        func.maximize = direction == "maximize"
        try:
            with _quiet(optuna):
                study.optimize(func, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs,
                               catch=tuple(catch))
            result = _record_best(optuna, study, client, parent)
        finally:
            func.release()
        status = RunStatus.FINISHED
        return result
    except KeyboardInterrupt:
        status = RunStatus.KILLED
        raise
    finally:
        if own:
            fluent.end_run(status)
        if rdb is not None and rdb is not storage:
            rdb.engine.dispose()  # close this worker's connections; the study reopens on use


def _record_best(optuna: Any, study: Any, client: Client, parent: fluent.ActiveRun) -> TuneResult:
    """Log the best trial, as the study's storage holds it, on the study's run."""
    result = TuneResult(study=study, run_id=parent.id)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        log.warning("dockyard.tune: no trial of study %s completed", study.study_name)
        return result
    best = study.best_trial
    result.best_value, result.best_params = best.value, dict(best.params)
    result.best_trial = best.number
    result.best_run_id = best.user_attrs.get(RUN_ID_ATTR)
    client.log_metric(parent.id, "best_value", best.value)
    try:
        client.log_batch(parent.id, params=[
            Param(key=v.validate_key("param", f"best_{k}"), value=v.param_value(k, val))
            for k, val in best.params.items()])
    except Conflict as exc:  # the same run tuned twice keeps its first best params
        log.warning("dockyard.tune: best params not logged on run %s: %s", parent.id, exc)
    if result.best_run_id is None:
        return result
    client.log_batch(parent.id, tags=[
        RunTag(key="dockyard.best_trial_run", value=result.best_run_id),
        RunTag(key="dockyard.best_trial", value=str(best.number))])
    return result
