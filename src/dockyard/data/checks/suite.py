"""Suites: expectations written down in YAML, JSON or Python, with readable errors.

:func:`load_suite` reads a suite from a file, text or a dict, and ``expect``
builds expectations in Python. Both turn pydantic's validation errors into
an :class:`~dockyard.errors.InvalidArgument` that names the expectation (by
index) and the field at fault.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dockyard.data.checks.expectations import (
    AllowedValues,
    BaseExpectation,
    Bound,
    Column,
    Freshness,
    NotNull,
    Range,
    Regex,
    RowCount,
    Value,
)
from dockyard.data.checks.keys import ForeignKey, Unique
from dockyard.errors import InvalidArgument

Expectation = Annotated[Column | NotNull | Range | AllowedValues | Unique | Regex | RowCount
                        | Freshness | ForeignKey, Field(discriminator="type")]
"""Any one expectation; the ``type`` field picks which."""

_KINDS: dict[str, type[BaseExpectation]] = {
    cls.model_fields["type"].default: cls
    for cls in (Column, NotNull, Range, AllowedValues, Unique, Regex, RowCount, Freshness,
                ForeignKey)
}
EXPECTATION_TYPES = tuple(_KINDS)
"""The ``type`` of every expectation, as written in YAML."""

_SUITE_SUFFIXES = (".yaml", ".yml", ".json")
_E = TypeVar("_E", bound=BaseExpectation)


class Suite(BaseModel):
    """A named list of expectations: ``Suite("churn", [expect.not_null("age"), ...])``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    expectations: list[Expectation] = Field(default_factory=list)

    def __init__(self, name: str | None = None, expectations: Sequence[Any] | None = None,
                 /, **data: Any) -> None:
        if name is not None:
            data["name"] = name
        if expectations is not None:
            data["expectations"] = list(expectations)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidArgument(_explain(exc, data.get("name"))) from exc

    def to_dict(self) -> dict[str, Any]:
        """The suite as plain data (what :func:`load_suite` reads)."""
        return {"name": self.name, "expectations": [e.to_dict() for e in self.expectations]}

    def to_yaml(self) -> str:
        """The suite in the compact YAML form, one expectation a line.

        Raises InvalidArgument when a foreign key refers to an in-memory table,
        which YAML cannot hold.
        """
        for index, item in enumerate(self.expectations):
            if isinstance(item, ForeignKey) and not isinstance(item.reference, str):
                raise InvalidArgument(f"expectations[{index}] refers to an in-memory "
                                      f"{type(item.reference).__name__}; write it to a Parquet "
                                      "file and refer to its path to save the suite as YAML")
        lines = [yaml.safe_dump({"name": self.name}, allow_unicode=True).strip()]
        if not self.expectations:
            return "\n".join([*lines, "expectations: []"]) + "\n"
        lines.append("expectations:")
        for item in self.expectations:
            text = yaml.safe_dump(item.to_dict(), default_flow_style=True, sort_keys=False,
                                  allow_unicode=True, width=1 << 20).strip()
            lines.append(f"  - {text}")
        return "\n".join(lines) + "\n"


def load_suite(source: Suite | Mapping[str, Any] | str | os.PathLike[str]) -> Suite:
    """A suite from a path (``.yaml``, ``.yml`` or ``.json``), YAML text, a dict or a Suite.

    Relative ``reference`` paths of foreign keys in a file resolve against the
    file's folder. Raises InvalidArgument, naming the line of a YAML error or
    the expectation (by index) and field of a bad value.
    """
    if isinstance(source, Suite):
        return source
    base: Path | None = None
    if isinstance(source, Mapping):
        raw: Any = dict(source)
    elif isinstance(source, (str, os.PathLike)):
        path = _suite_path(source)
        if path is None:
            raw = _parse(str(source), "the suite text", json_=False)
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise InvalidArgument(f"cannot read the suite file {path}: {exc}") from exc
            raw = _parse(text, str(path), json_=path.suffix.lower() == ".json")
            base = path.resolve().parent
    else:
        raise InvalidArgument("a suite is a path, YAML text, a dict or a Suite; got "
                              f"{type(source).__name__}")
    if not isinstance(raw, dict):
        hint = " (or the suite file does not exist)" if isinstance(raw, str) else ""
        raise InvalidArgument("a suite is a mapping with 'name' and 'expectations'; got "
                              f"{type(raw).__name__}{hint}")
    if base is not None and isinstance(raw.get("expectations"), list):
        raw["expectations"] = [_resolve(item, base) for item in raw["expectations"]]
    if not all(isinstance(key, str) for key in raw):
        raise InvalidArgument(f"a suite's keys are 'name' and 'expectations'; got {list(raw)!r}")
    return Suite(**raw)


