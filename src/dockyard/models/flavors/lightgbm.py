"""LightGBM boosters and scikit-learn wrappers, in LightGBM's own text model format.

The text file holds the trees (and the pandas categories the model was
trained with); it holds no code. A scikit-learn wrapper cannot be rebuilt
from it, so a loaded ``LGBMClassifier``/``LGBMRegressor``/``LGBMRanker`` is a
:class:`LightGBMEstimator` over the booster that keeps the wrapper's
``predict`` semantics: labels from a classifier, probabilities from
``predict_proba``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dockyard.errors import InvalidArgument
from dockyard.models.flavors.base import (
    Flavor,
    SavedModel,
    SaveOptions,
    import_engine,
    nearest_class,
)

if TYPE_CHECKING:
    from dockyard.models.package import ModelManifest

_FORMAT = "lightgbm-text"
_KINDS = {
    "LGBMClassifier": "classifier",
    "LGBMRegressor": "regressor",
    "LGBMRanker": "ranker",
    "LGBMModel": "regressor",
}


class LightGBMEstimator:
    """A loaded LightGBM scikit-learn wrapper: the booster plus what ``predict`` needs."""

    def __init__(self, booster: Any, kind: str, classes: list[Any] | None = None) -> None:
        self.booster = booster
        self.kind = kind
        self.classes_ = None if classes is None else np.asarray(classes)

    def predict(self, data: Any) -> np.ndarray:
        if self.kind != "classifier":
            return self.booster.predict(data)
        # As LGBMClassifier.predict: the most probable class, first one on a tie.
        return self.classes_[np.argmax(self.predict_proba(data), axis=1)]

    def predict_proba(self, data: Any) -> np.ndarray:
        if self.kind != "classifier":
            raise AttributeError(f"a LightGBM {self.kind} does not predict probabilities")
        scores = self.booster.predict(data)
        if scores.ndim == 1:
            return np.column_stack([1.0 - scores, scores])
        return scores

    def __repr__(self) -> str:
        return f"<LightGBMEstimator {self.kind}, {self.booster.num_trees()} trees>"


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    extra = "lightgbm"
    requirements = ("lightgbm",)

    def detect(self, model: Any) -> bool:
        return self._kind(model) is not None

    def save(self, model: Any, directory: Path, options: SaveOptions) -> SavedModel:
        if options.serialization not in (None, _FORMAT, "text"):
            raise InvalidArgument(
                f"the lightgbm flavor saves in {_FORMAT!r}, not {options.serialization!r}"
            )
        kind = self._kind(model)
        if kind is None:
            raise InvalidArgument(f"not a LightGBM model: {type(model).__qualname__}")
        facts: dict[str, Any] = {"kind": kind}
        booster = model
        if kind != "booster":
            booster = model.booster_
            if kind == "classifier":
                facts["classes"] = [_plain(label) for label in model.classes_]
        booster.save_model(str(directory / "model.txt"))
        return SavedModel(["model.txt"], _FORMAT, facts)

    def load(self, directory: Path, manifest: ModelManifest, *, trust: bool) -> Any:
        self.check_format(manifest.loader.format, (_FORMAT,))
        lgb = import_engine("lightgbm", self.extra)
        booster = lgb.Booster(model_file=str(directory / manifest.model_files[0]))
        kind = manifest.loader.options.get("kind", "booster")
        if kind == "booster":
            return booster
        if kind not in _KINDS.values():
            raise InvalidArgument(f"unknown LightGBM model kind {kind!r} in the manifest")
        return LightGBMEstimator(booster, kind, manifest.loader.options.get("classes"))

    def supports_proba(self, model: Any) -> bool:
        return isinstance(model, LightGBMEstimator) and model.kind == "classifier"

    def predict_proba(self, model: Any, data: Any) -> Any:
        return model.predict_proba(data)

    @staticmethod
    def _kind(model: Any) -> str | None:
        wrapper = nearest_class(model, "lightgbm.", frozenset(_KINDS))
        if wrapper is not None:
            return _KINDS[wrapper]
        if nearest_class(model, "lightgbm.", frozenset({"Booster"})) is not None:
            return "booster"
        return None


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value the manifest (YAML) can hold."""
    return value.item() if isinstance(value, np.generic) else value
