"""The model package: a folder with a readable manifest beside the model files.

::

    model/
      dockyard-model.yaml     flavor, loader, signature, environment, sha256 of every file
      requirements.txt        the pinned requirements, one per line
      model.skops             the model, in its flavor's format
      features.skops          optional: the feature pipeline (or features.joblib, features.pkl)
      input_example.json      optional (or input_example.parquet)

:func:`save` writes a package atomically (into a temporary sibling folder,
renamed into place); :func:`load` applies the trust rule, checks that the
folder holds exactly the listed files and verifies every checksum (before a
pickle-like file is read, beside the parser for the others); and
:class:`LoadedModel` checks every input against the signature before the
model sees it.

A package saved with ``features=`` holds the fitted feature pipeline
(:mod:`dockyard.models.features`) beside the model. Its signature then
describes the raw input callers send; :class:`LoadedModel` runs the
pipeline on every checked input before the model, so every consumer of the
package (the server, batch scoring, ``spark_udf``, Ray Serve) applies the
training transforms.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dockyard._version import __version__
from dockyard.errors import IntegrityError, InvalidArgument, NotFound, SchemaError, UntrustedModel
from dockyard.files import fsync_dir
from dockyard.models.environment import infer_requirements, merge_requirements, python_version
from dockyard.models.features import (
    FeatureSpec,
    check_features,
    feature_requirements,
    load_features,
    save_features,
    transform_features,
)
from dockyard.models.flavors import Flavor, SaveOptions, detect_flavor, get_flavor
from dockyard.models.signature import ExtraColumns, Signature, infer_signature, to_input

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "REQUIREMENTS_NAME",
    "LoadedModel",
    "LoaderSpec",
    "ModelManifest",
    "load",
    "package_digest",
    "parse_manifest",
    "read_manifest",
    "save",
    "verify",
]

MANIFEST_NAME = "dockyard-model.yaml"
REQUIREMENTS_NAME = "requirements.txt"
FORMAT_VERSION = 2
"""The newest manifest format this Dockyard reads.

Version 2 adds ``features``. Packages without a feature pipeline are still
written as version 1, so that an older Dockyard reads them; one with a
feature pipeline is refused by an older Dockyard instead of being served
without its transforms.
"""
_PLAIN_FORMAT_VERSION = 1
# Files a desktop drops into folders it shows; never part of a package.
_DESKTOP_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
# Below this, a thread costs more than hashing beside the parser saves.
_PARALLEL_HASH_BYTES = 4 * 1024 * 1024
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_WHY_CODE_RUNS = {
    "joblib": "joblib files are pickles",
    "cloudpickle": "cloudpickle files are pickles",
    "torch-pickle": "torch.save files are pickles",
    "torch-export": "torch.export archives may hold pickled payloads",
}


class LoaderSpec(BaseModel):
    """How to read the model files back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    module: str
    """The flavor's module (for people; loading goes by the flavor's registered name)."""
    format: str
    """The serialization format, e.g. ``skops``, ``joblib``, ``xgboost-json``, ``onnx``."""
    options: dict[str, Any] = Field(default_factory=dict)


class ModelManifest(BaseModel):
    """The content of ``dockyard-model.yaml``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format_version: int = _PLAIN_FORMAT_VERSION
    flavor: str
    loader: LoaderSpec
    model_files: list[str]
    signature: dict[str, Any] | None = None
    input_example: str | None = None
    """File name of the input example (JSON or Parquet), or None."""
    features: FeatureSpec | None = None
    """The feature pipeline run on the raw input before the model, or None."""
    python_version: str
    requirements: list[str] = Field(default_factory=list)
    executes_code_on_load: bool = False
    run_id: str | None = None
    dockyard_version: str
    created_at: str
    """When the package was saved, ISO 8601 in UTC."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str]
    """Every file of the package but the manifest: relative POSIX path -> sha256 hex digest."""

    @field_validator("signature")
    @classmethod
    def _valid_signature(cls, signature: dict[str, Any] | None) -> dict[str, Any] | None:
        if signature is not None:
            Signature.from_dict(signature)  # InvalidArgument is a ValueError: pydantic reports it
        return signature

    def get_signature(self) -> Signature | None:
        """The signature as a :class:`Signature`, or None."""
        return None if self.signature is None else Signature.from_dict(self.signature)


