"""The models one server hosts: named, pinned, loaded, warmed up and batched.

:func:`resolve_model` turns what the user typed (``models:/churn@champion``,
``runs:/<id>/model`` or a package folder) into a :class:`ModelSpec` once, in
the process that starts the server: the alias is read once and the package
is fetched into the local model cache, so every worker serves the very same
version even if the alias moves meanwhile. A worker turns each spec into a
:class:`HostedModel`: the package loaded (checked against its digest and
checksums), an :class:`~dockyard.serve.batching.AdaptiveBatcher` in front of
it, and a warm-up on its input example before the server says it is ready.
A package with a feature pipeline gets, per batch, the DataFrame of the
signature's columns, which the pipeline turns into the model's features.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument, NotFound
from dockyard.models.package import MANIFEST_NAME, package_digest
from dockyard.models.signature import ColumnSpec, Signature, TensorSpec
from dockyard.serve import protocol
from dockyard.serve.batching import AdaptiveBatcher, BatchInfo
from dockyard.serve.protocol import ModelInput

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from dockyard.client import Client
    from dockyard.models.package import LoadedModel

__all__ = ["HostedModel", "ModelSpec", "resolve_model", "v2_datatype"]

log = logging.getLogger("dockyard.serve")

_V2_OF = {dtype: name for name, dtype in protocol.V2_DATATYPES.items()}
_WARMUP_CALLS = 3


def v2_datatype(dtype: str) -> str:
    """The Open Inference Protocol datatype of a signature dtype (text-like types are BYTES)."""
    return _V2_OF.get(dtype, "BYTES")


@dataclass(frozen=True)
class ModelSpec:
    """One model version a server hosts, resolved to a local package folder."""

    name: str
    """The name in ``/v2/models/<name>`` and in the prediction log."""
    version: str
    """The registered version, or the first 12 hex digits of the package digest."""
    path: str
    """The local package folder (in the model cache for ``models:/`` and ``runs:/`` URIs)."""
    uri: str
    """What the user gave: a model URI or a folder."""
    digest: str
    """The package digest the folder must match."""
    trust: bool
    """Whether formats that run code on load may be read (packages from the record are trusted)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        return cls(**data)


def resolve_model(
    target: str,
    *,
    name: str | None = None,
    client: Client | None = None,
    trust: bool | None = None,
    version: str | None = None,
) -> ModelSpec:
    """Resolve ``target`` (a ``models:/`` or ``runs:/`` URI, or a package folder) to a spec.

    The name defaults to the registered model's name, else to the package
    folder's name. A registered version keeps its number; any other package
    is versioned by its digest, unless ``version`` names it (a package folder
    built from a registered version, as in a container image). Raises
    InvalidArgument or NotFound, naming what to fix, when the target cannot
    be served.
    """
    from dockyard.manage.packages import is_model_uri

    if is_model_uri(target):
        if version is not None:
            raise InvalidArgument(f"{target} serves its own version; a version is given only "
                                  "for a package folder")
        if client is None:
            from dockyard.client import Client

            client = Client()
        resolved = client.resolve_model_uri(target)
        path = client.download_model(target)
        registered = resolved.model_version
        default_name = registered.name if registered else resolved.artifact_path.rsplit("/", 1)[-1]
        digest = package_digest(path)
        version = str(registered.version) if registered else digest[:12]
        trusted = True if trust is None else trust
    else:
        path = Path(target).expanduser()
        if not path.is_dir():
            raise NotFound(
                f"{target!r} is neither a model URI (models:/<name>@<alias>, "
                "models:/<name>/<version>, runs:/<run_id>/<path>) nor a package folder"
            )
        if not (path / MANIFEST_NAME).is_file():
            raise InvalidArgument(
                f"folder {target!r} is not a model package: it has no {MANIFEST_NAME}; "
                "write one with dockyard.models.save(model, path)"
            )
        path = path.resolve()
        default_name = path.name
        digest = package_digest(path)
        version = digest[:12] if version is None else _version_label(version)
        trusted = bool(trust)
    chosen = v.validate_model_name(name if name is not None else default_name)
    return ModelSpec(chosen, version, os.fspath(path), target, digest, trusted)


