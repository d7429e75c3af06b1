"""Automatic logging: ``dockyard.autolog()`` and training calls log themselves.

    import dockyard

    dockyard.autolog()
    model = RandomForestClassifier(n_estimators=200).fit(X, y)   # a run, fully logged

What a training call logs:

* scikit-learn (every estimator's ``fit``, Pipelines and search-CV included):
  ``get_params(deep=False)``, ``training_*`` metrics on the training data, the
  fitted model with its signature and input example, feature importances
  (``feature_importances_`` or ``coef_``) as ``feature_importances.parquet``;
  GridSearchCV and RandomizedSearchCV add ``best_*`` params, ``best_cv_score``,
  ``cv_results.parquet`` and one child run per top candidate.
* XGBoost and LightGBM (``xgboost.train``, ``lightgbm.train`` and their
  scikit-learn wrappers): params, per-iteration evaluation metrics
  (``<eval name>-<metric>`` at step = iteration), the model and its gain
  importances.

A fit with no active run starts one and ends it when the fit returns; inside
a run it logs into that run. The params (and a booster's per-iteration
metrics) are logged during the call; the rest is slower (metrics need a pass
over the training data, the model package a save) and is logged by a
background thread from a copy of the fitted model and of the data, taken when
the fit returns, so the call returns as soon as the model is trained. The run
ends once that work is done; ``dockyard.flush()`` waits for it, and so do
``end_run``, reading a run back and interpreter exit. ``background=False``
logs everything before the call returns (a model that cannot be pickled is
always logged that way). Only the outermost training call logs: the
estimators a Pipeline or a search fits inside it are not logged on their own.
Frameworks that are not installed are skipped, and ``autolog`` imports none:
one the script has not imported yet is patched when it first imports it.
PyTorch Lightning's ``Trainer.fit`` is patched too: see
:mod:`dockyard.train.autolog_lightning`.

Autologging never breaks training. Each logging step is guarded: a failure
is reported once per kind as a ``logging`` warning on ``dockyard.autolog`` and
the training call returns its result unchanged. Errors raised by the training
itself propagate as they are, and a run that autologging started ends FAILED.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import inspect
import logging
import pickle
import re
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from dockyard.entities import RunStatus
from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument
from dockyard.train import fluent
from dockyard.train.import_hooks import ImportHooks

log = logging.getLogger("dockyard.autolog")

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "pytorch_lightning")
IMPORTANCES_FILE = "feature_importances.parquet"
CV_RESULTS_FILE = "cv_results.parquet"
_EXAMPLE_ROWS = 5
_MARK = "__dockyard_autolog_original__"


class _Config:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.patches: list[tuple[Any, str, Any]] = []
        self.log_models = True
        self.log_input_examples = True
        self.log_importances = True
        self.max_tuning_runs: int | None = 10
        self.silent = False
        self.background = True
        self.warned: set[str] = set()
        self.owner: int | None = None  # the thread whose training call is being logged
        self.quiet = threading.local()  # set while a thread does autolog's own work
        self.fitted: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


_config = _Config()
_hooks = ImportHooks()


def autolog(*, log_models: bool = True, log_input_examples: bool = True,
            log_importances: bool = True, max_tuning_runs: int | None = 10,
            disable: bool = False, frameworks: Iterable[str] | None = None,
            silent: bool = False, background: bool = True) -> None:
    """Log training calls of scikit-learn, XGBoost, LightGBM and PyTorch Lightning without
    logging code.

    ``frameworks`` picks some of ``sklearn``, ``xgboost``, ``lightgbm`` and
    ``pytorch_lightning`` (``None``: all that are installed). ``max_tuning_runs`` caps the child runs
    a search-CV makes (``None``: every candidate). ``silent`` hides the
    warnings a failed logging step writes. ``background=False`` logs the model,
    the training metrics and the importances before the training call returns
    instead of on the background thread. ``disable=True`` puts the original
    methods back. Calling ``autolog`` again replaces the earlier settings.
    See the module docstring for what is logged.
    """
    if max_tuning_runs is not None and (isinstance(max_tuning_runs, bool)
                                        or not isinstance(max_tuning_runs, int)
                                        or max_tuning_runs < 0):
        raise InvalidArgument(f"max_tuning_runs must be a non-negative integer or None, "
                              f"got {max_tuning_runs!r}")
    chosen = list(FRAMEWORKS if frameworks is None else frameworks)
    unknown = sorted(set(chosen) - set(FRAMEWORKS))
    if unknown:
        raise InvalidArgument(f"autolog supports {', '.join(FRAMEWORKS)}; "
                              f"unknown: {', '.join(unknown)}")
    with _config.lock:
        _unpatch()
        if disable:
            return
        _config.log_models, _config.log_input_examples = log_models, log_input_examples
        _config.log_importances, _config.max_tuning_runs = log_importances, max_tuning_runs
        _config.silent, _config.background = silent, background
        _config.warned.clear()
        _hooks.install({name: functools.partial(_patch_framework, name) for name in chosen
                        if importlib.util.find_spec(name) is not None})


# patching -------------------------------------------------------------------------------
def _patch_framework(name: str) -> None:
    """Patch one framework, now or when it is first imported (never failing the import)."""
    with _config.lock:
        try:
            _PATCHERS[name]()
        except Exception as exc:
            log.warning("dockyard.autolog could not patch %s: %r; its training calls are "
                        "not logged", name, exc)


def _unpatch() -> None:
    _hooks.remove()
    for owner, attr, original in reversed(_config.patches):
        setattr(owner, attr, original)
    _config.patches.clear()


def _patch(owner: Any, attr: str, wrap: Callable[[Any], Any]) -> None:
    original = vars(owner).get(attr)
    if not inspect.isfunction(original) or hasattr(original, _MARK):
        return  # descriptors (available_if) and already-wrapped methods stay as they are
    wrapper = functools.wraps(original)(wrap(original))
    setattr(wrapper, _MARK, original)
    setattr(owner, attr, wrapper)
    _config.patches.append((owner, attr, original))


def _classes(roots: Iterable[type], module: str) -> Iterator[type]:
    """The classes of ``module`` among the roots, their bases and their subclasses."""
    seen: set[type] = set()
    todo = list(roots)
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if cls.__module__.startswith(module):
            yield cls
        todo.extend(c for c in cls.__mro__[1:] if c is not object)
        todo.extend(cls.__subclasses__())


def _patch_sklearn() -> None:
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        roots = [cls for _, cls in all_estimators()]
    for cls in _classes(roots, "sklearn."):
        _patch(cls, "fit", lambda original: _training_call(original, _estimator_fit))
        _patch(cls, "score", _scored)


def _patch_xgboost() -> None:
    import xgboost

    _patch_module(xgboost, "train", lambda original: _training_call(original, _xgboost_train))
    for cls in _classes([xgboost.XGBModel], "xgboost."):
        _patch(cls, "fit", lambda original: _training_call(original, _estimator_fit))


def _patch_lightgbm() -> None:
    import lightgbm

    _patch_module(lightgbm, "train", lambda original: _training_call(original, _lightgbm_train))
    for cls in _classes([lightgbm.LGBMModel], "lightgbm."):
        _patch(cls, "fit", lambda original: _training_call(original, _estimator_fit))


def _patch_module(module: Any, attr: str, wrap: Callable[[Any], Any]) -> None:
    original = getattr(module, attr)
    if hasattr(original, _MARK):
        return
    wrapper = functools.wraps(original)(wrap(original))
    setattr(wrapper, _MARK, original)
    setattr(module, attr, wrapper)
    _config.patches.append((module, attr, original))


def _patch_pytorch_lightning() -> None:
    from dockyard.train import autolog_lightning

    autolog_lightning.patch()


_PATCHERS: dict[str, Callable[[], None]] = {
    "sklearn": _patch_sklearn, "xgboost": _patch_xgboost, "lightgbm": _patch_lightgbm,
    "pytorch_lightning": _patch_pytorch_lightning}


# the guard --------------------------------------------------------------------------------
def _warn(kind: str, exc: BaseException) -> None:
    if kind in _config.warned:
        return
    _config.warned.add(kind)
    if not _config.silent:
        log.warning("dockyard.autolog could not log the %s: %r; training goes on", kind, exc)


def _step(kind: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one logging step; a failure is a warning, never the caller's problem."""
    try:
        return fn(*args)
    except Exception as exc:
        _warn(kind, exc)
        return None