def _suite_path(source: str | os.PathLike[str]) -> Path | None:
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif "\n" in source or source.lstrip().startswith("{"):
        return None
    else:
        path = Path(source.strip())
        if path.suffix.lower() not in _SUITE_SUFFIXES and not path.is_file():
            return None
    if not path.is_file():
        raise InvalidArgument(f"suite file {path} does not exist")
    return path


def _parse(text: str, where: str, *, json_: bool) -> Any:
    if json_:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"{where} is not valid JSON: line {exc.lineno}, column "
                                  f"{exc.colno}: {exc.msg}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidArgument(f"{where} is not valid YAML: {at}{problem}") from exc


def _resolve(item: Any, base: Path) -> Any:
    if isinstance(item, dict) and item.get("type") == "foreign_key":
        reference = item.get("reference")
        if isinstance(reference, str) and reference.strip() and \
                not os.path.isabs(os.path.expanduser(reference)):
            return {**item, "reference": str(base / reference)}
    return item


def _explain(exc: ValidationError, suite: Any = None) -> str:
    """A readable account of a pydantic ValidationError: where, and what is wrong."""
    problems = []
    model = next((k for k, cls in _KINDS.items() if cls.__name__ == exc.title), None)
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "expectations" and isinstance(loc[1], int):
            where, loc = f"expectations[{loc[1]}]", loc[2:]
        kind = loc.pop(0) if loc and loc[0] in _KINDS else None
        if kind:
            where = f"{where} ({kind})"
        kind = kind or model
        name = ".".join(str(part) for part in loc)
        ctx = error.get("ctx") or {}
        if error["type"] == "union_tag_invalid":
            text = (f"unknown type {ctx.get('tag')!r}; the known types are "
                    f"{', '.join(EXPECTATION_TYPES)}")
        elif error["type"] == "union_tag_not_found":
            text = f"give a 'type', one of {', '.join(EXPECTATION_TYPES)}"
        elif error["type"] == "extra_forbidden":
            known = sorted((f for f in _KINDS[kind].model_fields if f != "type"),
                           key=lambda f: f == "mostly") if kind else list(Suite.model_fields)
            text = f"unknown field {name!r}; the fields are {', '.join(known)}"
        elif error["type"] == "missing":
            text = f"{name!r} is required"
        else:
            message = error["msg"].removeprefix("Value error, ")
            text = f"{name}: {message}" if name else message
        problems.append(f"{where}: {text}" if where else text)
    if model:
        title = f"invalid {model} expectation"
    else:
        title = f"invalid suite {suite!r}" if isinstance(suite, str) else "invalid suite"
    return f"{title}: " + "; ".join(problems)


class _Expect:
    """Expectations in Python: ``expect.range("age", 0, 120)``. Each returns the model, and
    raises InvalidArgument (not a pydantic error) for a bad value."""

    def column(self, column: str, dtype: str | None = None) -> Column:
        return _build(Column, column=column, dtype=dtype)

    def not_null(self, *columns: str, mostly: float = 1.0) -> NotNull:
        return _build(NotNull, columns=columns, mostly=mostly)

    def range(self, column: str, min: Bound | None = None, max: Bound | None = None, *,
              inclusive: bool = True, mostly: float = 1.0) -> Range:
        return _build(Range, column=column, min=min, max=max, inclusive=inclusive, mostly=mostly)

    def allowed_values(self, column: str, values: Sequence[Value], *,
                       mostly: float = 1.0) -> AllowedValues:
        values = values if isinstance(values, str) else list(values)
        return _build(AllowedValues, column=column, values=values, mostly=mostly)

    def unique(self, *columns: str, mostly: float = 1.0) -> Unique:
        return _build(Unique, columns=columns, mostly=mostly)

    def regex(self, column: str, pattern: str, *, mostly: float = 1.0) -> Regex:
        return _build(Regex, column=column, pattern=pattern, mostly=mostly)

    def row_count(self, min: int | None = None, max: int | None = None) -> RowCount:
        return _build(RowCount, min=min, max=max)

    def freshness(self, column: str, max_age: int | float | str) -> Freshness:
        return _build(Freshness, column=column, max_age=max_age)

    def foreign_key(self, column: str, reference: Any, reference_column: str | None = None, *,
                    mostly: float = 1.0) -> ForeignKey:
        return _build(ForeignKey, column=column, reference=reference,
                      reference_column=reference_column, mostly=mostly)


def _build(cls: type[_E], **fields: Any) -> _E:
    try:
        return cls(**fields)
    except ValidationError as exc:
        raise InvalidArgument(_explain(exc)) from exc


expect = _Expect()
"""Build expectations in Python: ``expect.not_null("age")``, ``expect.unique("id")`` ..."""
