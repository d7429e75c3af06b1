"""Container build contexts: a folder that ``docker build`` turns into a server for one model.

::

    build/
      Dockerfile          python:3.11-slim, the lock installed, a non-root user, a health check
      .dockerignore
      README.md           how to build and run the image
      build.json          what was built: model URI, name, version, digest, Python, when
      requirements.txt    the model's requirements and what ``dockyard serve`` needs, pinned
      requirements.lock   every distribution the image installs, transitively, exact versions
      wheels/             a wheel of the installed Dockyard (it is not on PyPI)
      model/              the model package, checked against its registered digest

:func:`build_context` writes the folder under a temporary sibling name and
renames it into place, so a context is never seen half written. The image
runs ``dockyard serve /opt/model`` on port 8080 as uid 10001.

How the lock is made: from the environment the context is built in, not by
a resolver. Starting from Dockyard (with the extra of the model's flavor),
the flavor's packages and the model package's own requirements, the walk
follows each installed distribution's ``Requires-Dist`` (with the extras
asked for, markers evaluated for this interpreter and platform) and pins
every distribution it reaches at its installed version. The same
environment gives the same lock on any day and without the network, and the
image gets the very versions the model was just loaded with here (the build
loads it once). ``pip install --dry-run --report`` or ``pip-compile`` would
instead give whatever the index serves that day, need the network, and
could pick versions nobody ran the model with. The price: the model's
requirements must be installed here, at versions its pins accept (Conflict
lists every one that is not), and the image's Python is this one's minor
version on this platform, so build on Linux with the image's architecture.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from dockyard.entities import validation as v
from dockyard.errors import Conflict, DockyardError, InvalidArgument, UntrustedModel
from dockyard.files import fsync_dir

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.models.flavors import Flavor
    from dockyard.models.package import ModelManifest

__all__ = [
    "CONTAINER_PORT",
    "CONTAINER_UID",
    "HEALTH_PATH",
    "MODEL_PATH",
    "BuildResult",
    "build_context",
    "image_tag",
]

CONTAINER_PORT = 8080
CONTAINER_UID = 10001
MODEL_PATH = "/opt/model"
"""Where the image holds the model package."""
HEALTH_PATH = "/v2/health/ready"
_APP_DIR = "/opt/dockyard"
_HOME_DIR = "/var/lib/dockyard"
_MODEL = "the model package"
_SERVE = "dockyard serve"
_OWN = "--dockyard-requirement"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    """A build context written by :func:`build_context`."""

    path: Path
    """The context folder; ``docker build`` takes it."""
    uri: str
    name: str
    """The name the image serves the model under, ``/v2/models/<name>``."""
    version: str
    """The registered version, or the first 12 hex digits of the digest for a ``runs:/`` URI."""
    digest: str
    """The package digest (sha256 of the manifest) the model in the context matches."""
    flavor: str
    python_version: str
    base_image: str
    trust: bool
    """Whether the image serves with ``--trust`` (the package's format runs code on load)."""
    dockyard_requirement: str
    """How the image installs Dockyard: ``./wheels/<file>`` or the given requirement."""
    requirements: tuple[str, ...]
    """The lines of requirements.txt."""
    lock: tuple[str, ...]
    """The requirement lines of requirements.lock, one per distribution."""
    created_at: str
    notes: tuple[str, ...] = ()
    """Things worth knowing that did not stop the build (another Python, another platform)."""

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"

    @property
    def model_path(self) -> Path:
        return self.path / "model"

    @property
    def requirements_path(self) -> Path:
        return self.path / "requirements.txt"

    @property
    def lock_path(self) -> Path:
        return self.path / "requirements.lock"

    @property
    def wheels_path(self) -> Path:
        return self.path / "wheels"

    @property
    def tag(self) -> str:
        """A Docker image tag for the model, e.g. ``churn:3``."""
        return image_tag(self.name, self.version)


def build_context(
    uri: str,
    output: str | os.PathLike[str],
    *,
    client: Client | None = None,
    name: str | None = None,
    dockyard_requirement: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Write a container build context serving the model ``uri`` names into ``output``.

    ``uri`` is ``models:/<name>@<alias>``, ``models:/<name>/<version>`` or
    ``runs:/<run_id>/<path>``; an alias is read once and the context pins the
    version it pointed at. ``name`` is the name served (default: the
    registered name). ``dockyard_requirement`` is a pip requirement for
    Dockyard (``"dockyard==0.1.0"`` from a private index) used instead of a
    wheel built from the installed Dockyard. ``progress`` gets a line before
    each slow step.

    Raises InvalidArgument for a malformed URI or an output folder that is not
    empty (unless ``force``, which replaces it), NotFound for a model, version
    or alias that does not exist, Conflict when the model's requirements are
    not what is installed here (the lock is made from this environment), and
    IntegrityError when the package does not match its registered digest.
    Nothing is written to ``output`` unless the whole context is.
    """
    from dockyard.manage.packages import is_model_uri, read_logged_manifest
    from dockyard.manage.uris import ACCEPTED
    from dockyard.models.flavors import get_flavor

    say = progress or (lambda message: None)
    uri = str(uri)
    if not is_model_uri(uri):
        raise InvalidArgument(
            f"{uri!r} is not a model URI; dockyard build takes {ACCEPTED}. A local package "
            "folder has no registered digest to pin the image to: log and register it first")
    target = Path(output).expanduser().absolute()
    _check_output(target, force)
    own = _own_requirement(dockyard_requirement)
    if client is None:
        from dockyard.client import Client

        client = Client()
    resolved = client.resolve_model_uri(uri)
    manifest, digest = read_logged_manifest(client, resolved)
    flavor = get_flavor(manifest.flavor)
    registered = resolved.model_version
    default_name = registered.name if registered else resolved.artifact_path.rsplit("/", 1)[-1]
    served = v.validate_model_name(name if name is not None else default_name)
    version = str(registered.version) if registered else digest[:12]
    # The alias may move while this runs: fetch the version it pointed at, not the alias.
    pinned_uri = f"models:/{registered.name}/{registered.version}" if registered else uri
    notes = _notes(manifest)
    for note in notes:
        say(f"note: {note}")

    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise InvalidArgument(f"cannot write into {target.parent}: {exc.strerror or exc}",
                              path=str(target)) from exc
    try:
        wheels = staging / "wheels"
        wheels.mkdir()
        # Before the download: a model that does not fit this environment fails fast.
        plan = _plan(manifest, flavor, own, wheels, say)
        say(f"downloading {pinned_uri} ({manifest.flavor}, {len(manifest.files)} files)")
        package = client.download_model(pinned_uri, staging / "model")
        say("verifying the package and loading the model once")
        trust = _needs_trust(package, manifest, flavor, digest)
        created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        result = BuildResult(
            path=target, uri=uri, name=served, version=version, digest=digest,
            flavor=manifest.flavor, python_version=platform.python_version(),
            base_image=_base_image(), trust=trust,
            dockyard_requirement=plan.locked["dockyard"].line,
            requirements=plan.lines(plan.top), lock=plan.lines(plan.locked),
            created_at=created, notes=tuple(notes))
        _write_context(staging, result, plan, str(output))
        _move_into_place(staging, target, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def image_tag(name: str, version: str) -> str:
    """A valid Docker ``repository:tag`` for a model: ``("Churn v2", "3")`` -> ``churn-v2:3``."""
    repository = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-"
                         for c in name.lower())
    repository = "-".join(part for part in repository.split("-") if part).strip("._") or "model"
    tag = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in version)
    return f"{repository[:128]}:{tag.lstrip('.-')[:128] or 'latest'}"


# ------------------------------------------------------------------ the output folder


def _check_output(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise InvalidArgument(f"{target} exists and is not a folder; choose a new folder for "
                              "the build context", path=str(target))
    here, home = Path.cwd().absolute(), Path.home()
    if target in (here, home, *here.parents, *home.parents):
        raise InvalidArgument(
            f"{target} is the current folder, one that holds it, or your home; write the build "
            "context into a folder of its own, e.g. -o build/", path=str(target))
    if target.is_dir() and any(target.iterdir()) and not force:
        raise InvalidArgument(
            f"{target} is not empty; write the build context into a new or empty folder, or pass "
            "--force (force=True) to replace what is in it", path=str(target))


def _move_into_place(staging: Path, target: Path, force: bool) -> None:
    old = None
    if target.is_dir():
        if any(target.iterdir()):
            if not force:  # something arrived since the check
                raise InvalidArgument(f"{target} is not empty; pass --force to replace it",
                                      path=str(target))
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")
            os.rename(target, old)
        else:
            target.rmdir()
    try:
        os.rename(staging, target)
    except OSError as exc:
        if old is not None:
            os.rename(old, target)
        raise InvalidArgument(f"cannot move the build context into {target}: "
                              f"{exc.strerror or exc}", path=str(target)) from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


# ------------------------------------------------------------------ requirements and the lock


@dataclass
class _Locked:
    """One distribution of the lock: what the image installs, and what that requires."""

    name: str
    version: str
    source: str
    """Where from: ``name==version``, ``./wheels/<file>`` or ``name @ url``."""
    requires: list[str] = field(repr=False)
    indexed: bool = False
    """Whether the image gets it from an index by name and version."""
    via: set[str] = field(default_factory=set)
    extras: set[str] = field(default_factory=set)

    @property
    def line(self) -> str:
        """The requirement line, with the extras asked for (``uvicorn[standard]==0.30.1``)."""
        if self.extras and self.indexed:
            return f"{self.name}[{','.join(sorted(self.extras))}]=={self.version}"
        return self.source


@dataclass
class _Plan:
    locked: dict[str, _Locked]
    """Canonical name -> distribution, every one the image installs."""
    top: set[str]
    """Canonical names of requirements.txt: the package's and what serving needs directly."""

    def lines(self, keys: set[str] | dict[str, _Locked]) -> tuple[str, ...]:
        return tuple(self.locked[key].line for key in sorted(keys))


def _own_requirement(line: str | None) -> Requirement | None:
    if line is None:
        return None
    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        raise InvalidArgument(f"--dockyard-requirement {line!r} is not a pip requirement "
                              f"({exc}); write e.g. 'dockyard==0.1.0'") from None
    if canonicalize_name(requirement.name) != "dockyard":
        raise InvalidArgument(f"--dockyard-requirement {line!r} names {requirement.name}, not "
                              "dockyard; write e.g. 'dockyard==0.1.0'")
    return requirement


def _plan(manifest: ModelManifest, flavor: Flavor, own: Requirement | None, wheels: Path,
          say: Progress) -> _Plan:
    """Walk what serving ``manifest`` needs through the installed distributions."""
    from dockyard.models.environment import distribution_of

    serving = importlib.metadata.distribution("dockyard")
    provided = serving.metadata.get_all("Provides-Extra") or ()
    extra = flavor.extra if flavor.extra in provided else None
    roots = [(Requirement(f"dockyard[{extra}]" if extra else "dockyard"), _SERVE)]
    if own is not None:
        roots.append((own, _OWN))
    engine = f"the {flavor.name} flavor"
    needed = [*flavor.requirements, *flavor.format_requirements.get(manifest.loader.format, ())]
    plugin = distribution_of(type(flavor).__module__)
    if plugin is not None:  # a flavor of a third-party package, through its entry point
        needed.append(plugin)
    roots += [(Requirement(name), engine) for name in needed]
    for line in manifest.requirements:
        try:
            roots.append((Requirement(line), _MODEL))
        except InvalidRequirement as exc:
            raise InvalidArgument(f"the model package's requirement {line!r} is not a pip "
                                  f"requirement: {exc}") from None
    # A marker that does not hold here (another OS, another Python) takes its line out.
    roots = [(r, via) for r, via in roots if r.marker is None or r.marker.evaluate()]
    locked, wanted, problems = _walk(roots, lambda dist, url: _source(dist, url, own, wheels, say))
    if problems:
        raise Conflict(_conflict_message(problems, wanted),
                       problems=[problem.text for problem in problems])
    top = {canonicalize_name(requirement.name) for requirement, _via in roots}
    # and what Dockyard requires directly: requirements.txt says what serving needs
    top |= {key for key, entry in locked.items() if locked["dockyard"].name in entry.via}
    return _Plan(locked, top & locked.keys())


_SourceOf = Callable[[importlib.metadata.Distribution, "str | None"], _Locked]


@dataclass(frozen=True)
class _Problem:
    via: str
    """Who needs it: the model package, a flavor, dockyard serve, or a distribution."""
    requirement: Requirement
    text: str


def _walk(roots: list[tuple[Requirement, str]], source: _SourceOf
          ) -> tuple[dict[str, _Locked], dict[str, list[tuple[str, Requirement]]],
                     list[_Problem]]:
    """Follow the requirements of what the image installs, from ``roots``.

    ``source`` turns an installed distribution into what the image installs
    (a pin, a wheel of a local source, a URL). Returns the distributions
    reached, who asked for each and how, and the problems found.
    """
    locked: dict[str, _Locked] = {}
    wanted: dict[str, list[tuple[str, Requirement]]] = {}
    followed: dict[str, set[str]] = {}
    problems: list[_Problem] = []
    queue = list(roots)
    while queue:
        requirement, via = queue.pop(0)
        key = canonicalize_name(requirement.name)
        wanted.setdefault(key, []).append((via, requirement))
        entry = locked.get(key)
        if entry is None:
            try:
                dist = importlib.metadata.distribution(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                problems.append(_Problem(via, requirement, f"{via} needs "
                                         f"{_plain(requirement)}, which is not installed here"))
                continue
            url = requirement.url if via == _MODEL else None
            entry = locked[key] = source(dist, url)
        if requirement.specifier and not requirement.specifier.contains(entry.version,
                                                                       prereleases=True):
            problems.append(_Problem(via, requirement, f"{via} needs {_plain(requirement)}, "
                                     f"but {entry.name} {entry.version} is installed here"))
        entry.via.add(via)
        extras = {""} | {canonicalize_name(extra) for extra in requirement.extras}
        new = extras - followed.get(key, set())
        if not new:
            continue
        followed.setdefault(key, set()).update(new)
        entry.extras.update(extra for extra in new if extra)
        for text in entry.requires:
            try:
                dependency = Requirement(text)
            except InvalidRequirement:
                raise InvalidArgument(f"{entry.name} {entry.version} declares a requirement "
                                      f"pip cannot read: {text!r}; reinstall it") from None
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in new):
                queue.append((dependency, entry.name))
    return locked, wanted, problems


def _plain(requirement: Requirement) -> str:
    """The requirement without its marker, which held here when it is reported."""
    return str(requirement).split(";", 1)[0].strip()


def _conflict_message(problems: list[_Problem],
                      wanted: dict[str, list[tuple[str, Requirement]]]) -> str:
    lines = []
    for problem in problems:
        text = problem.text
        if problem.via == _MODEL:
            text += _beyond_dockyard(problem.requirement,
                                     wanted[canonicalize_name(problem.requirement.name)])
        lines.append(f"  - {text}")
    sources = {problem.via for problem in problems}
    fixes = []
    if _MODEL in sources:
        fixes.append("install what the model needs here ('dockyard models check-env <uri>' "
                     "lists the differences) and build again, or log the model again from "
                     "this environment")
    if any(via.endswith(" flavor") for via in sources):
        fixes.append("install the flavor's engine here (pip install 'dockyard[<flavor>]')")
    if any(canonicalize_name(via) == "dockyard" for via in sources):
        fixes.append("install what Dockyard needs here (after a change to its dependencies, "
                     "pip install -e <its source folder> brings them)")
    if _OWN in sources:
        fixes.append("give a --dockyard-requirement that the installed Dockyard satisfies: the "
                     "lock holds that version's dependencies")
    if not fixes:
        fixes.append("repair this environment ('pip check' lists what is broken)")
    return ("the image's environment is locked from this one (the versions installed here), "
            "and this one does not fit:\n" + "\n".join(lines) + "\nFix: " + "; ".join(fixes)
            + ".")


def _beyond_dockyard(pin: Requirement, others: list[tuple[str, Requirement]]) -> str:
    """Why a model pin cannot be served at all: Dockyard's own requirement excludes it."""
    exact = [spec.version for spec in pin.specifier if spec.operator == "=="]
    for via, other in others:
        if exact and canonicalize_name(via) == "dockyard" and other.specifier \
                and not other.specifier.contains(exact[0], prereleases=True):
            return (f"; and Dockyard itself needs {_plain(other)}, so no image of this "
                    "Dockyard can serve the model as pinned")
    return ""


def _source(dist: importlib.metadata.Distribution, url: str | None, own: Requirement | None,
            wheels: Path, say: Progress) -> _Locked:
    """What the image installs for ``dist``: a pin, a wheel in ``wheels`` or a URL."""
    name, version = dist.metadata["Name"], dist.version
    requires = list(dist.requires or ())
    is_self = canonicalize_name(name) == "dockyard"
    if is_self and own is not None:
        return _Locked(name, version, str(own), requires)
    if url is not None:  # the model package names it by URL: keep that
        return _Locked(name, version, f"{name} @ {url}", requires)
    text = dist.read_text("direct_url.json")
    if not text and is_self:
        raise InvalidArgument(
            f"dockyard {version} was installed from a package index, not from its source, "
            "so there is no wheel of it to put into the context; pass --dockyard-requirement "
            f"'dockyard=={version}' and --build-arg PIP_INDEX_URL=<that index> to docker build")
    if not text:  # from an index: the version says it all
        return _Locked(name, version, f"{name}=={version}", requires, indexed=True)
    origin = json.loads(text)
    where = origin.get("url", "")
    vcs = origin.get("vcs_info")
    if vcs:
        line = f"{name} @ {vcs['vcs']}+{where}@{vcs.get('commit_id', '')}".rstrip("@")
        return _Locked(name, version, line, requires)
    parsed = urlparse(where)
    if parsed.scheme in ("http", "https"):
        return _Locked(name, version, f"{name} @ {where}", requires)
    path = Path(url2pathname(unquote(parsed.path))) if parsed.scheme == "file" else None
    if path is not None and path.is_file() and path.name.endswith(".whl"):
        wheel = Path(shutil.copy2(path, wheels / path.name))
    elif path is not None and path.is_dir():
        say(f"building a wheel of {name} {version} from {path}")
        wheel = _build_wheel(name, path, wheels)
    elif path is not None and path.name.endswith(".whl"):
        # The wheel it came from is gone; an index release of that version is the same code.
        return _Locked(name, version, f"{name}=={version}", requires, indexed=True)
    else:
        flag = " (or pass --dockyard-requirement)" if is_self else ""
        raise InvalidArgument(
            f"{name} {version} was installed from {where}, which the image cannot reach and no "
            f"wheel can be made of; install it from an index or a local folder{flag} and build "
            "again")
    # The wheel decides: an editable install's metadata is as old as its last `pip install -e`.
    version, requires = _wheel_metadata(wheel)
    return _Locked(name, version, f"./wheels/{wheel.name}", requires)


def _build_wheel(name: str, source: Path, wheels: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="dockyard-wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input",
                   "--wheel-dir", tmp, str(source)]
        if _backend_installed(source):
            # Offline and faster; otherwise pip fetches the build backend into an isolated env.
            command.insert(4, "--no-build-isolation")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        built = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(built) != 1:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-12:])
            other = (", or pass --dockyard-requirement to install Dockyard from an index"
                     if canonicalize_name(name) == "dockyard" else "")
            raise DockyardError(f"could not build a wheel of {name} from {source} (pip wheel "
                                f"exited with {done.returncode}):\n{tail}\nFix the build and "
                                f"try again{other}")
        return Path(shutil.move(built[0], wheels / built[0].name))


