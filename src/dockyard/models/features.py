"""Feature steps: the transforms from raw input to model features, packaged with the model.

A model is trained on features made from raw rows; a server gets raw rows.
When the transforms live in the training script and are re-written for
serving, the two drift apart (training/serving skew). A package saved with
``features=`` holds the fitted transforms themselves, and every consumer of
the package (``LoadedModel.predict``, ``dockyard serve``, batch scoring,
``spark_udf``, Ray Serve) runs them before the model, so serving applies
exactly the training transforms.

Two kinds of feature pipeline:

- a fitted scikit-learn transformer (a ``Pipeline``, a ``ColumnTransformer``,
  a ``StandardScaler`` ...), saved with skops when skops can (loading it runs
  no code) and with joblib otherwise;
- :class:`FeatureSteps`, Dockyard's own sequence of named Python steps, each
  a function of a DataFrame (or an object with a ``transform`` method),
  saved with cloudpickle: loading it runs code, so the trust rule applies.

The rule for what comes out (:func:`transform_features`): features are always
a pandas DataFrame with string column names, one row per input row. A
transformer that answers a numpy array (a ``ColumnTransformer`` does) or a
SciPy sparse matrix (made dense) gets its columns named by its
``get_feature_names_out()``; a transformer without usable names gets
``"0"``, ``"1"``, ... The model therefore always sees the same named columns,
at training time and in every server.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import sys
import sysconfig
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from dockyard.errors import InvalidArgument
from dockyard.models.flavors.base import has_base, import_engine

__all__ = [
    "FeatureSpec",
    "FeatureStepError",
    "FeatureSteps",
    "check_features",
    "feature_requirements",
    "load_features",
    "save_features",
    "transform_features",
]

STEPS_KIND, SKLEARN_KIND = "steps", "sklearn"
_FILES = {"cloudpickle": "features.pkl", "skops": "features.skops", "joblib": "features.joblib"}
_FORMAT_REQUIREMENTS = {
    "cloudpickle": ("cloudpickle", "pandas"),
    "skops": ("scikit-learn", "skops", "pandas"),
    "joblib": ("scikit-learn", "joblib", "pandas"),
}
_CODE_RUNNING_FORMATS = frozenset({"cloudpickle", "joblib"})
_WHY_CODE_RUNS = {
    "cloudpickle": "its feature steps are saved with cloudpickle",
    "joblib": "its feature pipeline is saved with joblib",
}

Step = Callable[[pd.DataFrame], pd.DataFrame] | Any
"""A function of a DataFrame returning a DataFrame, or an object with ``transform(df)``."""


class FeatureStepError(RuntimeError):
    """A feature step raised, or returned something other than features for every row.

    ``step`` names the step; the original exception, if any, is the ``__cause__``.
    """

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


class FeatureSteps:
    """Dockyard's own feature pipeline: named Python steps run in order.

    ::

        features = FeatureSteps([
            ("tenure_years", lambda df: df.assign(tenure_years=df.tenure / 12)),
            ("log_charges", add_log_charges),
            ("scale", fitted_column_transformer),
        ])
        X = features.transform(raw)

    Each step is a function taking a pandas DataFrame and returning one, or
    an object with a ``transform(df)`` method (a fitted scikit-learn
    transformer); an array such an object returns becomes a DataFrame by the
    rule of :func:`transform_features`. Steps are used as given: fit
    scikit-learn steps before building the pipeline. :meth:`fit` and
    :meth:`fit_transform` exist so that the pipeline reads like a
    scikit-learn one; they fit nothing.

    Raises InvalidArgument when a name is empty or repeated, or a step is
    neither callable nor has a ``transform`` method.
    """

    def __init__(self, steps: Sequence[tuple[str, Step]]) -> None:
        checked: list[tuple[str, Step]] = []
        for item in steps:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise InvalidArgument(
                    f"a feature step is a (name, function) pair, got {item!r:.80}"
                )
            name, step = item
            if not isinstance(name, str) or not name:
                raise InvalidArgument(f"a feature step needs a non-empty name, got {name!r}")
            if any(name == seen for seen, _ in checked):
                raise InvalidArgument(f"feature step name {name!r} is used twice")
            if not (callable(getattr(step, "transform", None)) or callable(step)):
                raise InvalidArgument(
                    f"feature step {name!r} is a {type(step).__name__}: give a function of a "
                    "DataFrame or an object with a transform(df) method"
                )
            checked.append((name, step))
        if not checked:
            raise InvalidArgument("FeatureSteps needs at least one step")
        self.steps: list[tuple[str, Step]] = checked

    @property
    def names(self) -> list[str]:
        """The step names, in order."""
        return [name for name, _ in self.steps]

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Run every step on ``df`` in order and return the last step's DataFrame.

        Raises FeatureStepError naming the step when a step raises (chained
        to the original exception), returns something other than a DataFrame
        (or an array, for a ``transform`` object), or changes the row count.
        """
        frame = df
        for name, step in self.steps:
            method = getattr(step, "transform", None)
            call = method if callable(method) else step
            output = _run(call, frame, name)
            if isinstance(output, pd.DataFrame):
                result = output
            elif callable(method):
                result = _as_frame(output, step, frame, name)
            else:
                raise FeatureStepError(
                    f"feature step {name!r} returned a {type(output).__name__}, not a pandas "
                    "DataFrame; return the frame (df.assign(...) gives a new one)",
                    step=name,
                )
            _check_rows(result, frame, name)
            frame = result
        return _named(frame)

    def fit(self, df: pd.DataFrame, y: Any = None) -> FeatureSteps:
        """Nothing to fit (steps are used as given); returns ``self``."""
        return self

    def fit_transform(self, df: pd.DataFrame, y: Any = None) -> pd.DataFrame:
        """The same as :meth:`transform`."""
        return self.transform(df)

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[tuple[str, Step]]:
        return iter(self.steps)

    def __repr__(self) -> str:
        inner = ", ".join(f"({name!r}, {_describe(step)})" for name, step in self.steps)
        return f"FeatureSteps([{inner}])"


