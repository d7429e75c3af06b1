"""The Python environment a model needs: its Python version and pinned requirements.

Requirements are inferred from the model object itself, not from ``pip
freeze``: Dockyard walks the object graph (estimators, pipeline steps,
nested attributes, functions it refers to), collects the modules the
objects' classes come from, maps each module to the installed distribution
that provides its files, and pins that distribution's version. The flavor
adds what loading needs (``skops`` for a skops file, ``onnxruntime`` for an
ONNX graph). Transitive dependencies are left to the installer.
"""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
import platform
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType, MethodType, ModuleType
from typing import TYPE_CHECKING, Any, Literal

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.models.flavors.base import Flavor
    from dockyard.models.package import ModelManifest

__all__ = [
    "Mismatch",
    "check_environment",
    "distribution_of",
    "infer_requirements",
    "merge_requirements",
    "python_version",
    "requirement_name",
    "used_modules",
]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_SCALARS = (str, bytes, bytearray, int, float, complex, bool, type(None), range, slice)
# Containers of numbers: their module matters, their elements do not.
_LEAF_PACKAGES = frozenset({"numpy", "pandas", "scipy", "pyarrow"})
_WALK_LIMIT = 200_000
_CONTAINER_SAMPLE = 10_000
# Ourselves: recorded as dockyard_version in the manifest, not as a requirement.
_SELF = frozenset({"dockyard"})


def python_version() -> str:
    """The running interpreter's version, e.g. ``"3.11.7"``."""
    return platform.python_version()


def infer_requirements(
    model: Any, flavor: Flavor | str | None = None, *, serialization: str | None = None
) -> list[str]:
    """Pinned ``"dist==version"`` lines for the distributions ``model`` really uses.

    ``flavor`` (a Flavor or its name; detected when None) adds the
    distributions its loader needs, and ``serialization`` those of one
    format (e.g. ``"joblib"``). Sorted by name; Dockyard itself is left out.
    """
    from dockyard.models.flavors import detect_flavor, get_flavor

    if flavor is None:
        flavor = detect_flavor(model)
    elif isinstance(flavor, str):
        flavor = get_flavor(flavor)
    names = {dist for module in used_modules(model) if (dist := distribution_of(module))}
    names.update(flavor.requirements)
    if serialization is not None:
        names.update(flavor.format_requirements.get(serialization, ()))
    pins = {}
    for name in names:
        key = _canonical(name)
        if key in _SELF:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        pins[key] = f"{dist.metadata['Name']}=={dist.version}"
    return [pins[key] for key in sorted(pins)]


def merge_requirements(
    base: Iterable[str], extra: Iterable[str], *, replace: bool = True
) -> list[str]:
    """``base`` with the lines of ``extra`` added.

    An extra line for a distribution ``base`` already names replaces that line
    (``replace=True``) or is dropped (``replace=False``).
    """
    lines = [line.strip() for line in base if line.strip()]
    for line in extra:
        line = line.strip()
        if not line:
            continue
        key = _canonical(requirement_name(line))
        named = [old for old in lines if _canonical(requirement_name(old)) == key]
        if named and not replace:
            continue
        lines = [old for old in lines if old not in named]
        lines.append(line)
    return lines


def requirement_name(line: str) -> str:
    """The distribution name a requirement line starts with; InvalidArgument when there is none."""
    match = _NAME.match(line)
    if match is None or line.lstrip().startswith(("-", "#")):
        raise InvalidArgument(
            f"requirement {line!r} does not start with a distribution name "
            "(write it as 'name', 'name==1.2' or 'name>=1.2')"
        )
    return match.group(1)


@dataclass(frozen=True)
class Mismatch:
    """One way the running environment differs from what the model was saved with."""

    kind: Literal["python", "missing", "version"]
    name: str
    required: str
    installed: str | None

    @property
    def message(self) -> str:
        if self.kind == "python":
            return f"Python {self.installed} is running; the model was saved with Python {self.required}"
        if self.kind == "missing":
            return f"{self.name} is not installed; the model needs {self.required}"
        return f"{self.name} {self.installed} is installed; the model needs {self.required}"

    def __str__(self) -> str:
        return self.message


def check_environment(manifest: ModelManifest) -> list[Mismatch]:
    """How the running environment differs from the manifest's Python and requirements.

    Python counts as different when the major or minor version differs (a
    patch release does not change what loads). A requirement is ``missing``
    when its distribution is not installed and ``version`` when the installed
    version does not satisfy it; requirements whose environment marker does
    not apply here are skipped.
    """
    mismatches = []
    running = python_version()
    if manifest.python_version.split(".")[:2] != running.split(".")[:2]:
        mismatches.append(Mismatch("python", "python", manifest.python_version, running))
    for line in manifest.requirements:
        mismatch = _check_requirement(line)
        if mismatch is not None:
            mismatches.append(mismatch)
    return mismatches