def _claim() -> bool:
    """Whether this call is the outermost training call in the process (and now owns it).

    The fluent API's active run is process-wide, so fits that run inside a
    logged one (a Pipeline's steps, a search's candidates, in this thread or
    in joblib's threads) are not logged on their own.
    """
    if _quiet():
        return False  # a fit inside autolog's own work (a metric fits a label encoder)
    with _config.lock:
        if _config.owner is not None:
            return False
        _config.owner = threading.get_ident()
        return True


def _quiet() -> bool:
    return getattr(_config.quiet, "on", False)


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """Training and scoring calls in this block (on this thread) are not logged."""
    before, _config.quiet.on = _quiet(), True
    try:
        yield
    finally:
        _config.quiet.on = before


def _release() -> None:
    with _config.lock:
        _config.owner = None


Prepare = Callable[[str, tuple[Any, ...], dict[str, Any]],
                   tuple[tuple[Any, ...], dict[str, Any], Callable[[Any], None]]]
"""Given the run id and a training call's arguments: the arguments to call it with (a
callback added), and what to log from its result."""


def _training_call(original: Callable[..., Any], prepare: Prepare) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _claim():
            return original(*args, **kwargs)
        try:
            return _logged(original, prepare, args, kwargs)
        finally:
            _release()
    return wrapper