class FeatureSpec(BaseModel):
    """The feature pipeline's entry in the package manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    """``steps`` for :class:`FeatureSteps`, ``sklearn`` for a scikit-learn transformer."""
    format: str
    """``cloudpickle``, ``skops`` or ``joblib``."""
    files: list[str]
    """The pipeline's files, relative to the package folder (their sha256 are in ``files``)."""
    type: str
    """The pipeline's class, ``module:QualName`` (for people)."""
    steps: list[str]
    """The step names: FeatureSteps names, Pipeline steps or ColumnTransformer transformers."""
    columns: list[str] | None = None
    """The feature columns the input example gave, when there was one."""
    untrusted_types: list[str] = Field(default_factory=list)
    """skops only: the types skops will not build from a file without trust."""

    @property
    def executes_code_on_load(self) -> bool:
        """Whether reading the pipeline runs code stored in the package."""
        return self.format in _CODE_RUNNING_FORMATS

    @property
    def why_code_runs(self) -> str:
        """Why loading runs code, for the UntrustedModel message."""
        return _WHY_CODE_RUNS.get(self.format, f"its feature pipeline is saved as {self.format}")


def transform_features(features: Any, data: pd.DataFrame) -> pd.DataFrame:
    """The features of ``data``: the one transform training and serving share.

    ``features`` is a :class:`FeatureSteps` or a fitted scikit-learn
    transformer. The result is a DataFrame with string column names and
    ``data``'s index: an array answer is named by ``get_feature_names_out()``
    (else ``"0"``, ``"1"``, ...), a sparse one is made dense. Call it at
    training time to get exactly what a loaded package, and every server,
    gives the model.

    Raises FeatureStepError naming the step that failed.
    """
    if isinstance(features, FeatureSteps):
        return features.transform(data)
    name = type(features).__name__
    result = _as_frame(_run(features.transform, data, name), features, data, name)
    _check_rows(result, data, name)
    return result


def check_features(features: Any) -> Any:
    """``features`` as a pipeline :func:`save_features` takes; raises InvalidArgument otherwise.

    A list of ``(name, step)`` pairs becomes :class:`FeatureSteps`.
    """
    if isinstance(features, FeatureSteps):
        return features
    if isinstance(features, (list, tuple)):
        return FeatureSteps(features)
    if has_base(features, "sklearn.base", "BaseEstimator"):
        if not callable(getattr(features, "transform", None)):
            raise InvalidArgument(
                f"features= takes a fitted transformer; a {type(features).__name__} has no "
                "transform method (pass the preprocessing part, not the whole model)"
            )
        return features
    raise InvalidArgument(
        f"features= takes a fitted scikit-learn transformer (Pipeline, ColumnTransformer ...) "
        f"or a dockyard.models.FeatureSteps, not a {type(features).__module__}."
        f"{type(features).__qualname__}; wrap functions in FeatureSteps([(name, function)])"
    )