class LoadedModel:
    """A model read from a package, called through its signature.

    ``predict`` takes a pandas DataFrame, a dict of columns, a list of records
    or a numpy array and gives the same result for each: the input goes
    through :func:`~dockyard.models.signature.to_input` (SchemaError when it
    does not fit the signature), then through the package's feature
    pipeline when it has one (:attr:`features`), then to the flavor.
    ``predict_proba`` exists only when the model has it
    (``hasattr(model, "predict_proba")``).
    """

    def __init__(
        self, path: Path, manifest: ModelManifest, flavor: Flavor, model: Any,
        features: Any = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.signature: Signature | None = manifest.get_signature()
        self.flavor = flavor
        self.raw: Any = flavor.raw(model)
        """The engine's own object (estimator, booster, session, module, PythonModel)."""
        self.features: Any = features
        """The feature pipeline (a FeatureSteps or a scikit-learn transformer), or None."""
        self._model = model
        if flavor.supports_proba(model):
            self.predict_proba = self._predict_proba

    def predict(self, data: Any, *, extra_columns: ExtraColumns = "drop") -> Any:
        """Predictions for ``data``; raises SchemaError when it does not fit the signature."""
        model_input = to_input(data, self.signature, extra_columns=extra_columns)
        if self.features is not None:
            model_input = transform_features(self.features, model_input)
        return self.flavor.predict(self._model, model_input)

    def _predict_proba(self, data: Any, *, extra_columns: ExtraColumns = "drop") -> Any:
        model_input = to_input(data, self.signature, extra_columns=extra_columns)
        if self.features is not None:
            model_input = transform_features(self.features, model_input)
        return self.flavor.predict_proba(self._model, model_input)

    def transform(self, data: Any, *, extra_columns: ExtraColumns = "drop") -> pd.DataFrame:
        """The features the model sees for the raw input ``data``.

        ``data`` is checked against the signature first (SchemaError, before
        any step runs), then goes through the feature pipeline. Raises
        InvalidArgument when the package has no feature pipeline, and
        :class:`~dockyard.models.features.FeatureStepError` naming the step
        that failed.
        """
        if self.features is None:
            raise InvalidArgument(_no_features(self.path))
        model_input = to_input(data, self.signature, extra_columns=extra_columns)
        return transform_features(self.features, model_input)

    def transform_prepared(self, data: Any) -> pd.DataFrame:
        """The features for ``data`` already checked against the signature (for servers).

        ``data`` is the DataFrame :func:`~dockyard.models.signature.to_input`
        makes (a 2-D array is read as the signature's columns). Raises
        InvalidArgument when the package has no feature pipeline.
        """
        if self.features is None:
            raise InvalidArgument(_no_features(self.path))
        if not isinstance(data, pd.DataFrame):
            data = to_input(data, self.signature, extra_columns="ignore")
        return transform_features(self.features, data)

    def predict_prepared(self, data: Any, *, proba: bool = False) -> Any:
        """Predictions for ``data`` already checked and shaped as the flavor takes it.

        For servers that decode and check requests against the signature
        themselves: ``data`` goes to the flavor as is (a 2-D array or a
        DataFrame), after the feature pipeline when the package has one
        (which then takes the DataFrame of the signature's columns). Raises
        InvalidArgument for ``proba=True`` on a model without
        ``predict_proba``.
        """
        if proba and not self.flavor.supports_proba(self._model):
            raise InvalidArgument("this model does not predict probabilities")
        if self.features is not None:
            data = self.transform_prepared(data)
        if proba:
            return self.flavor.predict_proba(self._model, data)
        return self.flavor.predict(self._model, data)

    @property
    def input_example(self) -> pd.DataFrame | np.ndarray | None:
        """The input example saved with the model (raw input, before any features), or None."""
        if self.manifest.input_example is None:
            return None
        return _read_example(self.path / self.manifest.input_example)

    def __repr__(self) -> str:
        features = "" if self.manifest.features is None else " with features"
        return (f"<LoadedModel {self.manifest.flavor} ({self.manifest.loader.format})"
                f"{features} {self.path}>")


def _no_features(path: Path) -> str:
    return (f"the model at {path} has no feature pipeline: it takes its input as is. "
            "Save it with features= to package the transforms with the model")


def save(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    signature: Signature | Mapping[str, Any] | None = None,
    input_example: Any = None,
    requirements: Sequence[str] | None = None,
    extra_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    run_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    serialization: str | None = None,
    features: Any = None,
) -> ModelManifest:
    """Write ``model`` as a package into the new folder ``path`` and return its manifest.

    ``flavor`` is detected from the model when None. The signature is
    inferred from ``input_example`` (and the model's predictions on it) when
    not given, or read from the model when it declares its inputs (ONNX).
    ``requirements`` replaces the inferred requirements; ``extra_requirements``
    adds lines, replacing inferred lines of the same distribution.
    ``serialization`` asks for a format (``"joblib"`` for scikit-learn,
    ``"pickle"`` for PyTorch, ``"cloudpickle"`` for a PythonModel).
    ``artifacts`` and ``code_paths`` are for :class:`PythonModel`.

    ``features`` is the fitted feature pipeline the model was trained
    behind: a scikit-learn transformer (``Pipeline``, ``ColumnTransformer``
    ...), a :class:`~dockyard.models.features.FeatureSteps`, or a list of
    ``(name, function)`` pairs. It is saved beside the model and run on
    every input before the model. The signature then describes the raw
    input (named columns): give ``input_example`` as raw rows (the output
    signature comes from the model's predictions on their features) or a
    column ``signature``. FeatureSteps are saved with cloudpickle, which
    runs code on load: such a package loads only from the store it was
    logged to, or with ``trust=True``.

    Raises InvalidArgument when ``path`` exists and is not an empty folder
    (nothing is overwritten), or ``features`` come without a column
    signature or example; SchemaError when the example does not fit the
    given signature.
    """
    target = Path(path)
    _check_target(target)
    chosen = get_flavor(flavor) if flavor is not None else detect_flavor(model)
    if (artifacts or code_paths) and chosen.name != "python_model":
        raise InvalidArgument("artifacts and code_paths are for PythonModel models only")
    if isinstance(signature, Mapping):
        signature = Signature.from_dict(signature)
    if metadata is not None:
        _check_json("metadata", metadata)
    requirement_lines = _requirement_lines(requirements, extra_requirements)
    if features is not None:
        features = check_features(features)
        _check_feature_signature(signature, input_example)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    staging.mkdir()
    try:
        model_input = None
        if input_example is not None:
            model_input = to_input(input_example, signature or infer_signature(input_example))
        feature_spec = None
        if features is not None:
            # The model was trained on features: it is saved, and its outputs inferred, on them.
            feature_spec, model_input = save_features(features, staging, example=model_input)
        options = SaveOptions(
            serialization=serialization,
            example=model_input,
            artifacts={name: Path(p) for name, p in (artifacts or {}).items()},
            code_paths=tuple(Path(p) for p in code_paths or ()),
        )
        saved = chosen.save(model, staging, options)
        if signature is None and input_example is not None:
            predictor = model if saved.predictor is None else saved.predictor
            signature = _with_outputs(input_example, chosen.predict(predictor, model_input))
        elif signature is None:
            signature = chosen.default_signature(model)
        example_file = None if input_example is None else _write_example(staging, input_example)
        if requirement_lines[0] is None:
            pinned = infer_requirements(model, chosen, serialization=saved.format)
            pinned = sorted(merge_requirements(pinned, saved.requirements, replace=False),
                            key=str.lower)
        else:
            pinned = requirement_lines[0]
        if feature_spec is not None and requirement_lines[0] is None:
            pinned = sorted(merge_requirements(
                pinned, feature_requirements(features, feature_spec.format), replace=False
            ), key=str.lower)
        pinned = merge_requirements(pinned, requirement_lines[1])
        (staging / REQUIREMENTS_NAME).write_text("".join(f"{line}\n" for line in pinned))
        manifest = ModelManifest(
            format_version=_PLAIN_FORMAT_VERSION if feature_spec is None else FORMAT_VERSION,
            flavor=chosen.name,
            loader=LoaderSpec(
                module=type(chosen).__module__, format=saved.format, options=saved.options
            ),
            model_files=saved.files,
            signature=None if signature is None else signature.to_dict(),
            input_example=example_file,
            features=feature_spec,
            python_version=python_version(),
            requirements=pinned,
            executes_code_on_load=saved.executes_code_on_load or bool(
                feature_spec and feature_spec.executes_code_on_load
            ),
            run_id=run_id,
            dockyard_version=__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            metadata=dict(metadata or {}),
            files=_hash_folder(staging, durable=True),
        )
        _write_manifest(staging / MANIFEST_NAME, manifest)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def load(
    path: str | os.PathLike[str],
    *,
    trust: bool = False,
    digest: str | None = None,
    checksums: bool = True,
) -> LoadedModel:
    """Read the package in the local folder ``path``.

    Raises UntrustedModel when the package's format runs code on load (pickle,
    joblib, cloudpickle, shipped source) and ``trust`` is False: such packages
    load from the registry or run they were logged to (which pass
    ``trust=True``), or with an explicit ``trust=True``.

    Raises IntegrityError naming the file when a file is missing, changed or
    not in the manifest. Files of formats that run code are checked before
    they are read; the others are hashed while the engine parses them. Either
    way nothing is returned unverified.

    ``digest``, when given, is the :func:`package_digest` recorded when the
    package was logged; a manifest with another digest raises IntegrityError
    before anything else is read. With the checksums, that makes the folder
    byte for byte the package that was logged.

    A trusted load may read formats that run code (the scikit-learn flavor's
    fast joblib copy), so it verifies every file before reading any.
    ``checksums=False`` skips the per-file hashes (the listing and the
    ``digest`` are still checked); it is for callers that verified these very
    files already, such as the model cache of ``dockyard.load_model``.
    """
    directory = Path(path)
    file, content = _manifest_bytes(directory)
    if digest is not None and hashlib.sha256(content).hexdigest() != digest.lower():
        raise IntegrityError(
            f"the manifest of {directory} is not the one that was logged (its sha256 differs "
            "from the recorded package digest): the package was changed",
            path=MANIFEST_NAME,
        )
    manifest = parse_manifest(file, content)
    chosen = get_flavor(manifest.flavor)
    runs_code = (
        manifest.executes_code_on_load
        or chosen.executes_code(manifest.loader)
        or bool(manifest.features and manifest.features.executes_code_on_load)
    )
    if runs_code and not trust:
        model_code = manifest.executes_code_on_load and (
            manifest.features is None or not manifest.features.executes_code_on_load
        )
        raise _untrusted(directory, manifest, model_code or chosen.executes_code(manifest.loader))
    _check_listing(directory, manifest)
    sizes = sum((directory / name).stat().st_size for name in manifest.files)

    def read() -> tuple[Any, Any]:
        model = chosen.load(directory, manifest, trust=trust)
        if manifest.features is None:
            return model, None
        return model, load_features(directory, manifest.features, trust=trust)

    if not checksums:
        model, features = read()
    elif runs_code or trust or sizes < _PARALLEL_HASH_BYTES:
        # Pickle-like files are verified before a byte of them is read: a file changed in
        # the store must not get to run.
        _check_digests(directory, manifest)
        model, features = read()
    else:
        # The other formats hold no code, so hashing (which releases the GIL) runs
        # beside the engine's parser; nothing is returned before both finish.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dockyard-sha256") as pool:
            digests = pool.submit(_check_digests, directory, manifest)
            try:
                model, features = read()
            except Exception:
                digests.result()  # a changed file explains a parse error better than the parser
                raise
            digests.result()
    return LoadedModel(directory, manifest, chosen, model, features)


def read_manifest(path: str | os.PathLike[str]) -> ModelManifest:
    """The manifest of the package folder ``path`` (or of the manifest file itself).

    Raises NotFound when there is no manifest, InvalidArgument when it is not
    a valid manifest or was written by a newer Dockyard.
    """
    file, content = _manifest_bytes(Path(path))
    return parse_manifest(file, content)


def _manifest_bytes(path: Path) -> tuple[Path, bytes]:
    file = path if path.name == MANIFEST_NAME and not path.is_dir() else path / MANIFEST_NAME
    try:
        return file, file.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(
            f"{file.parent} is not a Dockyard model package: it has no {MANIFEST_NAME}",
            path=str(file.parent),
        ) from None


def parse_manifest(file: Path | str, content: bytes) -> ModelManifest:
    """The manifest in ``content`` (read from ``file``, named in errors). Raises InvalidArgument."""
    try:
        document = yaml.load(content, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{file} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidArgument(f"{file} is not a model manifest (expected a mapping)")
    version = document.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise InvalidArgument(
            f"{file} has format version {version}, newer than this Dockyard reads "
            f"({FORMAT_VERSION}); upgrade dockyard to load it"
        )
    try:
        return ModelManifest.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise InvalidArgument(
            f"{file} is not a valid model manifest: {field}: {error['msg']}"
        ) from exc


def verify(path: str | os.PathLike[str], manifest: ModelManifest | None = None) -> ModelManifest:
    """Check that the folder holds exactly the manifest's files, each with its sha256.

    Raises IntegrityError (``details["path"]`` names the file) for a missing,
    changed or unlisted file. Files are hashed streaming, never read whole.
    """
    directory = Path(path)
    manifest = manifest or read_manifest(directory)
    _check_listing(directory, manifest)
    _check_digests(directory, manifest)
    return manifest


def package_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of the package's manifest, which holds the sha256 of every other file.

    Record it when logging a package; a later download whose digest matches
    (and which :func:`verify` accepts) is byte for byte what was logged.
    """
    return _sha256(Path(path) / MANIFEST_NAME)


def _check_target(target: Path) -> None:
    if target.is_dir():
        if any(target.iterdir()):
            raise InvalidArgument(
                f"{target} already exists and is not empty; save the model into a new folder "
                "(nothing was overwritten)",
                path=str(target),
            )
    elif target.exists():
        raise InvalidArgument(f"{target} exists and is not a folder", path=str(target))


def _move_into_place(staging: Path, target: Path) -> None:
    try:
        if target.is_dir():
            target.rmdir()  # empty, checked before; fails if something arrived since
        os.rename(staging, target)
    except OSError as exc:
        raise InvalidArgument(
            f"cannot move the package into {target}: {exc.strerror or exc}", path=str(target)
        ) from exc
    fsync_dir(target.parent)


def _requirement_lines(
    requirements: Sequence[str] | None, extra: Sequence[str] | None
) -> tuple[list[str] | None, list[str]]:
    from dockyard.models.environment import requirement_name

    for line in [*(requirements or []), *(extra or [])]:
        if not isinstance(line, str) or "\n" in line:
            raise InvalidArgument(f"a requirement is one line of text, got {line!r}")
        requirement_name(line)
    base = None if requirements is None else [line.strip() for line in requirements]
    return base, [line.strip() for line in extra or []]


def _check_feature_signature(
    signature: Signature | None, input_example: Any
) -> None:
    """Feature pipelines take named columns: the raw input needs a column signature."""
    if signature is None and input_example is None:
        raise InvalidArgument(
            "a model with features= needs input_example= (raw rows, as callers send them) or "
            "a column signature=: the server builds the pipeline's DataFrame from it"
        )
    raw = signature if signature is not None else infer_signature(input_example)
    if raw.is_tensor:
        raise InvalidArgument(
            "features= takes named columns, but the raw input is an unnamed array; give "
            "input_example= as a DataFrame (or records) of the raw columns"
        )


def _with_outputs(example: Any, output: Any) -> Signature:
    try:
        return infer_signature(example, output)
    except SchemaError:  # outputs are informative; an untypeable output leaves them out
        return infer_signature(example)


def _check_json(what: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} must be plain JSON-like data: {exc}") from exc


def _untrusted(directory: Path, manifest: ModelManifest, model_code: bool) -> UntrustedModel:
    fmt = manifest.loader.format
    why = _WHY_CODE_RUNS.get(fmt, f"{fmt} is a format that runs code stored in the file")
    if manifest.loader.options.get("code_paths"):
        why = "it ships Python source that is imported when it loads"
    features = manifest.features
    if features is not None and features.executes_code_on_load:
        why = f"{why}; {features.why_code_runs}" if model_code else features.why_code_runs
    return UntrustedModel(
        f"refusing to load the {manifest.flavor} model at {directory}: loading it runs code "
        f"from the package ({why}), and a local folder is not known to be safe. Load it from "
        "the registry or run it was logged to (a models:/ or runs:/ URI), or pass trust=True "
        "if you trust where it came from",
        path=str(directory),
        format=fmt,
    )


def _package_files(directory: Path) -> list[str]:
    names = []
    for root, folders, files in os.walk(directory):
        relative = Path(root).relative_to(directory)
        if relative.parts[:1] == ("code",):
            # Python may cache bytecode beside code it imports from the package.
            folders[:] = [folder for folder in folders if folder != "__pycache__"]
        for name in files:
            if name in _DESKTOP_FILES or (not relative.parts and name == MANIFEST_NAME):
                continue
            names.append((relative / name).as_posix())
    return names


def _check_listing(directory: Path, manifest: ModelManifest) -> None:
    """The folder holds exactly the files the manifest lists (names only)."""
    for name in manifest.files:
        _check_relative(name)
    feature_files = [] if manifest.features is None else manifest.features.files
    for name in [*manifest.model_files, *feature_files, *filter(None, [manifest.input_example])]:
        if name not in manifest.files:
            raise IntegrityError(
                f"the manifest names {name!r} but has no checksum for it", path=name
            )
    present = set(_package_files(directory))
    for name in manifest.files:
        if name not in present:
            raise IntegrityError(
                f"{name} is missing from the model package {directory} (the manifest lists it)",
                path=name,
            )
    unlisted = sorted(present - manifest.files.keys())
    if unlisted:
        raise IntegrityError(
            f"{unlisted[0]} is in the model package {directory} but not in its manifest: "
            "the package was changed after it was saved",
            path=unlisted[0],
        )


def _check_digests(directory: Path, manifest: ModelManifest) -> None:
    names = list(manifest.files)
    sizes = [(directory / name).stat().st_size for name in names]
    if sum(size >= _PARALLEL_HASH_BYTES for size in sizes) > 1:
        # Several large files (the scikit-learn flavor's skops file and joblib copy): hash
        # them side by side; hashlib releases the GIL while it reads and hashes.
        with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1),
                                thread_name_prefix="dockyard-sha256") as pool:
            digests = list(pool.map(lambda name: _sha256(directory / name), names))
    else:
        digests = [_sha256(directory / name) for name in names]
    for name, actual in zip(names, digests, strict=True):
        expected = manifest.files[name]
        if actual != expected:
            raise IntegrityError(
                f"{name} does not match its checksum in the manifest: the file changed after "
                f"the package was saved (sha256 {actual[:16]}..., expected {expected[:16]}...)",
                path=name,
                expected=expected,
                actual=actual,
            )


def _check_relative(name: str) -> None:
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise IntegrityError(f"the manifest lists an unsafe path {name!r}", path=name)


def _sha256(path: Path, *, durable: bool = False) -> str:
    with open(path, "rb") as stream:
        digest = hashlib.file_digest(stream, "sha256").hexdigest()
        if durable:
            os.fsync(stream.fileno())
    return digest


def _hash_folder(directory: Path, *, durable: bool = False) -> dict[str, str]:
    return {
        name: _sha256(directory / name, durable=durable)
        for name in sorted(_package_files(directory))
    }


def _write_manifest(path: Path, manifest: ModelManifest) -> None:
    text = yaml.dump(
        manifest.model_dump(mode="json"),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _example_data(example: Any) -> pd.DataFrame | np.ndarray:
    if isinstance(example, pd.DataFrame):
        return example
    if isinstance(example, pd.Series):
        return example.to_frame() if example.name is not None else example.to_numpy()
    if isinstance(example, np.ndarray):
        return pd.DataFrame(example) if example.dtype.names else example
    if isinstance(example, Mapping):
        if all(np.ndim(value) == 0 for value in example.values()):
            return pd.DataFrame([dict(example)])
        return pd.DataFrame(dict(example))
    if isinstance(example, (list, tuple)) and example and isinstance(example[0], Mapping):
        return pd.DataFrame(list(example))
    if isinstance(example, (list, tuple)):
        return np.asarray(example)
    raise InvalidArgument(f"cannot store an input example of type {type(example).__name__}")


def _json_column(column: pd.Series) -> bool:
    if column.dtype in (np.int64, np.float64, np.bool_):
        return True
    if pd.api.types.is_string_dtype(column.dtype):
        return pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")
    return False


def _write_example(directory: Path, example: Any) -> str:
    data = _example_data(example)
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "biufU":
            raise InvalidArgument(
                f"an input example array must hold numbers, booleans or strings, not {data.dtype}"
            )
        dtype = "str" if data.dtype.kind == "U" else data.dtype.name
        document: dict[str, Any] = {"type": "ndarray", "dtype": dtype, "data": data.tolist()}
        (directory / "input_example.json").write_text(json.dumps(document))
        return "input_example.json"
    frame = data.set_axis([str(name) for name in data.columns], axis=1).reset_index(drop=True)
    if all(_json_column(frame[name]) for name in frame.columns):
        rows = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
        document = {"type": "dataframe", "columns": list(frame.columns), "data": rows}
        (directory / "input_example.json").write_text(json.dumps(document, allow_nan=False))
        return "input_example.json"
    frame.to_parquet(directory / "input_example.parquet", index=False)
    return "input_example.parquet"


def _read_example(path: Path) -> pd.DataFrame | np.ndarray:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    document = json.loads(path.read_text())
    if document.get("type") == "ndarray":
        dtype = np.str_ if document["dtype"] == "str" else np.dtype(document["dtype"])
        return np.asarray(document["data"], dtype=dtype)
    return pd.DataFrame(document["data"], columns=document["columns"])