def _logged(original: Callable[..., Any], prepare: Prepare, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Any:
    started = False
    run = fluent.active_run()
    if run is None:
        try:
            run = fluent.start_run()
            started = True
        except Exception as exc:
            _warn("run", exc)
            return original(*args, **kwargs)
    after: Callable[[Any], None] | None = None
    call_args, call_kwargs = args, kwargs
    try:
        call_args, call_kwargs, after = prepare(run.id, args, kwargs)
    except Exception as exc:
        _warn("training call", exc)
    try:
        result = original(*call_args, **call_kwargs)
    except BaseException as exc:
        if started:
            status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
            _step("run end", fluent.end_run, status)
        raise
    try:
        if after is not None:
            _step("training results", after, result)
    finally:
        if started:
            _step("run end", fluent.end_run, RunStatus.FINISHED)
    return result


# params and metrics -----------------------------------------------------------------------
def _flatten(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, value in params.items():
        key = re.sub(r"[^A-Za-z0-9_\-./ :]", "_", f"{prefix}{name}")[:v.MAX_KEY_LENGTH]
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, key + ".")
        else:
            yield key, str(value)[:v.MAX_PARAM_VALUE_LENGTH].replace("\x00", "")


def _log_params(params: Mapping[str, Any]) -> None:
    fluent.log_params(dict(_flatten(params)))


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    finite = {}
    for key, value in metrics.items():
        try:
            finite[key] = v.metric_value(key, value)
        except InvalidArgument:
            continue  # a NaN (a metric undefined on this data) is skipped, not an error
    return finite


def _log_metrics(run_id: str, metrics: Mapping[str, Any], step: int = 0) -> None:
    for key, value in _finite(metrics).items():
        fluent.log_metric_to(run_id, key, value, step)


def _later(run_id: str, fitted: Any, work: Callable[..., None], *data: Any) -> None:
    """``work(fitted, *data)``: on the background thread, on copies taken now (so the
    caller may refit the estimator or change the data at once), or now when
    ``background`` is off or a copy cannot be made."""
    if _config.background:
        try:
            frozen, copies = pickle.dumps(fitted, protocol=5), copy.deepcopy(data)
        except Exception:
            frozen = None
        if frozen is not None:
            def later() -> None:
                with _quietly():
                    work(pickle.loads(frozen), *copies)
            fluent.in_background(run_id, later)
            return
    work(fitted, *data)


def _xy(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
    x = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    return x, y


def _training_metrics(est: Any, x: Any, y: Any, sample_weight: Any) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics
    from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier, is_regressor

    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if is_classifier(est):
            pred = est.predict(x)
            w = {"sample_weight": sample_weight}
            out["training_accuracy"] = metrics.accuracy_score(y, pred, **w)
            for name, fn in (("f1", metrics.f1_score), ("precision", metrics.precision_score),
                             ("recall", metrics.recall_score)):
                out[f"training_{name}"] = fn(y, pred, average="weighted", zero_division=0, **w)
            if hasattr(est, "predict_proba"):
                proba = np.asarray(est.predict_proba(x))
                classes = list(est.classes_)
                out["training_log_loss"] = metrics.log_loss(y, proba, labels=classes, **w)
                if len(classes) == 2:
                    out["training_roc_auc"] = metrics.roc_auc_score(y, proba[:, 1], **w)
                elif len(set(np.asarray(y).tolist())) == len(classes) > 2:
                    out["training_roc_auc"] = metrics.roc_auc_score(
                        y, proba, multi_class="ovr", labels=classes, **w)
        elif is_regressor(est):
            pred = est.predict(x)
            mse = metrics.mean_squared_error(y, pred, sample_weight=sample_weight)
            out.update(training_mse=mse, training_rmse=float(np.sqrt(mse)),
                       training_mae=metrics.mean_absolute_error(y, pred,
                                                                sample_weight=sample_weight),
                       training_r2=metrics.r2_score(y, pred, sample_weight=sample_weight))
        if hasattr(est, "score") and (is_classifier(est) or is_regressor(est)):
            # the mixins' score is accuracy or R^2 (unweighted): no second pass over the data
            score = _unwrapped(type(est).score)
            if score is _unwrapped(ClassifierMixin.score):
                out["training_score"] = metrics.accuracy_score(y, pred)
            elif score is _unwrapped(RegressorMixin.score):
                out["training_score"] = metrics.r2_score(y, pred)
            else:
                out["training_score"] = est.score(x, y)
    return out


def _unwrapped(method: Any) -> Any:
    return getattr(method, _MARK, method)


def _evaluation_history(run_id: str, history: Mapping[str, Mapping[str, Any]]) -> None:
    """``{eval name: {metric: [value per iteration]}}`` as metrics at step = iteration."""
    rounds = max((len(values) for metrics in history.values() for values in metrics.values()),
                 default=0)
    for step in range(rounds):
        _log_metrics(run_id, {f"{name}-{metric}": values[step]
                              for name, metrics in history.items()
                              for metric, values in metrics.items() if step < len(values)},
                     step)


# models and importances -------------------------------------------------------------------
def _head(x: Any) -> Any:
    return x.iloc[:_EXAMPLE_ROWS] if hasattr(x, "iloc") else x[:_EXAMPLE_ROWS]


def _log_model(run_id: str, model: Any, x: Any = None) -> None:
    client = fluent.stored_client()
    if x is not None and _config.log_input_examples:
        try:
            client.log_model(run_id, model, "model", input_example=_head(x))
            return
        except Exception as exc:
            _warn("input example", exc)
    client.log_model(run_id, model, "model")


def _feature_names(est: Any, outer: Any, x: Any, count: int) -> list[str]:
    candidates: list[Callable[[], Any]] = [lambda: est.feature_names_in_,
                                           lambda: outer[:-1].get_feature_names_out(),
                                           lambda: x.columns]
    for candidate in candidates:
        try:
            names = [str(n) for n in candidate()]
        except Exception:
            continue
        if len(names) == count:
            return names
    return [f"feature_{i}" for i in range(count)]


def _log_importances(run_id: str, model: Any, x: Any) -> None:
    import numpy as np

    outer = getattr(model, "best_estimator_", model)
    est = getattr(outer, "_final_estimator", outer)  # a Pipeline's last step
    columns: dict[str, Any] = {}
    if getattr(est, "feature_importances_", None) is not None:
        columns["importance"] = np.asarray(est.feature_importances_, dtype=float).ravel()
    elif getattr(est, "coef_", None) is not None:
        coef = np.atleast_2d(np.asarray(est.coef_, dtype=float))
        if coef.shape[0] == 1:
            columns["coefficient"] = coef[0]
        else:
            labels = list(getattr(est, "classes_", range(coef.shape[0])))
            columns.update({f"coefficient_{label}": row for label, row in zip(labels, coef)})
    if not columns:
        return
    count = len(next(iter(columns.values())))
    _log_table(run_id, {"feature": _feature_names(est, outer, x, count), **columns},
               IMPORTANCES_FILE)


def _log_table(run_id: str, data: Any, path: str) -> None:
    from dockyard.train import media

    media.log_table(fluent.stored_client(), run_id, data, path)


# scikit-learn and the wrappers ------------------------------------------------------------
def _estimator_fit(run_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    est = args[0]
    x, y = _xy(args[1:], kwargs)
    _step("params", _log_params, est.get_params(deep=False))

    def after(result: Any) -> None:
        _step("validation score", _remember, est, run_id)
        if hasattr(est, "cv_results_"):
            _step("search results", _log_search, run_id, est)
        history = getattr(est, "evals_result_", None)
        if isinstance(history, Mapping) and history:
            _step("evaluation metrics", _evaluation_history, run_id, history)
        _step("model", _later, run_id, est, functools.partial(_log_fitted, run_id),
              x, y, kwargs.get("sample_weight"))
    return args, kwargs, after


def _log_fitted(run_id: str, est: Any, x: Any, y: Any, sample_weight: Any) -> None:
    """What a fitted estimator logs once its training call has returned."""
    if y is not None:
        _step("training metrics", lambda: _log_metrics(
            run_id, _training_metrics(est, x, y, sample_weight)))
    if _config.log_importances:
        _step("feature importances", _log_importances, run_id, est, x)
    search = hasattr(est, "cv_results_")
    if _config.log_models and (not search or hasattr(est, "best_estimator_")):
        _step("model", _log_model, run_id, est.best_estimator_ if search else est, x)


def _log_search(run_id: str, search: Any) -> None:
    import numpy as np
    import pandas as pd

    results = search.cv_results_
    if hasattr(search, "best_params_"):
        _log_params({f"best_{k}": val for k, val in search.best_params_.items()})
    if hasattr(search, "best_score_"):
        _log_metrics(run_id, {"best_cv_score": search.best_score_})
    table = pd.DataFrame({key: list(values) if np.ma.isMaskedArray(values) else values
                          for key, values in results.items()})
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = table[column].map(str)
    _step("search results table", _log_table, run_id, table, CV_RESULTS_FILE)
    refit = search.refit if isinstance(search.refit, str) else "score"
    rank_key = f"rank_test_{refit}" if f"rank_test_{refit}" in results else "rank_test_score"
    order = np.argsort(np.asarray(results[rank_key]), kind="stable")
    limit = _config.max_tuning_runs
    scored = [k for k in results if k.startswith(("mean_", "std_", "rank_test_"))]
    for position, index in enumerate(order if limit is None else order[:limit]):
        with fluent.start_run(name=f"candidate-{position + 1}", nested=True,
                              log_system_metrics=False) as child:
            _log_params(results["params"][index])
            _log_metrics(child.id, {key: results[key][index] for key in scored})


def _remember(est: Any, run_id: str) -> None:
    _config.fitted[est] = run_id
    for inner in (getattr(est, "best_estimator_", None), getattr(est, "_final_estimator", None)):
        if inner is not None and inner is not est:
            _config.fitted[inner] = run_id  # a Pipeline's score is its last step's


def _scored(original: Callable[..., Any]) -> Callable[..., Any]:
    def score(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _quiet() or _config.owner is not None:
            return original(self, *args, **kwargs)
        with _quietly():
            result = original(self, *args, **kwargs)
        _step("validation score", _log_score, self, result)
        return result
    return score


def _log_score(est: Any, value: Any) -> None:
    """Log a score into the run the estimator was fitted in, while that run is active
    (a finished run takes no more metrics)."""
    try:
        run_id = _config.fitted.get(est)
    except TypeError:
        return
    active = fluent.active_run()
    if run_id is not None and active is not None and active.id == run_id:
        fluent.log_metrics(_finite({"validation_score": value}))


# native boosters --------------------------------------------------------------------------
def _bound(fn: Callable[..., Any], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> inspect.BoundArguments:
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def _with_callback(args: tuple[Any, ...], kwargs: dict[str, Any], fn: Callable[..., Any],
                   callback: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with ``callback`` added after the user's own callbacks."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.arguments["callbacks"] = [*(bound.arguments.get("callbacks") or []), callback]
    return bound.args, bound.kwargs


def _booster_after(run_id: str,
                   importances: Callable[[Any], tuple[list[str], list[float]]]) -> Any:
    def log(booster: Any) -> None:
        if _config.log_importances:
            def table() -> None:
                names, gains = importances(booster)
                _log_table(run_id, {"feature": names, "gain": gains}, IMPORTANCES_FILE)
            _step("feature importances", table)
        if _config.log_models:
            _step("model", _log_model, run_id, booster)

    def after(booster: Any) -> None:
        _step("model", _later, run_id, booster, log)
    return after


def _xgboost_train(run_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import xgboost

    train = getattr(xgboost.train, _MARK)
    bound = _bound(train, args, kwargs)
    _step("params", _log_params, {**(bound.arguments["params"] or {}),
                                  "num_boost_round": bound.arguments["num_boost_round"]})

    class Evaluations(xgboost.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            _step("evaluation metrics", lambda: _log_metrics(
                run_id, {f"{name}-{metric}": values[-1] for name, metrics in evals_log.items()
                         for metric, values in metrics.items() if len(values)}, epoch))
            return False

    def importances(booster: Any) -> tuple[list[str], list[float]]:
        gain = booster.get_score(importance_type="gain")
        return list(gain), [float(g) for g in gain.values()]

    call_args, call_kwargs = _with_callback(args, kwargs, train, Evaluations())
    return call_args, call_kwargs, _booster_after(run_id, importances)


class _LightGBMEvaluations:
    order = 100  # after LightGBM's own recording and early-stopping callbacks

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def __call__(self, env: Any) -> None:
        _step("evaluation metrics", lambda: _log_metrics(
            self.run_id,
            {f"{item[0]}-{item[1]}": item[2] for item in env.evaluation_result_list or ()},
            env.iteration))


def _lightgbm_train(run_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import lightgbm

    train = getattr(lightgbm.train, _MARK)
    bound = _bound(train, args, kwargs)
    _step("params", _log_params, {**(bound.arguments["params"] or {}),
                                  "num_boost_round": bound.arguments["num_boost_round"]})

    def importances(booster: Any) -> tuple[list[str], list[float]]:
        gains = booster.feature_importance(importance_type="gain")
        return list(booster.feature_name()), [float(g) for g in gains]

    call_args, call_kwargs = _with_callback(args, kwargs, train, _LightGBMEvaluations(run_id))
    return call_args, call_kwargs, _booster_after(run_id, importances)

