"""Datasets: named, versioned data with its schema, profile, checks and the runs that used it.

Pure data, like :mod:`dockyard.entities.tracking`. A dataset version is
identified by its content digest within its dataset: logging the same data
again finds the version it already has. The data is either stored (Parquet
in the artifact store, under a folder named after the digest) or referenced
where it lives (a path, an S3 URI, a SQL query and its database) with the
digest as its checksum.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument

SCHEME = "datasets:/"
STORAGES = ("stored", "reference")
SOURCE_TYPES = ("dataframe", "file", "s3", "sql")
CONTEXTS = ("training", "validation", "test", "evaluation", "reference", "other")
"""What a run used a dataset version for (``dockyard.log_input(..., context=)``)."""
MAX_COLUMNS = 10_000
_SPEC_RE = re.compile(r"^(?P<name>[^@/]+?)(?:@(?P<version>\w+))?\Z")


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Entity):
    """One column of a dataset version's schema."""

    name: str
    type: str
    """The Arrow type, as Arrow writes it: ``int64``, ``double``, ``string``,
    ``timestamp[us, tz=UTC]``, ``dictionary<values=string, indices=int32>`` ..."""
    nullable: bool = True


class Dataset(_Entity):
    """A named dataset: the home of its numbered versions."""

    name: str
    description: str = ""
    created_at: int
    updated_at: int
    latest_version: int | None = None


class NewDatasetVersion(_Entity):
    """What a client knows of a dataset version before the store numbers it."""

    name: str
    digest: str
    """sha256 of the content, 64 hex characters (see :mod:`dockyard.data.datasets`)."""
    storage: Literal["stored", "reference"]
    location: str
    """``stored``: the artifact folder of the data; ``reference``: the path, URI or query
    where the data lives."""
    source_type: Literal["dataframe", "file", "s3", "sql"]
    source: str = ""
    """Where the data came from, for people: a path, an S3 URI, ``pandas.DataFrame``, a query."""
    database: str | None = None
    """For a SQL source: the database URI, without its password."""
    format: str = "parquet"
    rows: int
    size_bytes: int | None = None
    columns: list[Column] = Field(default_factory=list)
    profile: str | None = None
    """The artifact path of the stored profile (:class:`dockyard.monitor.profile.Profile`)."""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class DatasetVersion(NewDatasetVersion):
    """A numbered version of a dataset."""

    version: int
    created_at: int
    created_by: str = ""

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.name}/{self.version}"

    @property
    def spec(self) -> str:
        """The short form the CLI takes: ``churn@2``."""
        return f"{self.name}@{self.version}"


class DatasetInput(_Entity):
    """A run used a dataset version, for training, validation, testing ..."""

    run_id: str
    name: str
    version: int
    context: str
    created_at: int


class DatasetCheck(_Entity):
    """The outcome of a suite of data checks run on a dataset version."""

    id: int | None = None
    name: str
    version: int
    suite: str
    passed: bool
    failed: int = 0
    """How many of the suite's checks failed."""
    report: dict[str, Any] = Field(default_factory=dict)
    """The full report (:class:`dockyard.data.checks.CheckReport` as JSON)."""
    created_at: int = 0
    created_by: str = ""


def validate_dataset_name(name: Any) -> str:
    """A dataset's name: a name that can sit in ``datasets:/<name>/<version>`` and ``name@2``."""
    v.validate_name("dataset", name)
    if len(name) > v.MAX_MODEL_NAME_LENGTH:
        raise InvalidArgument(
            f"dataset name is {len(name)} characters; the limit is {v.MAX_MODEL_NAME_LENGTH}")
    if "/" in name or "@" in name or name != name.strip() or set(name) == {"."}:
        raise InvalidArgument(
            f"dataset name {name!r:.80} is not valid: it must not contain '/' or '@' (they "
            "separate the name from the version in datasets:/<name>/<version> and "
            "<name>@<version>) nor start or end with whitespace")
    return name


def validate_context(context: Any) -> str:
    if context not in CONTEXTS:
        raise InvalidArgument(f"context {context!r:.40} is not one of {', '.join(CONTEXTS)}")
    return str(context)


def parse_dataset_spec(spec: Any) -> tuple[str, int | None]:
    """``churn@2``, ``churn@latest``, ``churn`` or ``datasets:/churn/2`` as (name, version);
    the version is None for the latest."""
    if not isinstance(spec, str) or not spec:
        raise InvalidArgument(f"a dataset version is named like churn@2, got {spec!r:.80}")
    text = spec
    if text.startswith(SCHEME):
        name, _, version = text[len(SCHEME):].partition("/")
        text = f"{name}@{version}" if version else name
    match = _SPEC_RE.match(text)
    if not match:
        raise InvalidArgument(
            f"{spec!r:.80} does not name a dataset version: write <name>@<version> (churn@2), "
            "<name>@latest, <name>, or datasets:/<name>/<version>")
    name = validate_dataset_name(match["name"])
    version = match["version"]
    if version is None or version == "latest":
        return name, None
    try:
        return name, v.validate_version(version)
    except InvalidArgument:
        raise InvalidArgument(f"{spec!r:.80}: the version after '@' must be a number or "
                              "'latest'") from None


def check_new_version(new: NewDatasetVersion) -> None:
    """Everything a store checks before it writes a version."""
    validate_dataset_name(new.name)
    if not re.fullmatch(r"[0-9a-f]{64}", new.digest):
        raise InvalidArgument("digest must be a sha256 hex digest (64 lowercase hex characters), "
                              f"got {new.digest!r:.80}")
    v.validate_text("location", new.location, 4096)
    if not new.location:
        raise InvalidArgument("location must say where the data is")
    v.validate_text("source", new.source, 65536)
    v.validate_text("database", new.database, 1024)
    v.validate_text("format", new.format, 32)
    v.validate_description(new.description)
    for key, value in new.tags.items():
        v.tag_value(v.validate_key("tag", key), value)
    for name, value in (("rows", new.rows), ("size_bytes", new.size_bytes)):
        if value is not None and not 0 <= value <= v.INT64_MAX:
            raise InvalidArgument(f"{name} must be a count from 0, got {value}")
    if len(new.columns) > MAX_COLUMNS:
        raise InvalidArgument(f"a dataset version has at most {MAX_COLUMNS} columns, "
                              f"got {len(new.columns)}")
    seen: set[str] = set()
    for column in new.columns:
        v.validate_text("column name", column.name, 1024)
        v.validate_text("column type", column.type, 1024)
        if column.name in seen:
            raise InvalidArgument(f"column {column.name!r:.80} appears twice in the schema")
        seen.add(column.name)
    if new.profile is not None:
        v.validate_artifact_path(new.profile)
