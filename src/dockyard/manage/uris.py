"""Model URIs: which package a URI names, and where it lives.

Accepted forms:

* ``models:/<name>/<version>``: a registered version, e.g. ``models:/churn/3``;
* ``models:/<name>@<alias>``: the version an alias points at, ``models:/churn@champion``;
* ``models:/<name>/latest``: the version with the highest number;
* ``models:/<name>/Staging``, ``models:/<name>/Production``: the newest version in that stage;
* ``runs:/<run_id>/<path>``: a package folder in a run's artifacts, ``runs:/<run_id>/model``.

Every form resolves to a folder in a run's artifacts: a version's package is
where it was registered from, never a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from dockyard.entities import ModelStage, ModelVersion, ResolvedModel
from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument, NotFound
from dockyard.store.base import MetadataStore

T = TypeVar("T")
MODELS_SCHEME = "models:/"
RUNS_SCHEME = v.RUNS_SCHEME
ACCEPTED = ("models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest, "
            "models:/<name>/<stage> (Staging or Production) or runs:/<run_id>/<path>")
_URI_STAGES = {s.value.lower(): s for s in (ModelStage.STAGING, ModelStage.PRODUCTION)}


@dataclass(frozen=True)
class ModelURI:
    """A parsed model URI; for ``models:/`` exactly one of version, alias, stage, latest is set."""

    uri: str
    kind: Literal["runs", "models"]
    run_id: str | None = None
    artifact_path: str | None = None
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    stage: ModelStage | None = None
    latest: bool = False


def _bad(uri: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"model URI {uri!r:.200} {why}; accepted forms: {ACCEPTED}")


def parse_model_uri(uri: str) -> ModelURI:
    """Parse a model URI without looking anything up. Raises InvalidArgument."""
    if not isinstance(uri, str):
        raise InvalidArgument(f"a model URI must be a string, got {type(uri).__name__}; "
                              f"accepted forms: {ACCEPTED}")
    if uri.startswith(RUNS_SCHEME):
        run_id, path = v.run_source(uri)
        return ModelURI(uri=uri, kind="runs", run_id=run_id, artifact_path=path)
    if not uri.startswith(MODELS_SCHEME):
        raise _bad(uri, "has an unknown scheme")
    rest = uri[len(MODELS_SCHEME):]
    if rest.startswith("/"):
        raise _bad(uri, "names a registry host; only models:/<name>... (one slash) is supported")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return ModelURI(uri=uri, kind="models", name=_name(uri, name),
                        alias=_part(uri, v.validate_alias, alias))
    name, slash, selector = rest.partition("/")
    if not slash or not selector:
        raise _bad(uri, "names no version or alias")
    name = _name(uri, name)
    if selector.isascii() and selector.isdecimal():
        return ModelURI(uri=uri, kind="models", name=name,
                        version=_part(uri, v.validate_version, selector))
    if selector.lower() == "latest":
        return ModelURI(uri=uri, kind="models", name=name, latest=True)
    if selector.lower() in _URI_STAGES:
        return ModelURI(uri=uri, kind="models", name=name, stage=_URI_STAGES[selector.lower()])
    raise _bad(uri, f"ends in {selector!r:.80}, which is not a version number, 'latest' or a stage")


def _part(uri: str, check: Callable[[str], T], value: str) -> T:
    try:
        return check(value)
    except InvalidArgument as exc:
        raise InvalidArgument(f"model URI {uri!r:.200}: {exc.message}") from None


def _name(uri: str, name: str) -> str:
    if not name:
        raise _bad(uri, "has no model name")
    return _part(uri, v.validate_model_name, name)


def find_model_version(store: MetadataStore, parsed: ModelURI) -> ModelVersion:
    """The version a parsed ``models:/`` URI names. Raises NotFound."""
    name = parsed.name
    if parsed.kind != "models" or name is None:
        raise InvalidArgument(f"{parsed.uri!r:.200} is not a models:/ URI")
    if parsed.version is not None:
        return store.get_model_version(name, parsed.version)
    if parsed.alias is not None:
        return store.get_model_version_by_alias(name, parsed.alias)
    page = store.search_model_versions(name, stage=parsed.stage, max_results=1)
    if not page.items:
        where = f" in {parsed.stage.value}" if parsed.stage else ""
        raise NotFound(f"registered model {name!r} has no version{where} ({parsed.uri})")
    return page.items[0]


def resolve_model_uri(store: MetadataStore, uri: str) -> ResolvedModel:
    """The run and artifact folder a model URI names, and the registered version if any.

    Raises InvalidArgument for a malformed URI, NotFound for an unknown run,
    model, version or alias.
    """
    parsed = parse_model_uri(uri)
    if parsed.kind == "runs":
        assert parsed.run_id is not None and parsed.artifact_path is not None
        store.get_run(parsed.run_id)
        return ResolvedModel(uri=uri, run_id=parsed.run_id, artifact_path=parsed.artifact_path)
    version = find_model_version(store, parsed)
    run_id, path = v.run_source(version.source)
    return ResolvedModel(uri=uri, run_id=run_id, artifact_path=path, model_version=version)