def _check_requirement(line: str) -> Mismatch | None:
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # packaging is nearly always there; without it, only '==' is checked
        return _check_pin(line)
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return _check_pin(line)
    if requirement.marker is not None and not requirement.marker.evaluate():
        return None
    installed = _installed_version(requirement.name)
    if installed is None:
        return Mismatch("missing", requirement.name, line.strip(), None)
    if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
        return Mismatch("version", requirement.name, line.strip(), installed)
    return None


def _check_pin(line: str) -> Mismatch | None:
    name = requirement_name(line)
    installed = _installed_version(name)
    if installed is None:
        return Mismatch("missing", name, line.strip(), None)
    pinned = re.match(r"^\s*[A-Za-z0-9._-]+\s*==\s*([^\s;,]+)\s*$", line)
    if pinned and pinned.group(1) != installed:
        return Mismatch("version", name, line.strip(), installed)
    return None


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def used_modules(root: Any) -> set[str]:
    """Modules the classes (and functions) of ``root``'s object graph come from."""
    modules: set[str] = set()
    seen: set[int] = set()
    stack = [root]
    while stack and len(seen) < _WALK_LIMIT:
        obj = stack.pop()
        if isinstance(obj, _SCALARS) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, ModuleType):
            modules.add(obj.__name__)
            continue
        if isinstance(obj, type):
            modules.update(klass.__module__ for klass in obj.__mro__)
            continue
        if callable(obj):
            # Functions (and numpy ufuncs) name the module that defines them.
            module = getattr(obj, "__module__", None)
            if isinstance(module, str):
                modules.add(module)
            if isinstance(obj, MethodType):
                stack.append(obj.__self__)
            if isinstance(obj, FunctionType):
                continue
        cls = type(obj)
        modules.update(klass.__module__ for klass in cls.__mro__)
        if cls.__module__.split(".", 1)[0] in _LEAF_PACKAGES:
            continue
        # Large containers (a vocabulary, a list of floats) hold one kind of thing:
        # their first items tell which.
        if isinstance(obj, dict):
            stack.extend(itertools.islice(obj.keys(), _CONTAINER_SAMPLE))
            stack.extend(itertools.islice(obj.values(), _CONTAINER_SAMPLE))
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(itertools.islice(obj, _CONTAINER_SAMPLE))
            continue
        if isinstance(obj, functools.partial):
            stack.extend((obj.func, obj.args, obj.keywords))
        state = getattr(obj, "__dict__", None)
        if isinstance(state, dict):
            stack.extend(state.values())
        for slot in _slots(cls):
            if hasattr(obj, slot):
                stack.append(getattr(obj, slot))
    return modules


def _slots(cls: type) -> list[str]:
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return [name for name in names if name not in ("__dict__", "__weakref__")]


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides ``module``'s files; None for the stdlib and local code."""
    top = module.split(".", 1)[0]
    if top in sys.stdlib_module_names or top in ("builtins", "__main__", ""):
        return None
    candidates = _packages_distributions().get(top, [])
    if not candidates:
        return None
    loaded = sys.modules.get(module) or sys.modules.get(top)
    where = getattr(loaded, "__file__", None)
    if where is None:
        return candidates[0] if len(candidates) == 1 else None
    for candidate in dict.fromkeys(candidates):
        if _provides(candidate, str(Path(where).resolve())):
            return candidate
    return None


@functools.cache
@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    # Scanning every installed distribution takes ~0.1 s; once per process is enough.
    return importlib.metadata.packages_distributions()


@functools.lru_cache(maxsize=4096)
def _provides(distribution: str, file: str) -> bool:
    """Whether ``distribution`` installed ``file`` (rather than a local folder of the same name)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    root = Path(str(dist.locate_file(""))).resolve()
    path = Path(file)
    if not path.is_relative_to(root):
        return False
    parts = path.relative_to(root).parts
    return bool(parts) and parts[0] in _top_levels(distribution)


@functools.lru_cache(maxsize=512)
def _top_levels(distribution: str) -> frozenset[str]:
    """The top-level folders and modules a distribution installs, from its RECORD."""
    files = importlib.metadata.distribution(distribution).files or ()
    return frozenset(
        entry.parts[0]
        for entry in files
        if entry.parts and entry.parts[0] != ".." and not entry.parts[0].endswith(".dist-info")
    )
