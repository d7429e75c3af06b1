"""Explain: which features the model's answers depend on.

Permutation importance (always): for each of the model's feature columns
(:attr:`~dockyard.validation.evaluation.Evaluation.model_columns`), the drop of the
primary metric (accuracy; RMSE for a regression, where the drop is
``permuted − baseline``) when that column's values are shuffled across the
rows, so that its link to the label is broken while its distribution stays.
Each column is shuffled ``n_repeats`` times on a random sample of at most
``max_rows`` rows (fewer when ``n_repeats × columns × rows`` would pass
:data:`MAX_PREDICTIONS`); the shuffled copies are stacked and predicted in
as few model calls as possible. Table ``permutation_importance`` (feature,
importance_mean, importance_std: the mean and the population std over the
repeats), most important first; metric ``explain.top_feature_importance``
(the largest mean).

SHAP (``shap="auto"`` when the ``shap`` package is installed, ``True`` to
require it, ``False`` to skip): SHAP values on a sample of at most 500 rows.
A tree ensemble the explainer knows (the estimator itself, or a
LoadedModel's ``raw`` engine object when the package has no feature
pipeline) gets a TreeExplainer: exact Tree SHAP when its cost (nodes × depth²
per row) fits a budget, else the fast Saabas approximation, as the summary
says. Any other model gets shap's model-agnostic permutation explainer over its
prediction function with a 50-row background sample, on at most 100 rows
(fewer when the model would have to predict more than 200,000 rows); shap
compiles it on first use in a process (a few seconds, once). The explained
output is the positive class's probability of a binary classifier, the
prediction of a regressor, and all class probabilities of a multiclass model
(averaged in absolute value). Table
``shap`` (feature, mean_abs_shap), largest first, and figure
``shap_summary`` (SVG: each row's SHAP value per feature, coloured by the
feature's value; needs matplotlib).
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.validation.evaluation import Evaluation, higher_is_better
from dockyard.validation.results import CheckResult
from dockyard.validation.robustness import predict_frames

MAX_PREDICTIONS = 150_000
"""The most shuffled rows the permutation importance predicts."""
SHAP_ROWS = 500
MODEL_SHAP_ROWS = 100
"""The most rows the model-agnostic SHAP explainer explains (it calls the model per row)."""
BACKGROUND_ROWS = 50
TREE_BUDGET = 1e10
"""Tree SHAP cost budget in nodes × depth² × rows (about a few seconds)."""
MODEL_ROW_BUDGET = 200_000
"""The most rows the model-agnostic SHAP explainer may have the model predict."""
_INSTALL = "pip install 'dockyard[shap]'"


def names(task: str, metric_names: tuple[str, ...], *, n_repeats: int = 5, max_rows: int = 5000,
          seed: int = 0, shap: bool | str = "auto") -> list[str]:
    """The metric names :func:`explain` produces."""
    _check_options(n_repeats, max_rows, seed, shap)
    return ["explain.top_feature_importance"]


def explain(ev: Evaluation, *, n_repeats: int = 5, max_rows: int = 5000, seed: int = 0,
            shap: bool | str = "auto") -> CheckResult:
    """Permutation importance and, with the shap package, SHAP values; see the module."""
    use_shap = _check_options(n_repeats, max_rows, seed, shap)
    columns = ev.model_columns
    rng = np.random.default_rng(seed)
    n = max(1, min(len(ev.features), max_rows, MAX_PREDICTIONS // (n_repeats * len(columns))))
    rows = rng.permutation(len(ev.features))[:n]
    x = ev.features.iloc[rows][columns].reset_index(drop=True)
    labels, primary = ev.labels[rows], ev.primary_metric
    base = ev.score(labels, ev.predictions[rows])[primary]
    frames = []
    for c in columns:
        for _ in range(n_repeats):
            frame = x.copy()
            frame[c] = x[c].iloc[rng.permutation(n)].reset_index(drop=True)
            frames.append(frame)
    answers = predict_frames(ev, frames, scores=False)
    failed = next((a for a in answers if isinstance(a, Exception)), None)
    if failed is not None:
        return CheckResult(name="explain", error="the model failed on data with a column "
                           f"shuffled: {type(failed).__name__}: {failed}")
    sign = 1.0 if higher_is_better(primary) else -1.0
    drops = np.array([sign * (base - ev.score(labels, a[0])[primary])  # type: ignore[index]
                      for a in answers]).reshape(len(columns), n_repeats)
    table = sorted(({"feature": c, "importance_mean": float(drops[i].mean()),
                     "importance_std": float(drops[i].std())} for i, c in enumerate(columns)),
                   key=lambda row: -row["importance_mean"])
    result = CheckResult(
        name="explain", metrics={"explain.top_feature_importance": table[0]["importance_mean"]},
        tables={"permutation_importance": table},
        summary=f"Shuffling {table[0]['feature']!r} costs the most {primary} "
                f"({table[0]['importance_mean']:.4f}; {n} rows, {n_repeats} repeats).")
    if use_shap:
        _add_shap(ev, x, rng, result)
    return result


def _check_options(n_repeats: Any, max_rows: Any, seed: Any, shap: Any) -> bool:
    """Checks the options; whether SHAP values will be computed."""
    for name, value, least in (("n_repeats", n_repeats, 1), ("max_rows", max_rows, 2),
                               ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InvalidArgument(f"{name} must be an integer of at least {least}, "
                                  f"got {value!r}")
    if not (shap is True or shap is False or isinstance(shap, str) and shap == "auto"):
        raise InvalidArgument(f"shap must be 'auto', True or False, got {shap!r}")
    installed = importlib.util.find_spec("shap") is not None
    if shap is True and not installed:
        raise InvalidArgument(f"shap=True needs the shap package: {_INSTALL} (or pass "
                              "shap='auto' to skip SHAP values when it is missing)")
    return installed and shap is not False


# SHAP ---------------------------------------------------------------------------------------
def _import_shap() -> Any:
    with warnings.catch_warnings():  # shap's colour maps use a matplotlib call due to change
        warnings.filterwarnings("ignore", message="The set_(bad|over|under) function",
                                category=PendingDeprecationWarning)
        import shap
    return shap


def _add_shap(ev: Evaluation, x: pd.DataFrame, rng: np.random.Generator,
              result: CheckResult) -> None:
    shap = _import_shap()
    sample = x.iloc[:SHAP_ROWS]
    try:
        values, method = _tree_shap(shap, ev, sample)
    except Exception:  # noqa: BLE001 - not a tree ensemble shap knows, or not these columns
        values, method = None, ""
    if values is None:
        values, sample, method = _model_shap(shap, ev, x, rng)
    if values is None:
        result.summary += f" No SHAP values: {method}."
        return
    magnitude = np.abs(values).mean(axis=0)
    order = np.argsort(-magnitude, kind="stable")
    result.tables["shap"] = [{"feature": x.columns[i], "mean_abs_shap": float(magnitude[i])}
                             for i in order]
    result.summary += f" SHAP ({method}, {len(sample)} rows): {x.columns[order[0]]!r} first."
    if importlib.util.find_spec("matplotlib") is not None:
        result.figures["shap_summary"] = _summary_plot(values, sample, order)


def _positive_index(ev: Evaluation, estimator: Any) -> int:
    order = list(getattr(estimator, "classes_", ev.classes if ev.classes is not None else []))
    return order.index(ev.positive_class) if ev.positive_class in order else -1


def _select(ev: Evaluation, raw: Any, estimator: Any) -> np.ndarray:
    """Per row and feature, the SHAP value of the explained output (see the module)."""
    values = np.stack(raw, axis=-1) if isinstance(raw, list) else np.asarray(raw)
    if values.ndim == 3 and values.shape[-1] == 2 and ev.positive_class is not None:
        return values[:, :, _positive_index(ev, estimator)]
    if values.ndim == 3:
        return np.abs(values).mean(axis=-1)
    if ev.positive_class is not None and _positive_index(ev, estimator) == 0:
        return -values  # a binary margin is for the second class
    return values


def _tree_shap(shap: Any, ev: Evaluation, sample: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    model = ev.model
    if getattr(model, "raw", None) is not None and getattr(model, "features", None) is not None:
        return None, ""
    estimator = getattr(model, "raw", model)
    explainer = shap.TreeExplainer(estimator)
    trees = explainer.model
    cost = float(np.sum(trees.num_nodes)) * float(trees.max_depth) ** 2 * len(sample)
    approximate = cost > TREE_BUDGET
    with warnings.catch_warnings():  # a notice that shap changed its LightGBM output shape
        warnings.filterwarnings("ignore", message="LightGBM binary classifier with TreeExplainer",
                                category=UserWarning)
        raw = explainer.shap_values(sample, check_additivity=False, approximate=approximate)
    method = "tree, Saabas approximation" if approximate else "tree"
    return _select(ev, raw, estimator), method


def _model_shap(shap: Any, ev: Evaluation, x: pd.DataFrame, rng: np.random.Generator
                ) -> tuple[np.ndarray | None, pd.DataFrame, str]:
    proba = getattr(ev.model, "predict_proba", None)
    if ev.task == "classification" and ev.scores is None and (proba is None or ev.classes is None
                                                              or len(ev.classes) < 3):
        return None, x, "the classifier gives no probabilities to explain"
    encoded, decode = _encode(x)

    def output(data: np.ndarray) -> np.ndarray:
        frame = decode(data)
        if ev.task == "regression":
            return np.asarray(ev.predict(frame), dtype=np.float64)
        if ev.scores is not None:
            return np.asarray(ev.scores_for(frame))
        return np.asarray(proba(frame), dtype=np.float64)  # type: ignore[misc]

    background = encoded[rng.permutation(len(x))[:BACKGROUND_ROWS]]
    evals = 2 * (2 * len(x.columns) + 1)  # two antithetic permutations per row
    n = max(10, min(MODEL_SHAP_ROWS, MODEL_ROW_BUDGET // (evals * len(background))))
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.Explainer(output, masker, algorithm="permutation", seed=0)
    explanation = explainer(encoded[:n], max_evals=evals, silent=True)
    values = np.asarray(explanation.values, dtype=np.float64)
    return (np.abs(values).mean(axis=-1) if values.ndim == 3 else values), x.iloc[:n], \
        "permutation"


def _encode(x: pd.DataFrame) -> tuple[np.ndarray, Any]:
    """``x`` as a float matrix (a non-numeric column by the codes of its values, -1 for
    missing) for shap's masker, and the function that turns such a matrix back into a frame
    of ``x``'s columns and dtypes."""
    encoded = np.empty(x.shape, dtype=np.float64)
    values: dict[int, np.ndarray] = {}
    for j, c in enumerate(x.columns):
        if x[c].dtype.kind in "iuf":
            encoded[:, j] = x[c].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            codes, uniques = pd.factorize(x[c])
            encoded[:, j] = codes
            values[j] = np.append(np.asarray(uniques, dtype=object), None)  # code -1: None
    dtypes = x.dtypes.to_dict()

    def decode(data: np.ndarray) -> pd.DataFrame:
        data = np.asarray(data, dtype=np.float64)
        columns = {c: values[j][data[:, j].astype(np.int64)] if j in values else data[:, j]
                   for j, c in enumerate(x.columns)}
        frame = pd.DataFrame(columns)
        return frame.astype({c: t for c, t in dtypes.items()
                             if not (t.kind in "iu" and frame[c].isna().any())})

    return encoded, decode


