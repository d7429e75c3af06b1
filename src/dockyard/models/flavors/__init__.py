"""The flavor table: every engine a model package can hold, in detection order.

Built-in flavors are listed here. Third-party packages add theirs through the
``dockyard.flavors`` entry point group (each entry point names a
:class:`Flavor` instance, a Flavor subclass, or a function returning one);
those are loaded lazily, once, the first time a flavor is looked up or
detected. :func:`register_flavor` does the same from code.

Detection tries registered flavors before the built-ins: a plugin that claims
an object knows it better than the generic scikit-learn flavor does (many
libraries subclass scikit-learn's ``BaseEstimator``).
"""

from __future__ import annotations

import importlib.metadata
import threading
from typing import Any

from dockyard.errors import InvalidArgument, NotFound
from dockyard.models.flavors.base import Flavor, SavedModel, SaveOptions, import_engine
from dockyard.models.flavors.lightgbm import LightGBMFlavor
from dockyard.models.flavors.onnx import OnnxFlavor
from dockyard.models.flavors.python_model import (
    PythonModel,
    PythonModelContext,
    PythonModelFlavor,
)
from dockyard.models.flavors.pytorch import PyTorchFlavor
from dockyard.models.flavors.sklearn import SklearnFlavor
from dockyard.models.flavors.xgboost import XGBoostFlavor

__all__ = [
    "BUILTIN_FLAVORS",
    "ENTRY_POINT_GROUP",
    "FLAVORS",
    "Flavor",
    "PythonModel",
    "PythonModelContext",
    "SaveOptions",
    "SavedModel",
    "detect_flavor",
    "get_flavor",
    "import_engine",
    "load_entry_points",
    "register_flavor",
]

ENTRY_POINT_GROUP = "dockyard.flavors"

# XGBoost and LightGBM wrappers subclass scikit-learn's BaseEstimator, so they
# come before sklearn; a PythonModel may wrap anything, so it comes first.
BUILTIN_FLAVORS: tuple[Flavor, ...] = (
    PythonModelFlavor(),
    XGBoostFlavor(),
    LightGBMFlavor(),
    SklearnFlavor(),
    OnnxFlavor(),
    PyTorchFlavor(),
)

FLAVORS: dict[str, Flavor] = {flavor.name: flavor for flavor in BUILTIN_FLAVORS}
"""Name -> flavor, in detection order. Entry points join it on first lookup."""

_entry_points_loaded = False
_entry_point_errors: dict[str, str] = {}
# Registration is rare (start-up, first lookup); the lock keeps two threads from
# both loading the entry points, or one reading the table half rebuilt.
_lock = threading.RLock()


def register_flavor(flavor: Flavor | type[Flavor], *, replace: bool = False) -> Flavor:
    """Add a flavor to the table, before the built-ins in detection order.

    Raises InvalidArgument when ``flavor`` is not a Flavor or its name is
    taken (pass ``replace=True`` to take over a name, built-in or not; the
    replacement keeps the old one's place).
    """
    if isinstance(flavor, type) and issubclass(flavor, Flavor):
        flavor = flavor()
    if not isinstance(flavor, Flavor):
        raise InvalidArgument(f"a flavor must be a dockyard.models.Flavor, got {flavor!r}")
    name = getattr(flavor, "name", None)
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"flavor {flavor!r} has no name")
    with _lock:
        if name in FLAVORS:
            if not replace:
                raise InvalidArgument(
                    f"a flavor named {name!r} is already registered ({FLAVORS[name]!r}); "
                    "pass replace=True to replace it"
                )
            FLAVORS[name] = flavor
            return flavor
        builtin = {f.name for f in BUILTIN_FLAVORS}
        entries = list(FLAVORS.items())
        at = next((i for i, (key, _) in enumerate(entries) if key in builtin), len(entries))
        entries.insert(at, (name, flavor))
        FLAVORS.clear()
        FLAVORS.update(entries)
    return flavor


def load_entry_points() -> None:
    """Register the flavors of the ``dockyard.flavors`` entry point group (once per process).

    A plugin that fails to load is skipped; the error is kept and shown when
    somebody asks for a flavor that is not there.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    with _lock:
        if _entry_points_loaded:
            return
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                target: Any = entry_point.load()
                if not isinstance(target, Flavor) and not (
                    isinstance(target, type) and issubclass(target, Flavor)
                ):
                    target = target() if callable(target) else target
                flavor = register_flavor(target)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
                _entry_point_errors[entry_point.name] = f"{type(exc).__name__}: {exc}"
                continue
            if flavor.name != entry_point.name:
                _entry_point_errors[entry_point.name] = f"registered as {flavor.name!r}"
        _entry_points_loaded = True


def get_flavor(name: str) -> Flavor:
    """The flavor registered under ``name``; raises NotFound naming the known ones."""
    load_entry_points()
    try:
        return FLAVORS[name]
    except KeyError:
        pass
    hint = ""
    if name in _entry_point_errors:
        hint = f"; its entry point failed to load ({_entry_point_errors[name]})"
    raise NotFound(
        f"no model flavor named {name!r} (known: {', '.join(FLAVORS)}){hint}; "
        "install the package that provides it",
        flavor=name,
    )


def detect_flavor(model: Any) -> Flavor:
    """The first flavor in the table that claims ``model``; raises InvalidArgument when none does."""
    load_entry_points()
    for flavor in list(FLAVORS.values()):
        if flavor.detect(model):
            return flavor
    raise InvalidArgument(
        f"no model flavor handles a {type(model).__module__}.{type(model).__qualname__}; "
        f"pass flavor= (one of {', '.join(FLAVORS)}) or wrap the model in a "
        "dockyard.models.PythonModel"
    )
