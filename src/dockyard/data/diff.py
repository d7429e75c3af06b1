"""What changed between two dataset versions: schema, rows, and drift per column.

The diff reads the two stored profiles only, never the data, so it is as quick
for a terabyte as for a kilobyte. Drift is :func:`dockyard.monitor.report.compare`
with the older version as the reference. Its histograms need one set of bins:
the newer version's histogram is re-estimated on the older one's bin edges
from its quantile sketch (the KLL sketch's rank error, about 0.5%, bounds the
error of each bin's share; exact while a column has fewer values than the
sketch holds). Category counts are exact as long as a column has at most
``max_categories`` categories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dockyard.data.datasets import load_profile, resolve_version
from dockyard.entities.dataset import Column, DatasetVersion

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.monitor.profile import ColumnProfile, Profile

__all__ = ["DatasetDiff", "diff_datasets"]

_DRIFT_COLUMNS = ["column", "kind", "method", "statistic", "threshold", "drifted", "psi",
                  "null_rate_a", "null_rate_b", "mean_a", "mean_b"]


@dataclass
class DatasetDiff:
    """Two versions side by side: ``a`` (the reference, usually older) and ``b``."""

    a: DatasetVersion
    b: DatasetVersion
    added: list[Column]
    """Columns of ``b`` that ``a`` does not have."""
    removed: list[Column]
    """Columns of ``a`` that ``b`` does not have."""
    changed: list[tuple[Column, Column]]
    """Columns of both whose type or nullability changed, as (in a, in b)."""
    drift: pd.DataFrame
    """One row per column both profiles have: the drift method, its statistic and threshold,
    whether it drifted, PSI, and the null rate and mean on each side."""
    profiles: tuple[Profile, Profile]
    """The profiles compared: ``a``'s, and ``b``'s with its histograms on ``a``'s bins."""

    @property
    def rows(self) -> tuple[int, int]:
        return self.a.rows, self.b.rows

    @property
    def drifted(self) -> list[str]:
        return self.drift.loc[self.drift["drifted"].eq(True), "column"].tolist()

    @property
    def same_schema(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN as None."""
        def clean(value: Any) -> Any:
            if isinstance(value, float | np.floating):
                return None if math.isnan(value) else float(value)
            if isinstance(value, np.bool_):
                return bool(value)
            return value

        return {
            "a": self.a.spec, "b": self.b.spec, "digest_a": self.a.digest,
            "digest_b": self.b.digest, "rows_a": self.a.rows, "rows_b": self.b.rows,
            "added": [c.model_dump() for c in self.added],
            "removed": [c.model_dump() for c in self.removed],
            "changed": [{"name": x.name, "a": x.model_dump(), "b": y.model_dump()}
                        for x, y in self.changed],
            "drift": [{k: clean(v) for k, v in row.items()}
                      for row in self.drift.to_dict(orient="records")],
        }


def diff_datasets(a: str | DatasetVersion, b: str | DatasetVersion,
                  client: Client | None = None) -> DatasetDiff:
    """The diff of two dataset versions (``churn@1``, ``churn@2`` or the versions)."""
    from dockyard.client import Client

    client = client or Client()
    first, second = resolve_version(a, client), resolve_version(b, client)
    columns_a = {c.name: c for c in first.columns}
    columns_b = {c.name: c for c in second.columns}
    added = [c for name, c in columns_b.items() if name not in columns_a]
    removed = [c for name, c in columns_a.items() if name not in columns_b]
    changed = [(columns_a[name], c) for name, c in columns_b.items()
               if name in columns_a and columns_a[name] != c]
    reference, current = load_profile(first, client), load_profile(second, client)
    shared = [name for name in reference.columns if name in current.columns
              and reference.columns[name].kind == current.columns[name].kind]
    rebinned = _on_reference_bins(current, reference, shared)
    return DatasetDiff(first, second, added, removed, changed,
                       _drift(reference, current, rebinned, shared), (reference, rebinned))


def _drift(reference: Profile, current: Profile, rebinned: Profile,
           shared: list[str]) -> pd.DataFrame:
    from dockyard.monitor.report import compare

    if not shared:
        return pd.DataFrame(columns=_DRIFT_COLUMNS)
    table = compare(reference, rebinned, columns=shared)
    sides = {"a": reference, "b": current}
    for side, made in sides.items():
        table[f"null_rate_{side}"] = [_null_rate(made.columns[n]) for n in table["column"]]
        table[f"mean_{side}"] = [made.columns[n].mean if made.columns[n].kind == "numeric"
                                 else math.nan for n in table["column"]]
    return table[_DRIFT_COLUMNS]


def _null_rate(column: ColumnProfile) -> float:
    return (column.nulls + column.type_errors) / column.rows if column.rows else math.nan


def _on_reference_bins(current: Profile, reference: Profile, names: list[str]) -> Profile:
    """A copy of ``current`` whose numeric histograms are estimated on ``reference``'s edges."""
    from dockyard.monitor.profile import NUMERIC, Profile

    copy = Profile(reference=reference, columns=names)
    copy.rows = current.rows
    for name in names:
        column, ref = current.columns[name].copy(), reference.columns[name]
        if column.kind == NUMERIC and column.count and ref.edges is not None:
            below = np.asarray(column.quantiles.get_cdf(ref.edges.tolist(), False))[:-1]
            cumulative = np.round(below * column.count).astype(np.int64)
            column.histogram = np.diff(np.concatenate([[0], cumulative, [column.count]]))
            column.edges = ref.edges.copy()
        copy.columns[name] = column
    return copy