def _summary_plot(values: np.ndarray, sample: pd.DataFrame, order: np.ndarray,
                  top: int = 15) -> str:
    """Dots of each row's SHAP value per feature (most important on top), coloured by the
    feature's value between its 5th and 95th percentiles in the sample (grey for a
    non-numeric feature)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = order[:top]
    figure = Figure(figsize=(7, 0.4 * len(shown) + 1.2))
    FigureCanvasAgg(figure)  # no pyplot: nothing global to close
    axes = figure.add_subplot()
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(values))
    dots = None
    for position, i in enumerate(shown[::-1]):
        column = sample.iloc[:, i]
        if column.dtype.kind in "biuf":
            raw = column.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = raw[np.isfinite(raw)]
            low, high = np.percentile(finite, [5, 95]) if len(finite) else (0.0, 0.0)
            color = np.clip((raw - low) / (high - low), 0, 1) if high > low \
                else np.full(len(raw), 0.5)
            dots = axes.scatter(values[:, i], position + jitter, c=color, cmap="coolwarm",
                                vmin=0, vmax=1, s=8, rasterized=True)
        else:
            axes.scatter(values[:, i], position + jitter, c="grey", s=8, rasterized=True)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(shown)), [str(sample.columns[i]) for i in shown[::-1]])
    axes.set_xlabel("SHAP value (effect on the model's output)")
    if dots is not None:
        bar = figure.colorbar(dots, ax=axes, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value")
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", dpi=100)
    return buffer.getvalue()
