"""XGBoost boosters and scikit-learn wrappers, in XGBoost's own JSON model format.

``save_model`` writes the trees, the objective and (for the wrappers) the
scikit-learn attributes such as the number of classes, so a loaded
``XGBClassifier`` still returns labels from ``predict`` and probabilities
from ``predict_proba``. The JSON format holds no code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

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

_WRAPPERS = frozenset(
    {"XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor", "XGBModel"}
)
_FORMAT = "xgboost-json"


class XGBoostFlavor(Flavor):
    name = "xgboost"
    extra = "xgboost"
    requirements = ("xgboost",)

    def detect(self, model: Any) -> bool:
        return self._kind(model) is not None

    def save(self, model: Any, directory: Path, options: SaveOptions) -> SavedModel:
        if options.serialization not in (None, _FORMAT, "json"):
            raise InvalidArgument(
                f"the xgboost flavor saves in {_FORMAT!r}, not {options.serialization!r}"
            )
        kind = self._kind(model)
        if kind is None:
            raise InvalidArgument(f"not an XGBoost model: {type(model).__qualname__}")
        model.save_model(str(directory / "model.json"))
        return SavedModel(["model.json"], _FORMAT, {"class": kind})

    def load(self, directory: Path, manifest: ModelManifest, *, trust: bool) -> Any:
        self.check_format(manifest.loader.format, (_FORMAT,))
        xgb = import_engine("xgboost", self.extra)
        kind = manifest.loader.options.get("class", "Booster")
        # Only the classes named here are built: the manifest never picks arbitrary code.
        if kind != "Booster" and kind not in _WRAPPERS:
            raise InvalidArgument(f"unknown XGBoost model class {kind!r} in the manifest")
        model = getattr(xgb, kind)()
        model.load_model(str(directory / manifest.model_files[0]))
        return model

    def predict(self, model: Any, data: Any) -> Any:
        if self._kind(model) != "Booster":
            return model.predict(_named(model.get_booster(), data))
        xgb = import_engine("xgboost", self.extra)
        return model.predict(xgb.DMatrix(_named(model, data)))

    def supports_proba(self, model: Any) -> bool:
        return hasattr(model, "predict_proba")

    def predict_proba(self, model: Any, data: Any) -> Any:
        return model.predict_proba(_named(model.get_booster(), data))

    @staticmethod
    def _kind(model: Any) -> str | None:
        wrapper = nearest_class(model, "xgboost.", _WRAPPERS)
        if wrapper is not None:
            return wrapper
        return nearest_class(model, "xgboost.", frozenset({"Booster"}))


def _named(booster: Any, data: Any) -> Any:
    """Columns named as the booster was trained, or an array when it was trained on one."""
    names = booster.feature_names
    if isinstance(data, pd.DataFrame) and names is None:
        return data.to_numpy()
    if isinstance(data, np.ndarray) and names is not None and data.shape[1:] == (len(names),):
        return pd.DataFrame(data, columns=names)
    return data
