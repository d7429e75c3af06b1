"""Model packages in the record: log them into a run, register them, fetch and load them.

The package format itself is :mod:`dockyard.models`; this module moves
packages between a local folder and a run's artifacts, and ties them to
registered versions by their digest (the sha256 of the package manifest):

* :func:`log_model` saves a model into a temporary folder and uploads it
  under the run's artifacts (``runs:/<run_id>/model``);
* :func:`read_logged_manifest` reads a logged package's manifest and digest,
  which ``Client.register_model`` records on a new version;
* :func:`download_model` fetches the package a URI names into a local cache
  keyed by digest (a second load does not download again);
* :func:`load_model` loads it. A package fetched from the store it was
  logged to is trusted (its formats may run code on load), and is pinned to
  the digest recorded at registration: a package changed since fails with
  IntegrityError. Every file is hashed on the first load from the cache;
  later loads skip the hashing while no file's size, modification time or
  inode has changed since (as git does for its index), and a cached copy
  that no longer matches is fetched again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.entities import ResolvedModel
from dockyard.entities import validation as v
from dockyard.config import get_settings
from dockyard.errors import AlreadyExists, IntegrityError, InvalidArgument, NotFound
from dockyard.manage.uris import MODELS_SCHEME, RUNS_SCHEME
from dockyard.models.package import MANIFEST_NAME, ModelManifest, parse_manifest

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.models.package import LoadedModel

CACHE_DIR = "model-cache"
_STAMP_SUFFIX = ".verified"
"""Beside each cached package: the size, mtime and inode of its files when they last verified."""


@dataclass(frozen=True)
class ModelInfo:
    """A package logged into a run: where it is and what it holds."""

    uri: str
    """``runs:/<run_id>/<artifact_path>``, what :func:`register_model` and ``load_model`` take."""
    run_id: str
    artifact_path: str
    package_digest: str
    """The sha256 of the manifest; with the per-file checksums it pins every byte of the package."""
    manifest: ModelManifest = field(repr=False)

    @property
    def flavor(self) -> str:
        return self.manifest.flavor

    @property
    def signature(self) -> dict[str, Any] | None:
        return self.manifest.signature


def is_model_uri(uri: str) -> bool:
    """Whether ``uri`` is a ``models:/`` or ``runs:/`` URI rather than a local path."""
    return isinstance(uri, str) and uri.startswith((MODELS_SCHEME, RUNS_SCHEME))


def log_model(client: Client, run_id: str, model: Any, artifact_path: str = "model",
              **save_options: Any) -> ModelInfo:
    """Save ``model`` as a package into the run's artifacts under ``artifact_path``.

    ``save_options`` are those of :func:`dockyard.models.save` (``input_example``,
    ``signature``, ``requirements``, ``flavor`` ...). Raises AlreadyExists
    when the run already holds a package at that path: a logged package
    never changes.
    """
    from dockyard.models import save

    if artifact_path in ("", "/", "."):
        raise InvalidArgument("artifact_path must name a folder inside the run, such as 'model'")
    path = v.validate_artifact_path(artifact_path)
    store = client.writable_artifacts(run_id)
    if store.exists(f"{path}/{MANIFEST_NAME}"):
        raise AlreadyExists(
            f"run {run_id} already holds a model package at {path!r}; a logged package never "
            "changes: log the new model under another artifact_path")
    with tempfile.TemporaryDirectory(prefix="dockyard-model-") as tmp:
        local = Path(tmp) / "package"
        manifest = save(model, local, run_id=run_id, **save_options)
        content = (local / MANIFEST_NAME).read_bytes()
        client.log_artifacts(run_id, local, path)
    return ModelInfo(uri=f"{RUNS_SCHEME}{run_id}/{path}", run_id=run_id, artifact_path=path,
                     package_digest=hashlib.sha256(content).hexdigest(), manifest=manifest)


def read_logged_manifest(client: Client, resolved: ResolvedModel) -> tuple[ModelManifest, str]:
    """The manifest of the package a resolved URI names, and its digest.

    Raises NotFound when there is no package there, IntegrityError when the
    manifest is not the one registered with the version.
    """
    content = _manifest_content(client, resolved)
    digest = hashlib.sha256(content).hexdigest()
    _check_digest(resolved, digest)
    return parse_manifest(Path(f"{resolved.uri}/{MANIFEST_NAME}"), content), digest


def download_model(client: Client, uri: str, dst_path: str | os.PathLike[str] | None = None
                   ) -> Path:
    """Fetch the package ``uri`` names into a local folder and return it.

    Without ``dst_path``, the folder is in the model cache under
    ``DOCKYARD_HOME`` keyed by the package digest, and a package already
    there is not downloaded again. With ``dst_path``, the package is written
    to that new folder. Checksums are verified when the package is loaded.
    """
    return _fetch(client, uri, None if dst_path is None else Path(dst_path))[0]


def load_model(client: Client, uri: str | os.PathLike[str], *, trust: bool | None = None
               ) -> LoadedModel:
    """Load a model from a ``models:/`` or ``runs:/`` URI, or from a local package folder.

    A package from the record is trusted by default (it comes from the store
    it was logged to) and must match its registered digest. A local folder is
    not trusted unless ``trust=True``: formats that run code on load (pickle,
    joblib, cloudpickle) are refused.
    """
    from dockyard.models import load

    if not is_model_uri(str(uri)):
        return load(uri, trust=bool(trust))
    trusted = True if trust is None else trust
    path, digest, cached = _fetch(client, str(uri), None)
    stamp = path.with_name(f"{path.name}{_STAMP_SUFFIX}")
    if cached and _read_stamp(stamp) == _stat_files(path):
        # Verified by an earlier load and not touched since (same sizes, times, inodes).
        return load(path, trust=trusted, digest=digest, checksums=False)
    try:
        model = _load_or_evict(path, trusted, digest)
    except IntegrityError:
        if not cached:
            raise
        # The cached copy was changed on disk: the store's copy decides.
        path, digest, _cached = _fetch(client, str(uri), None)
        model = _load_or_evict(path, trusted, digest)
    _write_stamp(path.with_name(f"{path.name}{_STAMP_SUFFIX}"), _stat_files(path))
    return model


def _load_or_evict(path: Path, trust: bool, digest: str) -> LoadedModel:
    """Load a cached package; a copy that fails its checks is removed from the cache."""
    from dockyard.models import load

    try:
        return load(path, trust=trust, digest=digest)
    except IntegrityError:
        shutil.rmtree(path, ignore_errors=True)
        path.with_name(f"{path.name}{_STAMP_SUFFIX}").unlink(missing_ok=True)
        raise


def _stat_files(folder: Path) -> dict[str, list[int]]:
    files = {}
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            st = file.stat()
            files[file.relative_to(folder).as_posix()] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return files


def _read_stamp(stamp: Path) -> dict[str, list[int]] | None:
    try:
        return json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None


def _write_stamp(stamp: Path, files: dict[str, list[int]]) -> None:
    partial = stamp.with_name(f".{stamp.name}.{uuid.uuid4().hex[:12]}.tmp")
    partial.write_text(json.dumps(files))
    partial.replace(stamp)


def _manifest_content(client: Client, resolved: ResolvedModel) -> bytes:
    try:
        return b"".join(client.iter_artifact(resolved.run_id,
                                             f"{resolved.artifact_path}/{MANIFEST_NAME}"))
    except NotFound:
        raise NotFound(
            f"there is no model package at {resolved.uri} (run {resolved.run_id} has no "
            f"{resolved.artifact_path}/{MANIFEST_NAME}); log one with dockyard.log_model"
        ) from None


def _check_digest(resolved: ResolvedModel, digest: str) -> None:
    version = resolved.model_version
    if version is not None and version.package_digest and version.package_digest != digest:
        raise IntegrityError(
            f"the package of {version.name} version {version.version} was changed after it "
            f"was registered: its manifest's sha256 is {digest}, the registry recorded "
            f"{version.package_digest}",
            path=MANIFEST_NAME,
        )


def _fetch(client: Client, uri: str, dst: Path | None) -> tuple[Path, str, bool]:
    """The local folder of the package, its digest, and whether it was in the cache already."""
    resolved = client.resolve_model_uri(uri)
    registered = resolved.model_version.package_digest if resolved.model_version else None
    if dst is None and registered:
        # The cache is keyed by digest, and loading checks the cached manifest against it.
        target = get_settings().home / CACHE_DIR / registered
        if (target / MANIFEST_NAME).is_file():
            return target, registered, True
    content = _manifest_content(client, resolved)
    digest = hashlib.sha256(content).hexdigest()
    _check_digest(resolved, digest)
    if dst is None:
        target = get_settings().home / CACHE_DIR / digest
        if (target / MANIFEST_NAME).is_file():
            return target, digest, True
    else:
        target = dst
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise InvalidArgument(f"{target} already exists and is not an empty folder; "
                                  "choose a new folder to download the model into")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        client.download_artifacts(resolved.run_id, resolved.artifact_path, staging)
        folder = staging / Path(resolved.artifact_path).name
        # The manifest written last is the one whose digest was checked.
        (folder / MANIFEST_NAME).write_bytes(content)
        if target.exists():
            target.rmdir()
        try:
            folder.rename(target)
        except OSError:
            if not (target / MANIFEST_NAME).is_file():  # not a concurrent download of the same
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, digest, False
