"""Rules for names, keys, values and paths, shared by every boundary.

The SQL store enforces them (so the server does), and the fluent API checks
them when a call is made, so that a bad value fails at the line that logged
it and not later in a background thread.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from typing import Any

from dockyard.errors import InvalidArgument

MAX_NAME_LENGTH = 250
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_DESCRIPTION_LENGTH = 10_000
MAX_BATCH_ITEMS = 10_000
INT64_MAX = 2**63 - 1

# Keys name metrics, params and tags; they appear in filters as
# ``metrics.<key>`` and in artifact-like paths, so keep them to a safe set.
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-./ :]+\Z")


def validate_name(kind: str, name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidArgument(f"{kind} name must be a string, got {type(name).__name__}")
    stripped = name.strip()
    if not stripped:
        raise InvalidArgument(f"{kind} name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"{kind} name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}"
        )
    if any(ord(c) < 32 for c in name):
        raise InvalidArgument(f"{kind} name {name!r} contains control characters")
    return name


def validate_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidArgument("description must be a string")
    if "\x00" in description:
        raise InvalidArgument("description contains a NUL character")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"description is {len(description)} characters; the limit is {MAX_DESCRIPTION_LENGTH}"
        )
    return description


def validate_key(kind: str, key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidArgument(f"{kind} key must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidArgument(f"{kind} key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(
            f"{kind} key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    if not _KEY_RE.match(key):
        raise InvalidArgument(
            f"{kind} key {key!r} has characters that are not allowed; use letters, digits, "
            "spaces and _ - . / :"
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidArgument(f"{kind} key {key!r} must not start with '/' or contain '..'")
    return key


def _string_value(kind: str, key: str, value: Any, limit: int) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{kind} {key!r} has value {value!r}, which is not finite")
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:  # PostgreSQL cannot store NUL in text; refuse it everywhere alike
        raise InvalidArgument(f"{kind} {key!r} value contains a NUL character")
    if len(text) > limit:
        raise InvalidArgument(
            f"{kind} {key!r} value is {len(text)} characters; the limit is {limit}"
        )
    return text


def param_value(key: str, value: Any) -> str:
    """Params are stored as strings; numbers and booleans are converted."""
    return _string_value("param", key, value, MAX_PARAM_VALUE_LENGTH)


def tag_value(key: str, value: Any) -> str:
    return _string_value("tag", key, value, MAX_TAG_VALUE_LENGTH)


def metric_value(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np  # numpy scalars are common in training code

            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                value = value.item()
            else:
                raise TypeError
        except (ImportError, TypeError):
            raise InvalidArgument(
                f"metric {key!r} value must be a number, got {type(value).__name__}"
            ) from None
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(
            f"metric {key!r} value {value} is not finite; NaN and infinity are not stored "
            "(skip the point, or log a tag that says the metric diverged)"
        )
    return value


def int64(kind: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except (ImportError, TypeError):
            raise InvalidArgument(f"{kind} must be an integer, got {value!r}") from None
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise InvalidArgument(f"{kind} {value} does not fit in 64 bits")
    return value


def validate_artifact_path(path: Any, *, allow_root: bool = False) -> str:
    """A relative POSIX path inside a run's artifact root, normalised.

    Raises InvalidArgument for absolute paths, ``..`` segments, backslashes,
    drive letters and control characters: nothing may escape the root.
    """
    if path is None or path == "":
        if allow_root:
            return ""
        raise InvalidArgument("artifact path must not be empty")
    if not isinstance(path, str):
        raise InvalidArgument("artifact path must be a string")
    if "\\" in path or any(ord(c) < 32 for c in path):
        raise InvalidArgument(f"artifact path {path!r} has a backslash or control character")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise InvalidArgument(f"artifact path {path!r} is absolute; give a path relative to the run")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"artifact path {path!r} escapes the run's artifact root ('..')")
    if len(path) > 1024:
        raise InvalidArgument("artifact path is longer than 1024 characters")
    normal = "/".join(parts)
    if not normal and not allow_root:
        raise InvalidArgument("artifact path must name a file")
    return normal


def check_mapping(kind: str, values: Any) -> Mapping[str, Any]:
    if not isinstance(values, Mapping):
        raise InvalidArgument(f"{kind} must be a mapping of key to value, got {type(values).__name__}")
    return values


# The model registry ---------------------------------------------------------------------
# Audit events name a version "<model>/<version>" and an alias "<model>@<alias>"
# in a 250-character column: model names and aliases are shorter than other names.
MAX_MODEL_NAME_LENGTH = 200
MAX_ALIAS_LENGTH = 40
MAX_VERSION = 2**31 - 1
MAX_CARD_LENGTH = 200_000
MAX_SIGNATURE_LENGTH = 1_000_000
MAX_SHORT_TEXT_LENGTH = 250
RESERVED_ALIASES = frozenset({"latest"})
_ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*\Z")
_DIGEST_RE = re.compile(r"^[0-9a-f]{64}\Z")
_RUN_ID_RE = re.compile(r"^[0-9a-f]{32}\Z")
RUNS_SCHEME = "runs:/"


def validate_model_name(name: Any) -> str:
    """A registered model's name: a name that can sit in ``models:/<name>/<version>``."""
    validate_name("model", name)
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidArgument(
            f"model name is {len(name)} characters; the limit is {MAX_MODEL_NAME_LENGTH}")
    if "/" in name or "@" in name:
        raise InvalidArgument(
            f"model name {name!r} must not contain '/' or '@': they separate the name from the "
            "version or alias in models:/<name>/<version> and models:/<name>@<alias>")
    if name != name.strip():
        raise InvalidArgument(f"model name {name!r} must not start or end with whitespace")
    if set(name) == {"."}:
        raise InvalidArgument(f"model name {name!r} is not allowed")
    return name


