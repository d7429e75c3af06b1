"""What a flavor is: the contract between the package format and one ML engine.

A flavor knows how to recognise a model object of its engine, write it into a
package folder in one of its formats, read it back, and call it. Everything
else (the manifest, checksums, the trust rule, signatures, the environment)
is the package's job, so a third-party flavor stays small.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from dockyard.errors import InvalidArgument, MissingExtra

if TYPE_CHECKING:
    from dockyard.models.package import LoaderSpec, ModelManifest
    from dockyard.models.signature import Signature


@dataclass(frozen=True)
class SaveOptions:
    """What :func:`dockyard.models.save` hands a flavor besides the model itself."""

    serialization: str | None = None
    """A format the caller asked for (``"joblib"``, ``"pickle"`` ...), or None for the flavor's default."""
    example: Any = None
    """The input example already converted by the signature (a DataFrame or an array), or None."""
    artifacts: dict[str, Path] = field(default_factory=dict)
    """Named files or folders to ship with the model (the python_model flavor)."""
    code_paths: tuple[Path, ...] = ()
    """Source files or folders to ship with the model and import on load (the python_model flavor)."""


@dataclass
class SavedModel:
    """What a flavor wrote into the package folder."""

    files: list[str]
    """Paths of the model files, relative to the package folder, POSIX separators."""
    format: str
    """The serialization format, e.g. ``"skops"``, ``"joblib"``, ``"xgboost-json"``."""
    options: dict[str, Any] = field(default_factory=dict)
    """Small JSON-safe facts the loader needs back (the estimator class, the classes ...)."""
    executes_code_on_load: bool = False
    predictor: Any = None
    """What to call ``predict`` on while saving (to infer the output signature); None for the model."""
    requirements: list[str] = field(default_factory=list)
    """Requirement lines found while saving (e.g. of packages shipped as artifacts)."""


class Flavor(ABC):
    """One engine's way in and out of a package.

    Subclass it, set the class attributes, implement :meth:`detect`,
    :meth:`save` and :meth:`load`, and register an instance with
    :func:`dockyard.models.register_flavor` or the ``dockyard.flavors``
    entry point group. Import the engine inside the methods (with
    :func:`import_engine`) so that ``import dockyard.models`` stays light.
    """

    name: ClassVar[str]
    """The flavor's key in the registry and in the manifest."""
    extra: ClassVar[str | None] = None
    """The ``dockyard[...]`` extra that installs the engine, named in MissingExtra messages."""
    requirements: ClassVar[tuple[str, ...]] = ()
    """Distributions always needed to load this flavor's packages."""
    format_requirements: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Distributions needed by one serialization format only (``{"skops": ("skops",)}``)."""
    code_executing_formats: ClassVar[frozenset[str]] = frozenset()
    """Formats whose loading can run code stored in the file (pickle and its relatives)."""

    @abstractmethod
    def detect(self, model: Any) -> bool:
        """Whether ``model`` is an object of this engine. Must not import the engine."""

    @abstractmethod
    def save(self, model: Any, directory: Path, options: SaveOptions) -> SavedModel:
        """Write ``model`` into ``directory`` (which exists and is empty)."""

    @abstractmethod
    def load(self, directory: Path, manifest: ModelManifest, *, trust: bool) -> Any:
        """Read the model back; the package is already verified and trusted as needed."""

    def predict(self, model: Any, data: Any) -> Any:
        """Call the loaded model on input already converted by the signature."""
        return model.predict(data)

    def supports_proba(self, model: Any) -> bool:
        """Whether :meth:`predict_proba` works for this loaded model."""
        return False

    def predict_proba(self, model: Any, data: Any) -> Any:
        raise AttributeError(f"{self.name} models do not predict probabilities")

    def raw(self, model: Any) -> Any:
        """The engine's own object behind what :meth:`load` returned."""
        return model

    def executes_code(self, loader: LoaderSpec) -> bool:
        """Whether loading a file of ``loader.format`` can run code stored in it."""
        return loader.format in self.code_executing_formats

    def default_signature(self, model: Any) -> Signature | None:
        """A signature read from the model itself, when it declares its inputs (ONNX does)."""
        return None

    def check_format(self, fmt: str, known: tuple[str, ...]) -> None:
        if fmt not in known:
            raise InvalidArgument(
                f"the {self.name} flavor cannot read format {fmt!r}; it knows {', '.join(known)}"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'name', None)!r}>"


def import_engine(module: str, extra: str | None, distribution: str | None = None) -> ModuleType:
    """Import an optional engine, or raise MissingExtra naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        target = f"'dockyard[{extra}]'" if extra else (distribution or module.split(".")[0])
        raise MissingExtra(
            f"{module} is not installed; install it with: pip install {target}",
            module=module,
            extra=extra,
        ) from exc


def has_base(model: Any, module: str, name: str) -> bool:
    """Whether ``type(model)`` derives from ``module.name``, without importing ``module``."""
    return any(
        klass.__module__ == module and klass.__name__ == name for klass in type(model).__mro__
    )


def nearest_class(model: Any, module_prefix: str, names: frozenset[str]) -> str | None:
    """The first class in ``type(model)``'s MRO named in ``names`` and defined under ``module_prefix``."""
    for klass in type(model).__mro__:
        if klass.__name__ in names and klass.__module__.startswith(module_prefix):
            return klass.__name__
    return None
