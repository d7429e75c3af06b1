"""scikit-learn estimators and pipelines, saved with skops (no code runs on load) or joblib.

skops writes a zip of JSON and ``.npy`` files and rebuilds only the types its
caller allows. An untrusted load allows what skops itself considers safe to
build from a file; any other type (a custom transformer, a user function, or
scikit-learn's tree structures, whose node arrays skops does not check) needs
the package to come from the store it was logged to, or ``trust=True``.

By default a package also holds a joblib copy of the same estimator,
``model.joblib``, which loads several times faster than skops but is pickle:
it is read only by a trusted load (a package from the registry or run it was
logged to, or ``trust=True``), after every file's checksum is verified. An
untrusted load reads the skops file. ``serialization="skops"`` writes the
skops file alone.

When skops cannot save an estimator (or ``serialization="joblib"`` is asked
for), the model is saved with joblib only: the package is marked
``executes_code_on_load`` and the trust rule applies to it as a whole.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument, UntrustedModel
from dockyard.models.flavors.base import Flavor, SavedModel, SaveOptions, has_base, import_engine

if TYPE_CHECKING:
    from dockyard.models.package import ModelManifest

_FORMATS = ("skops", "joblib")
_TRUSTED_COPY = "model.joblib"


class SklearnFlavor(Flavor):
    name = "sklearn"
    extra = "sklearn"
    requirements = ("scikit-learn",)
    format_requirements: ClassVar[dict[str, tuple[str, ...]]] = {
        "skops": ("skops",),
        "joblib": ("joblib",),
    }
    code_executing_formats = frozenset({"joblib"})

    def detect(self, model: Any) -> bool:
        return has_base(model, "sklearn.base", "BaseEstimator")

    def save(self, model: Any, directory: Path, options: SaveOptions) -> SavedModel:
        asked = options.serialization
        if asked is not None and asked not in _FORMATS:
            raise InvalidArgument(
                f"the sklearn flavor saves with 'skops' or 'joblib', not {asked!r}"
            )
        joblib = import_engine("joblib", self.extra)
        if asked != "joblib":
            reason, untrusted = _save_skops(model, directory / "model.skops")
            if reason is None:
                options: dict[str, Any] = {"untrusted_types": untrusted}
                files = ["model.skops"]
                if asked is None:
                    _dump_joblib(joblib, model, directory / _TRUSTED_COPY)
                    options["trusted_copy"] = _TRUSTED_COPY
                    files.append(_TRUSTED_COPY)
                return SavedModel(files, "skops", options,
                                  requirements=_pins("joblib") if asked is None else [])
            (directory / "model.skops").unlink(missing_ok=True)
            if asked == "skops":
                raise InvalidArgument(f"skops cannot save this model: {reason}")
            warnings.warn(
                f"skops cannot save this model ({reason}); saved it with joblib instead, "
                "which runs code when it loads: it will load only from the store it is "
                "logged to, or with trust=True",
                UserWarning,
                stacklevel=3,
            )
        _dump_joblib(joblib, model, directory / "model.joblib")
        return SavedModel(["model.joblib"], "joblib", executes_code_on_load=True)

    def load(self, directory: Path, manifest: ModelManifest, *, trust: bool) -> Any:
        fmt = manifest.loader.format
        self.check_format(fmt, _FORMATS)
        path = directory / manifest.model_files[0]
        copy = manifest.loader.options.get("trusted_copy")
        if fmt == "skops" and trust and copy in manifest.model_files:
            # The package was verified before this is called; a trusted load may read pickle.
            path, fmt = directory / copy, "joblib"
        if fmt == "joblib":
            return import_engine("joblib", self.extra).load(path)
        return load_skops(path, trust=trust, what=f"the skops file {path.name}")

    def predict(self, model: Any, data: Any) -> Any:
        # A preprocessing pipeline has no predict: what it gives is its transform.
        method = getattr(model, "predict", None) or model.transform
        return method(_as_fitted(model, data))

    def supports_proba(self, model: Any) -> bool:
        return hasattr(model, "predict_proba")

    def predict_proba(self, model: Any, data: Any) -> Any:
        return model.predict_proba(_as_fitted(model, data))


def _dump_joblib(joblib: Any, model: Any, path: Path) -> None:
    try:
        joblib.dump(model, path)
    except Exception as exc:
        raise InvalidArgument(
            f"cannot save this model with joblib: {type(exc).__name__}: {exc}; "
            "define functions and classes the model uses at module level (not lambdas "
            "or local functions)"
        ) from exc


def _pins(*names: str) -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def _as_fitted(model: Any, data: Any) -> Any:
    """Give the estimator the input form it was fitted on: named columns or a plain array.

    A signature may name columns of a model fitted on an array, or be a tensor
    for a model fitted on a DataFrame; scikit-learn warns on either mismatch.
    """
    names = getattr(model, "feature_names_in_", None)
    if isinstance(data, pd.DataFrame) and names is None:
        return data.to_numpy()
    if isinstance(data, np.ndarray) and names is not None and data.shape[1:] == (len(names),):
        return pd.DataFrame(data, columns=list(names))
    return data


def _save_skops(model: Any, path: Path) -> tuple[str | None, list[str]]:
    """Save with skops: (None, the types skops will not build untrusted), or (why it cannot, [])."""
    try:
        sio = importlib.import_module("skops.io")
    except ImportError:
        return "skops is not installed (pip install 'dockyard[sklearn]')", []
    try:
        _dump_skops(sio, model, path)
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back to joblib
        return f"{type(exc).__name__}: {exc}", []
    untrusted = list(sio.get_untrusted_types(file=path))
    # skops writes lambdas and local functions by name, but cannot find them again.
    lost = [name for name in untrusted if "<lambda>" in name or "<locals>" in name]
    if lost:
        return f"it refers to {', '.join(lost)}, which cannot be imported back", []
    return None, untrusted


def _dump_skops(sio: Any, model: Any, path: Path) -> None:
    """``skops.io.dump``, but writing the zip straight to ``path``.

    ``skops.io.dump`` builds the whole archive in memory before writing it,
    which doubles the peak memory of saving a large model; this writes each
    array into the file as it goes. Falls back to ``dump`` if skops changes.
    """
    try:
        skops = importlib.import_module("skops")
        utils = importlib.import_module("skops.io._utils")
        save_context, get_state = utils.SaveContext, utils.get_state
    except (ImportError, AttributeError):
        sio.dump(model, path)
        return
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        context = save_context(zip_file=archive)
        state = get_state(model, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = skops.__version__
        archive.writestr("schema.json", json.dumps(state, separators=(",", ":")))


def load_skops(path: Path, *, trust: bool, what: str) -> Any:
    """Read a skops file; untrusted, skops builds only the types it considers safe to build
    from a file, and UntrustedModel names the others."""
    sio = import_engine("skops.io", "sklearn")
    if trust:
        return sio.load(path, trusted=sio.get_untrusted_types(file=path))
    exceptions = importlib.import_module("skops.io.exceptions")
    try:
        return sio.load(path, trusted=[])
    except exceptions.UntrustedTypesFoundException:
        refused = list(sio.get_untrusted_types(file=path))
    raise UntrustedModel(
        f"{what} would build types that skops does not consider safe to load from a file: "
        f"{', '.join(refused)} (their code, or their unchecked arrays, could be abused by a "
        "crafted file). Load the model from the registry or run it was logged to, or pass "
        "trust=True if you trust where it came from",
        path=path.name,
        types=refused,
    )
