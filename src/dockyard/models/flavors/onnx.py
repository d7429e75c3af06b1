"""ONNX graphs, run with onnxruntime.

The model is an ``onnx.ModelProto`` or the path of a ``.onnx`` file; the
package holds it as ``model.onnx`` (a protobuf: no code). When no signature
or input example is given, the signature comes from the graph's declared
inputs. On predict, a single graph input takes the whole (tensor or
column) input as one array; several graph inputs take the columns of the
same names, each as an ``(n, 1)`` array. Each array is cast to the element
type the graph declares. ``predict`` returns the graph's first output;
``predict_proba`` returns the output named like probabilities (converted
from ZipMap's list of dicts when needed).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument, SchemaError
from dockyard.models.flavors.base import Flavor, SavedModel, SaveOptions, import_engine

if TYPE_CHECKING:
    from dockyard.models.package import ModelManifest
    from dockyard.models.signature import Signature

_FORMAT = "onnx"
# onnxruntime's type names and onnx.TensorProto element types, as numpy dtype names.
_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int8)": "int8", "tensor(int16)": "int16", "tensor(int32)": "int32",
    "tensor(int64)": "int64", "tensor(uint8)": "uint8", "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32", "tensor(uint64)": "uint64", "tensor(bool)": "bool",
    "tensor(string)": "str",
}  # fmt: skip
_ELEM_TYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    8: "str", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
}  # fmt: skip
_COLUMN_TYPES = {
    "float32": "float32", "float64": "float64", "int32": "int32", "int64": "int64",
    "bool": "bool", "str": "string",
}  # fmt: skip
_PROBABILITY_NAMES = ("probabilities", "output_probability", "probability", "proba")


class OnnxFlavor(Flavor):
    name = "onnx"
    extra = "onnx"
    requirements = ("onnxruntime",)

    def detect(self, model: Any) -> bool:
        if isinstance(model, (str, Path)):
            return str(model).endswith(".onnx") and Path(model).is_file()
        return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")

    def save(self, model: Any, directory: Path, options: SaveOptions) -> SavedModel:
        if options.serialization not in (None, _FORMAT):
            raise InvalidArgument(f"the onnx flavor saves in 'onnx', not {options.serialization!r}")
        target = directory / "model.onnx"
        if isinstance(model, (str, Path)):
            shutil.copyfile(model, target)
        else:
            onnx = import_engine("onnx", self.extra)
            onnx.save_model(model, str(target))
        ort = import_engine("onnxruntime", self.extra)
        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        return SavedModel(["model.onnx"], _FORMAT, predictor=session)

    def load(self, directory: Path, manifest: ModelManifest, *, trust: bool) -> Any:
        self.check_format(manifest.loader.format, (_FORMAT,))
        ort = import_engine("onnxruntime", self.extra)
        path = directory / manifest.model_files[0]
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict(self, model: Any, data: Any) -> Any:
        first = model.get_outputs()[0].name
        return _plain(model.run([first], _feeds(model, data))[0])

    def supports_proba(self, model: Any) -> bool:
        return _probability_output(model) is not None

    def predict_proba(self, model: Any, data: Any) -> Any:
        name = _probability_output(model)
        return _plain(model.run([name], _feeds(model, data))[0])

    def default_signature(self, model: Any) -> Signature | None:
        from dockyard.models.signature import ColumnSpec, Signature, TensorSpec

        onnx = import_engine("onnx", self.extra)
        proto = (
            onnx.load(str(model), load_external_data=False)
            if isinstance(model, (str, Path))
            else model
        )
        initializers = {init.name for init in proto.graph.initializer}
        inputs = [i for i in proto.graph.input if i.name not in initializers]
        specs = []
        for graph_input in inputs:
            tensor = graph_input.type.tensor_type
            dtype = _ELEM_TYPES.get(tensor.elem_type)
            if dtype is None or not tensor.HasField("shape"):
                return None
            shape = tuple(dim.dim_value or -1 for dim in tensor.shape.dim)
            specs.append((graph_input.name, dtype, shape))
        if len(specs) == 1:
            name, dtype, shape = specs[0]
            return Signature(inputs=TensorSpec(name=name, dtype=dtype, shape=shape or (-1,)))
        if specs and all(d in _COLUMN_TYPES and s[1:] in ((), (1,)) for _, d, s in specs):
            return Signature(
                inputs=[ColumnSpec(name=n, dtype=_COLUMN_TYPES[d]) for n, d, _ in specs]
            )
        return None


def _feeds(session: Any, data: Any) -> dict[str, np.ndarray]:
    inputs = session.get_inputs()
    if len(inputs) == 1:
        array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        return {inputs[0].name: _cast(array, inputs[0].type)}
    names = [graph_input.name for graph_input in inputs]
    if isinstance(data, pd.DataFrame):
        missing = [name for name in names if name not in data.columns]
        if missing:
            raise SchemaError(
                f"the ONNX graph takes inputs {names}; the input lacks {missing}",
                column=missing[0],
                expected=", ".join(names),
                got=", ".join(map(str, data.columns)),
            )
        columns = [data[name].to_numpy() for name in names]
    elif isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == len(names):
        columns = [data[:, i] for i in range(len(names))]
    else:
        raise SchemaError(
            f"the ONNX graph takes {len(names)} inputs ({', '.join(names)}); send a column for each",
            column=None,
            expected=", ".join(names),
            got=f"array of shape {np.shape(data)}",
        )
    return {
        graph_input.name: _cast(column.reshape(-1, 1), graph_input.type)
        for graph_input, column in zip(inputs, columns)
    }


def _cast(array: np.ndarray, ort_type: str) -> np.ndarray:
    dtype = _ORT_TYPES.get(ort_type)
    if dtype is None:
        return array
    if dtype == "str":
        return array.astype(str).astype(object)
    return array.astype(dtype, copy=False)


def _probability_output(session: Any) -> str | None:
    for output in session.get_outputs():
        if output.name.lower() in _PROBABILITY_NAMES:
            return output.name
    return None


def _plain(output: Any) -> Any:
    """ZipMap's list of ``{class: probability}`` dicts as an array, one column per class."""
    if isinstance(output, list) and output and isinstance(output[0], dict):
        keys = sorted(output[0])
        return np.array([[row[key] for key in keys] for row in output])
    return output