def validate_alias(alias: Any) -> str:
    """An alias: a letter, then letters, digits, ``_`` and ``-``; ``latest`` is reserved."""
    if not isinstance(alias, str):
        raise InvalidArgument(f"alias must be a string, got {type(alias).__name__}")
    if not alias or len(alias) > MAX_ALIAS_LENGTH or not _ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"alias {alias[:60]!r} is not valid: use 1 to {MAX_ALIAS_LENGTH} letters, digits, "
            "'_' and '-', starting with a letter (e.g. champion)")
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidArgument(
            f"alias {alias!r} is reserved (models:/<name>/latest means the newest version)")
    return alias


def validate_version(version: Any) -> int:
    """A version number: an integer (or a string of digits) from 1 to 2**31 - 1."""
    if isinstance(version, str) and version.isascii() and version.isdigit() and len(version) < 12:
        version = int(version)
    try:
        n = None if isinstance(version, bool) else operator.index(version)
    except TypeError:
        n = None
    if n is None or not 1 <= n <= MAX_VERSION:
        raise InvalidArgument(
            f"model version must be an integer from 1 to {MAX_VERSION}, got {version!r:.40}")
    return n


def validate_digest(digest: Any) -> str | None:
    """A package digest: None, or a sha256 as 64 lowercase hex characters."""
    if digest is None:
        return None
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidArgument(
            "package_digest must be a sha256 hex digest (64 lowercase hex characters), "
            f"got {digest!r:.80}")
    return digest


def validate_text(kind: str, value: Any, limit: int = MAX_SHORT_TEXT_LENGTH) -> str:
    """Free text of at most ``limit`` characters, without NUL (None counts as empty)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{kind} must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidArgument(f"{kind} contains a NUL character")
    if len(value) > limit:
        raise InvalidArgument(f"{kind} is {len(value)} characters; the limit is {limit:,}")
    return value


def validate_signature(signature: Any) -> str | None:
    """A signature (a JSON object, or None), returned as JSON text."""
    if signature is None:
        return None
    if not isinstance(signature, Mapping):
        raise InvalidArgument(
            f"signature must be a JSON object or None, got {type(signature).__name__}")
    import orjson

    try:
        text = orjson.dumps(dict(signature)).decode()
    except TypeError as exc:
        raise InvalidArgument(f"signature is not JSON: {exc}") from None
    if "\\u0000" in text:
        raise InvalidArgument("signature contains a NUL character")
    if len(text) > MAX_SIGNATURE_LENGTH:
        raise InvalidArgument(
            f"signature is {len(text):,} characters as JSON; the limit is {MAX_SIGNATURE_LENGTH:,}")
    return text


def validate_run_id(run_id: Any) -> str:
    """A run id: 32 lowercase hex characters."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidArgument(f"run id {run_id!r:.80} must be 32 lowercase hex characters")
    return run_id


def run_source(uri: Any) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` -> (run_id, normalised path). Raises InvalidArgument."""
    if not isinstance(uri, str) or not uri.startswith(RUNS_SCHEME):
        raise InvalidArgument(
            f"{uri!r:.120} is not a run URI; expected runs:/<run_id>/<path>, "
            "e.g. runs:/<run_id>/model")
    run_id, _, path = uri[len(RUNS_SCHEME):].partition("/")
    if not _RUN_ID_RE.match(run_id):
        raise InvalidArgument(
            f"{uri!r:.120}: the run id must be 32 lowercase hex characters (runs:/<run_id>/<path>)")
    if not path.strip("/"):
        raise InvalidArgument(
            f"{uri!r:.120} names no folder in the run; expected runs:/<run_id>/<path>, "
            "e.g. runs:/<run_id>/model")
    try:
        return run_id, validate_artifact_path(path)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{uri!r:.120}: {exc.message}") from None