def save_features(
    features: Any, directory: Path, *, example: pd.DataFrame | None = None
) -> tuple[FeatureSpec, Any]:
    """Write a feature pipeline into the package folder ``directory``.

    Returns the manifest entry and the pipeline's features of ``example``
    (None without one). A scikit-learn transformer is written with skops,
    or with joblib (with a ``UserWarning``) when skops cannot; a
    :class:`FeatureSteps` with cloudpickle, its steps' functions by value
    when they come from the user's own modules, so that the package keeps
    the code it was trained with.
    """
    features = check_features(features)
    columns = None
    transformed = None
    if example is not None:
        transformed = transform_features(features, example)
        columns = [str(name) for name in transformed.columns]
    kind_type = f"{type(features).__module__}:{type(features).__qualname__}"
    if isinstance(features, FeatureSteps):
        _dump_steps(features, directory / _FILES["cloudpickle"])
        spec = FeatureSpec(kind=STEPS_KIND, format="cloudpickle", files=[_FILES["cloudpickle"]],
                           type=kind_type, steps=features.names, columns=columns)
        return spec, transformed
    from dockyard.models.flavors.sklearn import _dump_joblib, _save_skops

    steps = _sklearn_steps(features)
    reason, untrusted = _save_skops(features, directory / _FILES["skops"])
    if reason is None:
        spec = FeatureSpec(kind=SKLEARN_KIND, format="skops", files=[_FILES["skops"]],
                           type=kind_type, steps=steps, columns=columns,
                           untrusted_types=untrusted)
        return spec, transformed
    (directory / _FILES["skops"]).unlink(missing_ok=True)
    warnings.warn(
        f"skops cannot save the feature pipeline ({reason}); saved it with joblib instead, "
        "which runs code when it loads: the package will load only from the store it is "
        "logged to, or with trust=True",
        UserWarning,
        stacklevel=3,
    )
    _dump_joblib(import_engine("joblib", "sklearn"), features, directory / _FILES["joblib"])
    spec = FeatureSpec(kind=SKLEARN_KIND, format="joblib", files=[_FILES["joblib"]],
                       type=kind_type, steps=steps, columns=columns)
    return spec, transformed


def load_features(directory: Path, spec: FeatureSpec, *, trust: bool) -> Any:
    """Read the feature pipeline back; the files are verified and trusted as needed.

    Raises UntrustedModel when a skops file would build types skops does
    not consider safe and ``trust`` is False, InvalidArgument for an
    unknown format.
    """
    if spec.format not in _FILES or spec.files != [_FILES[spec.format]]:
        raise InvalidArgument(
            f"the manifest's feature pipeline has format {spec.format!r} with files "
            f"{spec.files}; this Dockyard reads {', '.join(_FILES)} (one file each)"
        )
    path = directory / spec.files[0]
    if spec.format == "cloudpickle":
        cloudpickle = import_engine("cloudpickle", "pyfunc")
        with open(path, "rb") as stream:
            loaded = cloudpickle.load(stream)
        if not isinstance(loaded, FeatureSteps):
            raise InvalidArgument(f"{path.name} holds a {type(loaded).__qualname__}, "
                                  "not FeatureSteps")
        return loaded
    if spec.format == "joblib":
        return import_engine("joblib", "sklearn").load(path)
    from dockyard.models.flavors.sklearn import load_skops

    return load_skops(path, trust=trust, what=f"the feature pipeline {path.name}")


# ---------------------------------------------------------------- helpers


def _run(call: Callable[[pd.DataFrame], Any], frame: pd.DataFrame, name: str) -> Any:
    try:
        return call(frame)
    except FeatureStepError:
        raise
    except Exception as exc:
        raise FeatureStepError(
            f"feature step {name!r} raised {type(exc).__name__}: {exc}", step=name
        ) from exc