def _backend_installed(source: Path) -> bool:
    try:
        pyproject = tomllib.loads((source / "pyproject.toml").read_text())
        requires = pyproject["build-system"]["requires"]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        return False
    for line in requires:
        try:
            requirement = Requirement(line)
            installed = importlib.metadata.version(requirement.name)
        except (InvalidRequirement, importlib.metadata.PackageNotFoundError):
            return False
        if not requirement.specifier.contains(installed, prereleases=True):
            return False
    return True


def _wheel_metadata(wheel: Path) -> tuple[str, list[str]]:
    """The version and Requires-Dist of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(name).decode())
    return metadata["Version"], list(metadata.get_all("Requires-Dist") or ())


def _notes(manifest: ModelManifest) -> list[str]:
    notes = []
    running = platform.python_version()
    if manifest.python_version.split(".")[:2] != running.split(".")[:2]:
        notes.append(f"the model was saved with Python {manifest.python_version}; the image runs "
                     f"Python {running}, this one, which the lock is made for")
    if sys.platform != "linux":
        notes.append(f"the lock is made for this platform ({sys.platform}, "
                     f"{platform.machine()}); the image runs Linux: build the context on Linux "
                     "to get the distributions Linux needs")
    return notes


def _needs_trust(package: Path, manifest: ModelManifest, flavor: Flavor, digest: str) -> bool:
    """Whether the image must serve with ``--trust``.

    Loads the model to find out, which also shows that it loads with the
    versions the lock pins.
    """
    from dockyard.models.package import load

    if manifest.executes_code_on_load or flavor.executes_code(manifest.loader):
        load(package, trust=True, digest=digest)
        return True
    try:
        load(package, trust=False, digest=digest)
    except UntrustedModel:
        # e.g. a skops file with types skops will not build from a file; this package is the
        # registered one (its digest matched), as trusted as `dockyard serve models:/...` takes it.
        load(package, trust=True, digest=digest)
        return True
    return False


# ------------------------------------------------------------------ the files


def _base_image() -> str:
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def _quoted(value: str) -> str:
    """A Dockerfile ENV or LABEL value: double quotes, with quotes, backslashes and $ escaped."""
    if "\n" in value or "\r" in value:
        raise InvalidArgument(f"{value!r} holds a line break; it cannot go into a Dockerfile")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def _entrypoint(result: BuildResult) -> list[str]:
    return ["dockyard", "serve", MODEL_PATH, "--host", "0.0.0.0", "--port", str(CONTAINER_PORT),
            "--name", result.name, "--model-version", str(result.version),
            *(["--trust"] if result.trust else [])]


def _dockerfile(result: BuildResult) -> str:
    probe = (f"import urllib.request; urllib.request.urlopen("
             f"'http://127.0.0.1:{CONTAINER_PORT}{HEALTH_PATH}', timeout=4)")
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "DOCKYARD_HOME": _HOME_DIR,
           "DOCKYARD_MODEL_NAME": result.name, "DOCKYARD_MODEL_VERSION": result.version,
           "DOCKYARD_MODEL_URI": result.uri, "DOCKYARD_MODEL_DIGEST": result.digest}
    labels = {"org.opencontainers.image.title": result.name,
              "org.opencontainers.image.version": result.version,
              "org.opencontainers.image.created": result.created_at,
              "org.opencontainers.image.description":
                  f"Dockyard model server for {result.uri} ({result.flavor})",
              "io.dockyard.model.uri": result.uri,
              "io.dockyard.model.name": result.name,
              "io.dockyard.model.version": result.version,
              "io.dockyard.model.digest": f"sha256:{result.digest}",
              "io.dockyard.model.flavor": result.flavor}
    uid = CONTAINER_UID
    return "\n".join([
        f"# Written by `dockyard build` for {result.uri} ({result.name} version {result.version}).",
        f"#   docker build -t {result.tag} .",
        f"#   docker run -p {CONTAINER_PORT}:{CONTAINER_PORT} {result.tag}",
        f"FROM {result.base_image}",
        "",
        _instruction("ENV", env),
        "",
        _instruction("LABEL", labels),
        "",
        "# The pinned environment first: it changes less often than the model, so its layers",
        "# are reused. The lock names Dockyard's wheel in wheels/ (it is not on PyPI).",
        "# Another index or a mirror: docker build --build-arg PIP_INDEX_URL=... (build args",
        "# show in the image's history: no credentials in them).",
        "ARG PIP_INDEX_URL",
        "ARG PIP_EXTRA_INDEX_URL",
        f"WORKDIR {_APP_DIR}",
        "COPY requirements.lock requirements.txt build.json ./",
        "COPY wheels/ wheels/",
        "RUN pip install --no-cache-dir -r requirements.lock --find-links wheels/",
        "",
        "# A user of its own: it owns DOCKYARD_HOME (the prediction log), not the model.",
        f"RUN groupadd --system --gid {uid} dockyard \\",
        f" && useradd --system --uid {uid} --gid {uid} --home-dir {_HOME_DIR} --create-home \\",
        "    --shell /usr/sbin/nologin dockyard",
        f"COPY model/ {MODEL_PATH}/",
        f"USER {uid}:{uid}",
        "",
        f"EXPOSE {CONTAINER_PORT}",
        "HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \\",
        f"    CMD {json.dumps(['python', '-c', probe])}",
        "# Options given to `docker run IMAGE ...` are added to these.",
        f"ENTRYPOINT {json.dumps(_entrypoint(result))}",
        "",
    ])


def _instruction(keyword: str, values: dict[str, str]) -> str:
    pad = " " * (len(keyword) + 1)
    pairs = [f"{key}={_quoted(value)}" for key, value in values.items()]
    return f"{keyword} " + f" \\\n{pad}".join(pairs)


_DOCKERIGNORE = """\
# model/ goes into the image whole: its manifest lists every file, and a file left out
# would fail the integrity check when the server loads the package.
.git
README.md
**/.DS_Store
"""


def _readme(result: BuildResult, folder: str) -> str:
    folder = folder.rstrip("/") + "/"
    port = CONTAINER_PORT
    return f"""\
