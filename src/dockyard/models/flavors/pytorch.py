"""PyTorch modules, saved as a ``torch.export`` program (``model.pt2``).

``torch.export`` traces the module with the input example into a graph plus
weights, so loading needs neither the module's class nor its source: the
serving environment only needs torch. TorchScript is deprecated in the torch
versions Dockyard supports, so it is not used.

Both formats count as executing code on load: ``torch.export.load`` reads
some payloads with pickle when the archive says so (a crafted file can),
and the fallback, ``torch.save`` of the whole module, is pickle outright.
The trust rule therefore applies to every PyTorch package.

Without an input example, or when the module cannot be exported (Python
control flow on tensor values, unsupported operators), the module is saved
with ``torch.save`` instead, with a warning; loading that needs the class
importable. ``serialization="export"`` or ``"pickle"`` picks one and never
falls back.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.models.flavors.base import Flavor, SavedModel, SaveOptions, has_base, import_engine

if TYPE_CHECKING:
    from dockyard.models.package import ModelManifest

_EXPORT, _PICKLE = "torch-export", "torch-pickle"
_ASKED = {None: None, "export": _EXPORT, _EXPORT: _EXPORT, "pickle": _PICKLE, _PICKLE: _PICKLE}


class PyTorchFlavor(Flavor):
    name = "pytorch"
    extra = "torch"
    requirements = ("torch",)
    code_executing_formats = frozenset({_EXPORT, _PICKLE})

    def detect(self, model: Any) -> bool:
        return has_base(model, "torch.nn.modules.module", "Module")

    def save(self, model: Any, directory: Path, options: SaveOptions) -> SavedModel:
        if options.serialization not in _ASKED:
            raise InvalidArgument(
                f"the pytorch flavor saves with 'export' or 'pickle', not {options.serialization!r}"
            )
        asked = _ASKED[options.serialization]
        torch = import_engine("torch", self.extra)
        facts = {"float_dtype": _float_dtype(model)}
        if asked != _PICKLE:
            if options.example is None:
                reason = "there is no input example to trace it with"
            else:
                try:
                    program = _export(torch, model, options.example, facts["float_dtype"])
                    torch.export.save(program, str(directory / "model.pt2"))
                    return SavedModel(
                        ["model.pt2"],
                        _EXPORT,
                        facts,
                        executes_code_on_load=True,
                        predictor=_Module(program.module(), facts),
                    )
                except Exception as exc:  # noqa: BLE001 - any failure means: fall back
                    reason = f"torch.export failed: {type(exc).__name__}: {str(exc)[:300]}"
            if asked == _EXPORT:
                raise InvalidArgument(f"cannot export this module: {reason}")
            warnings.warn(
                f"saved the module with torch.save because {reason}; loading it needs its "
                "class importable. Pass input_example= to save a self-contained program",
                UserWarning,
                stacklevel=3,
            )
        torch.save(model, str(directory / "model.pt"))
        return SavedModel(["model.pt"], _PICKLE, facts, executes_code_on_load=True)

    def load(self, directory: Path, manifest: ModelManifest, *, trust: bool) -> Any:
        fmt = manifest.loader.format
        self.check_format(fmt, (_EXPORT, _PICKLE))
        torch = import_engine("torch", self.extra)
        path = str(directory / manifest.model_files[0])
        if fmt == _EXPORT:
            return _Module(torch.export.load(path).module(), manifest.loader.options)
        module = torch.load(path, weights_only=False)
        module.eval()
        return _Module(module, manifest.loader.options)

    def predict(self, model: Any, data: Any) -> Any:
        if not isinstance(model, _Module):
            model = _Module(model, {"float_dtype": _float_dtype(model)})
        return model.predict(data)

    def raw(self, model: Any) -> Any:
        return model.module if isinstance(model, _Module) else model


class _Module:
    """A loaded module and the dtype its floating inputs are cast to."""

    def __init__(self, module: Any, options: dict[str, Any]) -> None:
        self.module = module
        self.float_dtype = options.get("float_dtype")

    def predict(self, data: Any) -> Any:
        torch = import_engine("torch", "torch")
        tensor = _tensor(torch, data, self.float_dtype)
        with torch.inference_mode():
            return _numpy(self.module(tensor))


def _export(torch: Any, model: Any, example: Any, float_dtype: str | None) -> Any:
    tensor = _tensor(torch, example, float_dtype)
    if tensor.shape[0] < 2:
        # A batch of one would be specialised to size 1; two rows keep the batch dimension free.
        tensor = torch.cat([tensor, tensor])
    batch = {0: torch.export.Dim.AUTO}
    training = model.training
    model.eval()
    try:
        return torch.export.export(model, (tensor,), dynamic_shapes=(batch,))
    finally:
        model.train(training)


def _tensor(torch: Any, data: Any, float_dtype: str | None) -> Any:
    array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise InvalidArgument(
            f"a PyTorch model takes numbers; got an array of {array.dtype} "
            "(encode text and categories before the model)"
        )
    if array.dtype.kind == "f" and float_dtype is not None:
        array = array.astype(float_dtype, copy=False)
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # pandas' copy-on-write hands out read-only views
        array = array.copy()
    return torch.from_numpy(array)


def _numpy(output: Any) -> Any:
    if hasattr(output, "detach"):
        return output.detach().cpu().numpy()
    if isinstance(output, (tuple, list)):
        return type(output)(_numpy(item) for item in output)
    if isinstance(output, dict):
        return {key: _numpy(value) for key, value in output.items()}
    return output


def _float_dtype(module: Any) -> str | None:
    """The dtype of the module's first floating parameter: float inputs are cast to it."""
    for parameter in module.parameters():
        if parameter.dtype.is_floating_point:
            return str(parameter.dtype).removeprefix("torch.")
    return None