def _as_frame(output: Any, transformer: Any, source: pd.DataFrame, name: str) -> pd.DataFrame:
    """A transformer's answer as a DataFrame, by the rule in the module docstring."""
    if isinstance(output, pd.DataFrame):
        return _named(output)
    if hasattr(output, "toarray") and hasattr(output, "nnz"):  # a SciPy sparse matrix
        output = output.toarray()
    if not isinstance(output, np.ndarray):
        raise FeatureStepError(
            f"feature step {name!r} returned a {type(output).__name__}; a transformer must "
            "return a DataFrame or a 2-D array",
            step=name,
        )
    if output.ndim == 1:
        output = output.reshape(-1, 1)
    if output.ndim != 2:
        raise FeatureStepError(
            f"feature step {name!r} returned an array of shape {output.shape}, not a 2-D array",
            step=name,
        )
    columns = _feature_names(transformer, output.shape[1])
    index = source.index if len(source.index) == len(output) else None
    return pd.DataFrame(output, columns=columns, index=index)


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with string column names (features are named by strings everywhere)."""
    if all(isinstance(column, str) for column in frame.columns):
        return frame
    return frame.set_axis([str(column) for column in frame.columns], axis=1)


def _feature_names(transformer: Any, width: int) -> list[str]:
    method = getattr(transformer, "get_feature_names_out", None)
    if callable(method):
        try:
            names = [str(name) for name in method()]
        except Exception:  # noqa: BLE001 - a transformer without names gets positions
            names = []
        if len(names) == width and len(set(names)) == width:
            return names
    return [str(i) for i in range(width)]


def _check_rows(result: pd.DataFrame, source: pd.DataFrame, name: str) -> None:
    if len(result) != len(source):
        raise FeatureStepError(
            f"feature step {name!r} returned {len(result)} rows for {len(source)}; a feature "
            "step must keep one row per input row (predictions are matched to rows by position)",
            step=name,
        )


def _describe(step: Any) -> str:
    if isinstance(step, functools.partial):
        return f"partial({_describe(step.func)})"
    if isinstance(step, types.FunctionType):
        return step.__name__
    return repr(step) if len(repr(step)) <= 60 else type(step).__name__ + "(...)"


def _sklearn_steps(features: Any) -> list[str]:
    if isinstance(getattr(features, "steps", None), list):
        return [str(step[0]) for step in features.steps]
    if isinstance(getattr(features, "transformers", None), list):
        return [str(item[0]) for item in features.transformers]
    return [type(features).__name__]


def _dump_steps(features: FeatureSteps, path: Path) -> None:
    cloudpickle = import_engine("cloudpickle", "pyfunc")
    try:
        with _by_value(_user_modules(features)), open(path, "wb") as out:
            cloudpickle.dump(features, out)
    except Exception as exc:
        raise InvalidArgument(
            f"cannot save the feature steps with cloudpickle: {type(exc).__name__}: {exc}"
        ) from exc


def _user_modules(features: FeatureSteps) -> set[str]:
    """The modules of the steps' code that are the user's own (not installed packages).

    Their functions are pickled by value: the package keeps the very code it
    was trained with, and loads where the training script is not importable.
    """
    installed = {
        os.path.realpath(path)
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
    found: set[str] = set()
    for _, step in features.steps:
        while isinstance(step, functools.partial):
            step = step.func
        module_name = (
            step.__module__ if isinstance(step, types.FunctionType) else type(step).__module__
        )
        if module_name in (None, "__main__") or module_name.split(".")[0] == "dockyard":
            continue
        module = sys.modules.get(module_name)
        file = getattr(module, "__file__", None)
        if file is None:
            continue
        real = os.path.realpath(file)
        if not any(real.startswith(root + os.sep) for root in installed):
            found.add(module_name)
    return found


@contextmanager
def _by_value(modules: set[str]) -> Iterator[None]:
    cloudpickle = import_engine("cloudpickle", "pyfunc")
    registered = []
    try:
        for name in sorted(modules):
            if name not in cloudpickle.list_registry_pickle_by_value():
                cloudpickle.register_pickle_by_value(sys.modules[name])
                registered.append(name)
        yield
    finally:
        for name in registered:
            cloudpickle.unregister_pickle_by_value(sys.modules[name])


def feature_requirements(features: Any, fmt: str) -> list[str]:
    """Pinned requirement lines for loading and running ``features`` saved as ``fmt``."""
    from dockyard.models.environment import distribution_of, used_modules

    modules = used_modules(features)
    steps = features.steps if isinstance(features, FeatureSteps) else []
    for _, step in steps:
        while isinstance(step, functools.partial):
            step = step.func
        if isinstance(step, types.FunctionType):
            # What a step function calls (np.log, scipy.special ...) is named in its globals.
            for name in step.__code__.co_names:
                value = step.__globals__.get(name)
                if isinstance(value, types.ModuleType):
                    modules.add(value.__name__)
                elif callable(value) and isinstance(getattr(value, "__module__", None), str):
                    modules.add(value.__module__)
    names = {dist for module in modules if (dist := distribution_of(module))}
    names.update(_FORMAT_REQUIREMENTS.get(fmt, ()))
    pins: dict[str, str] = {}
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key != "dockyard":
            pins[key] = f"{dist.metadata['Name']}=={dist.version}"
    return [pins[key] for key in sorted(pins)]
