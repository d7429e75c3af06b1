"""Run a function right after a package is first imported.

``dockyard.autolog()`` patches the frameworks a script uses without importing
the others: importing PyTorch Lightning takes seconds, and a scikit-learn
script should not pay for it. A framework already imported is patched at
once; any other is patched when the script first imports it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


class _Loader(importlib.abc.Loader):
    """The package's own loader, then the hook."""

    def __init__(self, loader: Any, after: Callable[[ModuleType], None]) -> None:
        self._loader, self._after = loader, after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        module.__spec__.loader = module.__loader__ = self._loader
        self._after(module)

    def __getattr__(self, name: str) -> Any:  # resource readers and the like
        return getattr(self._loader, name)


class ImportHooks(importlib.abc.MetaPathFinder):
    """Calls ``hooks[name]()`` once, after the top-level package ``name`` is imported."""

    def __init__(self) -> None:
        self._hooks: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def install(self, hooks: dict[str, Callable[[], None]]) -> None:
        """Run the hook of each package already imported now, and of the others on import."""
        with self._lock:
            self._hooks = {name: hook for name, hook in hooks.items()
                           if name not in sys.modules}
            if self._hooks and self not in sys.meta_path:
                sys.meta_path.insert(0, self)
        for name, hook in hooks.items():
            if name in sys.modules:
                hook()

    def remove(self) -> None:
        with self._lock:
            self._hooks = {}
            if self in sys.meta_path:
                sys.meta_path.remove(self)

    def _run(self, module: ModuleType) -> None:
        # a spec may be looked up without being imported: the hook goes when it runs
        with self._lock:
            hook = self._hooks.pop(module.__name__, None)
        if hook is not None:
            hook()

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        with self._lock:
            if fullname not in self._hooks:
                return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, self._run)
                return spec
        return None
