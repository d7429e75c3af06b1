"""Custom models: a :class:`PythonModel` subclass with ``load_context`` and ``predict``.

Two ways to save one, chosen in this order:

- **by reference** (``python_model.json``): the class as ``"module:QualName"``
  and the instance's attributes as JSON. Loading imports the class from the
  environment, builds the instance without calling ``__init__`` (as pickle
  does), restores the attributes and calls ``load_context``. Nothing stored
  in the package runs, so no trust is needed. This works when the class is
  importable (defined in a module, not in ``__main__`` or inside a function)
  and its attributes are plain JSON; put anything heavier in ``artifacts``.
- **by value** (``python_model.pkl``, cloudpickle): for classes defined in a
  notebook or script, or attributes JSON cannot hold. cloudpickle executes
  code on load, so the trust rule applies.

``code_paths`` ship source files with the model and put them on ``sys.path``
at load time: that is code from the package, so such packages need trust too.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dockyard.errors import InvalidArgument
from dockyard.models.environment import infer_requirements
from dockyard.models.flavors.base import Flavor, SavedModel, SaveOptions, import_engine

if TYPE_CHECKING:
    from dockyard.models.package import LoaderSpec, ModelManifest

_REFERENCE, _CLOUDPICKLE = "reference", "cloudpickle"
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


class PythonModelContext:
    """What a :class:`PythonModel` gets at load time."""

    def __init__(self, artifacts: Mapping[str, str]) -> None:
        self.artifacts: dict[str, str] = dict(artifacts)
        """Artifact name -> absolute path of the file or folder inside the loaded package."""

    def __repr__(self) -> str:
        return f"PythonModelContext(artifacts={self.artifacts!r})"


class PythonModel:
    """Base class for a model no built-in flavor covers.

    Override :meth:`predict`; override :meth:`load_context` to read the
    ``artifacts`` saved with the model (weights, vocabularies, another model).
    ``model_input`` is what the signature makes of the caller's data: a pandas
    DataFrame for a column signature, a numpy array for a tensor signature.
    A ``predict_proba(context, model_input)`` method, when defined, is exposed
    as the loaded model's ``predict_proba``.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Prepare the model after loading, e.g. read ``context.artifacts``."""

    def predict(self, context: PythonModelContext, model_input: Any) -> Any:
        """Predictions for ``model_input``."""
        raise NotImplementedError(f"{type(self).__qualname__} does not implement predict")


class BoundPythonModel:
    """A loaded :class:`PythonModel` together with its context."""

    def __init__(self, model: PythonModel, context: PythonModelContext) -> None:
        self.model = model
        self.context = context

    def predict(self, data: Any) -> Any:
        return self.model.predict(self.context, data)


class PythonModelFlavor(Flavor):
    name = "python_model"
    format_requirements: ClassVar[dict[str, tuple[str, ...]]] = {_CLOUDPICKLE: ("cloudpickle",)}
    code_executing_formats = frozenset({_CLOUDPICKLE})

    def detect(self, model: Any) -> bool:
        return isinstance(model, PythonModel)

    def executes_code(self, loader: LoaderSpec) -> bool:
        return super().executes_code(loader) or bool(loader.options.get("code_paths"))

    def save(self, model: Any, directory: Path, options: SaveOptions) -> SavedModel:
        if not isinstance(model, PythonModel):
            raise InvalidArgument(
                f"the python_model flavor saves dockyard.models.PythonModel subclasses, "
                f"not {type(model).__qualname__}"
            )
        asked = options.serialization
        if asked not in (None, _REFERENCE, _CLOUDPICKLE):
            raise InvalidArgument(
                f"a PythonModel is saved by 'reference' or with 'cloudpickle', not {asked!r}"
            )
        files, facts = _copy_artifacts(options.artifacts, directory)
        code = _copy_code(options.code_paths, directory)
        files += code
        if code:
            facts["code_paths"] = "code"
        reference, state, reason = _by_reference(model)
        if asked != _CLOUDPICKLE and reference is not None:
            document = {"class": reference, "state": state}
            (directory / "python_model.json").write_text(json.dumps(document, indent=2) + "\n")
            fmt, model_file = _REFERENCE, "python_model.json"
        else:
            if asked == _REFERENCE:
                raise InvalidArgument(f"cannot save this model by reference: {reason}")
            if asked is None:
                warnings.warn(
                    f"saved the model with cloudpickle because {reason}; it will load only "
                    "from the store it is logged to, or with trust=True",
                    UserWarning,
                    stacklevel=3,
                )
            cloudpickle = import_engine("cloudpickle", "pyfunc")
            with open(directory / "python_model.pkl", "wb") as out:
                cloudpickle.dump(model, out)
            fmt, model_file = _CLOUDPICKLE, "python_model.pkl"
        facts["class"] = f"{type(model).__module__}:{type(model).__qualname__}"
        saved = SavedModel(
            [model_file, *files],
            fmt,
            facts,
            executes_code_on_load=fmt == _CLOUDPICKLE or bool(code),
        )
        saved.predictor = self._bind(directory, model_file, fmt, facts)
        # What load_context builds (a scorer read from an artifact) is what predict uses.
        saved.requirements = [
            *infer_requirements(saved.predictor.model, self),
            *_packaged_requirements(directory / "artifacts"),
        ]
        return saved

    def load(self, directory: Path, manifest: ModelManifest, *, trust: bool) -> Any:
        fmt = manifest.loader.format
        self.check_format(fmt, (_REFERENCE, _CLOUDPICKLE))
        return self._bind(directory, manifest.model_files[0], fmt, manifest.loader.options)

    def predict(self, model: Any, data: Any) -> Any:
        return model.predict(data)

    def supports_proba(self, model: Any) -> bool:
        return callable(getattr(model.model, "predict_proba", None))

    def predict_proba(self, model: Any, data: Any) -> Any:
        return model.model.predict_proba(model.context, data)

    def raw(self, model: Any) -> Any:
        return model.model

    def _bind(
        self, directory: Path, model_file: str, fmt: str, facts: Mapping[str, Any]
    ) -> BoundPythonModel:
        artifacts = {
            name: str(_inside(directory, relative))
            for name, relative in (facts.get("artifacts") or {}).items()
        }
        dont_write_bytecode = sys.dont_write_bytecode
        # Keep the package folder exactly as saved: no __pycache__ beside shipped code.
        sys.dont_write_bytecode = True
        try:
            if facts.get("code_paths"):
                code = str(_inside(directory, "code"))
                if code not in sys.path:
                    sys.path.insert(0, code)
            if fmt == _REFERENCE:
                document = json.loads((directory / model_file).read_text())
                model = _from_reference(document.get("class"), document.get("state"))
            else:
                cloudpickle = import_engine("cloudpickle", "pyfunc")
                with open(directory / model_file, "rb") as stream:
                    model = cloudpickle.load(stream)
                if not isinstance(model, PythonModel):
                    raise InvalidArgument(
                        f"{model_file} holds a {type(model).__qualname__}, not a PythonModel"
                    )
            context = PythonModelContext(artifacts)
            model.load_context(context)
        finally:
            sys.dont_write_bytecode = dont_write_bytecode
        return BoundPythonModel(model, context)