# {result.name} version {result.version}: a container build context

Written by `dockyard build` from `{result.uri}` on {result.created_at}. It serves
the model with `dockyard serve` on port {port}, as uid {CONTAINER_UID}, on
`{result.base_image}`.

```bash
docker build -t {result.tag} {folder}
docker run -p {port}:{port} {result.tag}
curl -s localhost:{port}{HEALTH_PATH}
curl -s localhost:{port}/v2/models/{result.name}
```

Options after the image name go to `dockyard serve`, e.g.
`docker run -p {port}:{port} {result.tag} --workers 2 --no-prediction-log`.

| file | what |
| --- | --- |
| `Dockerfile` | the image: the lock installed, a non-root user, a health check on `{HEALTH_PATH}` |
| `requirements.txt` | the model's requirements and what `dockyard serve` needs, pinned |
| `requirements.lock` | every distribution the image installs, exact versions |
| `wheels/` | wheels the lock names that are on no index (Dockyard's) |
| `model/` | the model package, sha256 `{result.digest}` |
| `build.json` | what was built, when, from where |
"""


def _write_context(staging: Path, result: BuildResult, plan: _Plan, folder: str) -> None:
    header = (f"# Written by `dockyard build` for {result.uri} ({result.name} version "
              f"{result.version}), from Python {result.python_version} on {sys.platform} "
              f"{platform.machine()}.\n")
    (staging / "requirements.txt").write_text(
        header + "# The model package's requirements and what `dockyard serve` needs, pinned to "
        "the versions\n# installed where the context was built; the image installs "
        "requirements.lock.\n" + "".join(f"{line}\n" for line in result.requirements))
    entries = [plan.locked[key] for key in sorted(plan.locked)]
    (staging / "requirements.lock").write_text(
        header + "# Every distribution the image installs, transitively, at the version installed "
        "where the\n# context was built:\n#   pip install -r requirements.lock --find-links "
        "wheels/\n"
        + "".join(f"{line}\n    # via {', '.join(sorted(entry.via, key=str.lower))}\n"
                  for line, entry in zip(result.lock, entries, strict=True)))
    (staging / "Dockerfile").write_text(_dockerfile(result))
    (staging / ".dockerignore").write_text(_DOCKERIGNORE)
    (staging / "README.md").write_text(_readme(result, folder))
    (staging / "build.json").write_text(json.dumps(_build_json(result), indent=2) + "\n")
    _readable(staging)


def _build_json(result: BuildResult) -> dict[str, Any]:
    from dockyard._version import __version__

    return {
        "uri": result.uri, "name": result.name, "version": result.version,
        "digest": result.digest, "flavor": result.flavor, "python_version": result.python_version,
        "platform": f"{sys.platform}-{platform.machine()}", "base_image": result.base_image,
        "dockyard_version": __version__, "dockyard_requirement": result.dockyard_requirement,
        "trust": result.trust, "entrypoint": _entrypoint(result), "created_at": result.created_at,
    }


def _readable(root: Path) -> None:
    """Files 0644, folders 0755: COPY keeps modes, and the image's user must read the model."""
    for folder, folders, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