def _version_label(version: str) -> str:
    text = str(version)
    if not text or len(text) > 64 or not all(c.isalnum() or c in "._-" for c in text):
        raise InvalidArgument(f"model version {text!r:.80} is not valid: use up to 64 letters, "
                              "digits, '.', '_' or '-' (e.g. the registered version number)")
    return text


class HostedModel:
    """A loaded model version behind its adaptive batcher.

    ``batching`` holds the :class:`AdaptiveBatcher` keyword arguments
    (``max_batch_size``, ``max_wait_ms``, ``max_queue``, ``timeout`` ...).
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        on_batch: Callable[[BatchInfo], None] | None = None,
        **batching: Any,
    ) -> None:
        from dockyard.models import load

        self.spec = spec
        self.name = spec.name
        self.version = spec.version
        self.key = (spec.name, spec.version)
        started = time.perf_counter()
        self.model: LoadedModel = load(spec.path, trust=spec.trust, digest=spec.digest)
        self.load_seconds = time.perf_counter() - started
        self.signature: Signature | None = self.model.signature
        self._arrays = protocol.accepts_arrays(self.model)
        self.has_features = self.model.features is not None
        """Whether the package runs a feature pipeline before the model."""
        self.in_flight = 0
        """Requests for this model received and not yet answered."""
        self.batcher = AdaptiveBatcher(
            self._predict_batch, on_batch=on_batch, name=f"{spec.name}/{spec.version}", **batching
        )

    def _predict_batch(self, item: Any) -> Any:
        """Predict on one (possibly coalesced) batch item: a tensor or a dict of columns."""
        if isinstance(item, np.ndarray):
            model_input = ModelInput(tensor=item, n_rows=len(item))
        else:
            n_rows = len(next(iter(item.values()))) if item else 0
            model_input = ModelInput(columns=item, n_rows=n_rows)
        data = protocol.as_model_input(model_input, self.signature, arrays=self._arrays)
        return self.model.predict_prepared(data)

    def transform(self, model_input: ModelInput) -> pd.DataFrame:
        """The features the model sees for one decoded request (as a batch would compute them).

        Raises InvalidArgument when the package has no feature pipeline.
        """
        data = protocol.as_model_input(model_input, self.signature, arrays=False)
        return self.model.transform_prepared(data)

    async def predict(self, model_input: ModelInput) -> Any:
        """The predictions for one decoded request, batched with concurrent ones."""
        item = model_input.tensor if model_input.tensor is not None else model_input.columns
        return await self.batcher.submit(item, model_input.n_rows)

    def warm_up(self) -> None:
        """Run the input example through predict a few times (first calls are slow)."""
        example = self.model.input_example
        if example is None:
            return
        started = time.perf_counter()
        for _ in range(_WARMUP_CALLS):
            self.model.predict(example)
        log.info(
            "warmed up %s version %s", self.name, self.version,
            extra={"seconds": round(time.perf_counter() - started, 4)},
        )

    def metadata(self) -> dict[str, Any]:
        """The V2 model metadata: name, versions, platform, inputs and outputs."""
        doc: dict[str, Any] = {
            "name": self.name,
            "versions": [self.version],
            "platform": f"dockyard-{self.model.flavor.name}",
            "inputs": _tensor_metadata(
                self.signature.inputs if self.signature else None, "input-0"
            ),
            "outputs": _tensor_metadata(
                self.signature.outputs if self.signature else None, "predict"
            ),
        }
        return doc


def _tensor_metadata(
    spec: list[ColumnSpec] | TensorSpec | None, unnamed: str
) -> list[dict[str, Any]]:
    """V2 tensor metadata; an unnamed tensor is called as the server names it (``unnamed``)."""
    if spec is None:
        return []
    if isinstance(spec, TensorSpec):
        return [{
            "name": spec.name or unnamed,
            "datatype": v2_datatype(spec.dtype),
            "shape": list(spec.shape),
        }]
    return [
        {"name": column.name, "datatype": v2_datatype(column.dtype), "shape": [-1]}
        for column in spec
    ]