def _by_reference(model: PythonModel) -> tuple[str | None, dict[str, Any] | None, str]:
    """``("module:QualName", state, "")`` when the model can be saved by reference, else why not."""
    cls = type(model)
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        where = "inside a function" if "<locals>" in qualname else "in __main__"
        return None, None, f"{qualname} is defined {where}, so it cannot be imported back"
    try:
        found = _resolve(f"{module}:{qualname}")
    except (ImportError, AttributeError):
        found = None
    if found is not cls:
        return None, None, f"{module}:{qualname} does not import back to the same class"
    state = dict(vars(model))
    try:
        same = json.loads(json.dumps(state)) == state
    except (TypeError, ValueError):
        same = False
    if not same:
        return None, None, "its attributes are not plain JSON (keep large objects in artifacts)"
    return f"{module}:{qualname}", state, ""


def _from_reference(reference: Any, state: Any) -> PythonModel:
    if not isinstance(reference, str) or ":" not in reference or not isinstance(state, dict):
        raise InvalidArgument(
            "python_model.json needs a 'class' of the form 'module:Class' and a 'state'"
        )
    try:
        cls = _resolve(reference)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgument(
            f"cannot import the model class {reference}: {exc}; install the package that "
            "defines it in this environment"
        ) from exc
    # Only PythonModel subclasses are built: the manifest cannot name an arbitrary callable.
    if not (isinstance(cls, type) and issubclass(cls, PythonModel)):
        raise InvalidArgument(f"{reference} is not a dockyard.models.PythonModel subclass")
    model = cls.__new__(cls)
    model.__dict__.update(state)
    return model


def _resolve(reference: str) -> Any:
    module, _, qualname = reference.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _copy_artifacts(
    artifacts: Mapping[str, Path], directory: Path
) -> tuple[list[str], dict[str, Any]]:
    files: list[str] = []
    where: dict[str, str] = {}
    for name, source in artifacts.items():
        if not isinstance(name, str) or not _ARTIFACT_NAME.match(name) or ".." in name:
            raise InvalidArgument(
                f"artifact name {name!r}: use letters, digits, '_', '-' and '.' only"
            )
        source = Path(source)
        target = directory / "artifacts" / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            target.mkdir(parents=True)
            target = target / source.name
            shutil.copyfile(source, target)
        else:
            raise InvalidArgument(f"artifact {name!r}: {source} is not a file or folder")
        where[name] = target.relative_to(directory).as_posix()
        files += _files_under(directory, target)
    return files, ({"artifacts": where} if where else {})


def _copy_code(code_paths: tuple[Path, ...], directory: Path) -> list[str]:
    files: list[str] = []
    for source in map(Path, code_paths):
        target = directory / "code" / source.name
        if target.exists():
            raise InvalidArgument(f"code_paths name {source.name!r} twice")
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        else:
            raise InvalidArgument(f"code path {source} is not a file or folder")
        files += _files_under(directory, target)
    return files


def _packaged_requirements(artifacts: Path) -> list[str]:
    """The requirements of Dockyard packages shipped as artifacts (a model wrapping a model)."""
    from dockyard.models.package import MANIFEST_NAME, read_manifest

    lines: list[str] = []
    for manifest in sorted(artifacts.glob(f"*/{MANIFEST_NAME}")):
        lines += read_manifest(manifest).requirements
    return lines


def _files_under(directory: Path, target: Path) -> list[str]:
    if target.is_file():
        return [target.relative_to(directory).as_posix()]
    return sorted(p.relative_to(directory).as_posix() for p in target.rglob("*") if p.is_file())


def _inside(directory: Path, relative: str) -> Path:
    """``directory / relative``, refusing paths that leave the package."""
    path = (directory / relative).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise InvalidArgument(f"the manifest points outside the package: {relative!r}")
    return path
