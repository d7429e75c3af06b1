"""What differs between two runs: params, metrics, code, environment, data and tags.

:func:`diff_runs` answers only the differences, section by section, so that
"why did run B score better than run A" starts from a short list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dockyard.entities import Run

if TYPE_CHECKING:
    from dockyard.client import Client

__all__ = ["Change", "RunDiff", "diff_runs"]

SYSTEM_PREFIX = "dockyard."
"""Tags Dockyard sets itself; they are compared in the environment section, not as tags."""


@dataclass(frozen=True)
class Change:
    """One key whose value differs: None on the side that does not have it."""

    key: str
    a: Any
    b: Any

    @property
    def delta(self) -> float | None:
        """``b - a`` for two numbers."""
        numbers = (int, float)
        if isinstance(self.a, numbers) and isinstance(self.b, numbers):
            return float(self.b) - float(self.a)
        return None


@dataclass
class RunDiff:
    """The differences between run ``a`` and run ``b``, by section."""

    a: Run
    b: Run
    sections: dict[str, list[Change]] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not any(self.sections.values())

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.id, "b": self.b.id, "sections": {
            name: [{"key": c.key, "a": c.a, "b": c.b, "delta": c.delta} for c in changes]
            for name, changes in self.sections.items()}}


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    return [Change(key, a.get(key), b.get(key)) for key in sorted(a.keys() | b.keys())
            if a.get(key) != b.get(key)]


def _inputs(client: Client, run: Run) -> dict[str, Any]:
    return {f"{i.context}:{i.name}": i.version for i in client.store.list_run_inputs(run.id)}


def diff_runs(client: Client, a: str | Run, b: str | Run) -> RunDiff:
    """The differences between two runs (ids or runs). Raises NotFound for an unknown id."""
    first = client.get_run(a) if isinstance(a, str) else a
    second = client.get_run(b) if isinstance(b, str) else b
    code = [{"entry_point": r.entry_point, "git_commit": r.git_commit, "git_dirty": r.git_dirty}
            for r in (first, second)]
    environment = [{"python": r.python_version, **{
        k.removeprefix(SYSTEM_PREFIX): val for k, val in r.tags.items()
        if k.startswith(SYSTEM_PREFIX)}} for r in (first, second)]
    tags = [{k: val for k, val in r.tags.items() if not k.startswith(SYSTEM_PREFIX)}
            for r in (first, second)]
    sections = {
        "params": _changes(first.params, second.params),
        "metrics": _changes({k: m.value for k, m in first.metrics.items()},
                            {k: m.value for k, m in second.metrics.items()}),
        "data": _changes(_inputs(client, first), _inputs(client, second)),
        "code": _changes(*code),
        "environment": _changes(*environment),
        "tags": _changes(*tags),
    }
    return RunDiff(first, second, sections)
