"""The binary tensor extension of the Open Inference Protocol (as Triton and tritonclient speak it).

A request whose ``Inference-Header-Content-Length`` header is ``N`` holds a
JSON inference request in its first ``N`` bytes, followed by the raw data of
every input whose ``parameters`` hold ``binary_data_size``, in input order:
little-endian values in row-major order; ``BOOL`` as one byte each; ``BYTES``
as a 4-byte little-endian length before each element.

:func:`read_request` turns such a body into the plain JSON request (the raw
data becomes each input's ``data``), which :func:`~dockyard.serve.protocol.decode_v2`
then checks like any other. :func:`binary_outputs` says which outputs the
caller wants back as binary (``"binary_data": true`` on a requested output,
or ``"binary_data_output": true`` on the request), and
:func:`write_response` moves those outputs' data out of a JSON response into
the binary tail.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from dockyard.serve.protocol import V2_DATATYPES, ProtocolError

__all__ = ["HEADER", "binary_outputs", "read_request", "write_response"]

HEADER = "inference-header-content-length"
_DTYPES = {
    name: np.dtype(dtype).newbyteorder("<")
    for name, dtype in V2_DATATYPES.items()
    if name != "BYTES"
}
_LENGTH = struct.Struct("<I")


def read_request(body: bytes, json_length: str) -> dict[str, Any]:
    """The inference request of a binary-extension body, with every input's ``data`` filled in.

    Raises ProtocolError when the header length, a ``binary_data_size`` or
    the raw data do not add up.
    """
    if not json_length.isdigit() or int(json_length) > len(body):
        raise ProtocolError(
            f"Inference-Header-Content-Length is {json_length!r} but the body has "
            f"{len(body)} bytes; it must be the size of the JSON part",
            name=None, expected="the size of the JSON header", got=json_length,
        )
    split = int(json_length)
    try:
        doc = orjson.loads(body[:split])
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(
            f"the JSON part of the request is not valid JSON: {exc}",
            name=None, expected="JSON", got="malformed JSON",
        ) from None
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, list):
        return doc  # decode_v2 names what is wrong
    offset = split
    for item in inputs:
        parameters = item.get("parameters") if isinstance(item, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        name = item.get("name")
        size = parameters.pop("binary_data_size")
        if not isinstance(size, int) or size < 0 or offset + size > len(body):
            raise ProtocolError(
                f"input {name!r}: binary_data_size {size!r} does not fit the "
                f"{len(body) - offset} bytes left in the body",
                name=name, expected="the size of the input's raw data", got=repr(size),
            )
        item["data"] = _values(body[offset:offset + size], item.get("datatype"), name)
        offset += size
    if offset != len(body):
        raise ProtocolError(
            f"the body has {len(body) - offset} bytes after the last input's raw data",
            name=None, expected="no bytes after the inputs", got=f"{len(body) - offset} bytes",
        )
    return doc


def _values(raw: bytes, datatype: Any, name: Any) -> list[Any]:
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise _torn(name)
            (length,) = _LENGTH.unpack_from(raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise _torn(name)
            chunk = raw[offset:offset + length]
            offset += length
            try:
                values.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                values.append({"b64": _b64(chunk)})
        return values
    dtype = _DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise ProtocolError(
            f"input {name!r}: datatype {datatype!r} cannot be sent as binary data",
            name=name, expected=", ".join(sorted(_DTYPES)), got=repr(datatype),
        )
    if len(raw) % dtype.itemsize:
        raise ProtocolError(
            f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype} values",
            name=name, expected=f"a multiple of {dtype.itemsize} bytes", got=f"{len(raw)} bytes",
        )
    return np.frombuffer(raw, dtype=dtype).tolist()


def _torn(name: Any) -> ProtocolError:
    return ProtocolError(
        f"input {name!r}: the BYTES data is cut short (each element is a 4-byte "
        "little-endian length, then that many bytes)",
        name=name, expected="length-prefixed elements", got="a cut-off element",
    )


def _b64(chunk: bytes) -> str:
    import base64

    return base64.b64encode(chunk).decode("ascii")


def binary_outputs(doc: dict[str, Any]) -> bool | frozenset[str]:
    """Which outputs go back as binary: True for all, else the names asked for (maybe none)."""
    parameters = doc.get("parameters")
    if isinstance(parameters, dict) and parameters.get("binary_data_output") is True:
        return True
    names = set()
    for output in doc.get("outputs") or ():
        if isinstance(output, dict):
            parameters = output.get("parameters")
            if isinstance(parameters, dict) and parameters.get("binary_data") is True:
                names.add(output.get("name"))
    return frozenset(names)


def write_response(body: bytes, wanted: bool | frozenset[str]) -> tuple[bytes, int | None]:
    """Move the data of the ``wanted`` outputs of a JSON V2 response into a binary tail.

    Returns the new body and the size of its JSON part (None when nothing
    was moved and the body is plain JSON).
    """
    if not wanted:
        return body, None
    doc = orjson.loads(body)
    tail: list[bytes] = []
    for output in doc["outputs"]:
        if wanted is not True and output["name"] not in wanted:
            continue
        raw = _raw(output["data"], output["datatype"])
        del output["data"]
        output.setdefault("parameters", {})["binary_data_size"] = len(raw)
        tail.append(raw)
    header = orjson.dumps(doc)
    return header + b"".join(tail), len(header)


def _raw(data: list[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for value in data:
            chunk = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(_LENGTH.pack(len(chunk)))
            parts.append(chunk)
        return b"".join(parts)
    dtype = _DTYPES[datatype]
    if dtype.kind == "f":
        data = [np.nan if value is None else value for value in data]
    return np.asarray(data, dtype=dtype).tobytes()
