"""``dockyard.drift_report``: per-column drift between a reference and a current DataFrame.

No server needed: a data scientist compares two frames in a notebook and
gets, per column, the statistic that the defaults pick for its type and
size, its threshold, a drift flag, and the PSI beside it.

Defaults (the same rule every column meets, so that large samples do not
flag trivial shifts):

======================  =======================================  ==========================
column                  up to 1,000 rows in either sample          more rows
======================  =======================================  ==========================
numeric                 Kolmogorov-Smirnov test, p < 0.05          normalised Wasserstein > 0.1
categorical             chi-square test, p < 0.05                  Jensen-Shannon distance > 0.1
======================  =======================================  ==========================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.monitor import stats

__all__ = ["DriftReport", "drift_report"]

SMALL = 1000
"""Samples up to this many rows are judged by a statistical test, larger ones by a distance."""
P_VALUE = 0.05
WASSERSTEIN = 0.1
JENSEN_SHANNON = 0.1


@dataclass(frozen=True)
class DriftReport:
    """The per-column result of :func:`drift_report`."""

    table: pd.DataFrame
    """One row per column: ``column``, ``kind``, ``method``, ``statistic``, ``threshold``,
    ``drifted``, ``psi``, ``reference_rows``, ``current_rows`` (non-null values)."""

    @property
    def drifted(self) -> list[str]:
        """The columns flagged as drifted."""
        return self.table.loc[self.table["drifted"].eq(True), "column"].tolist()

    @property
    def share_drifted(self) -> float:
        """The share of the judged columns that drifted."""
        judged = self.table["drifted"].notna()
        return float(self.table.loc[judged, "drifted"].astype(bool).mean()) if judged.any() else 0.0

    def _repr_html_(self) -> str:
        return (f"<p>{len(self.drifted)} of {len(self.table)} columns drifted</p>"
                + self.table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    bins: int = 10,
) -> DriftReport:
    """Compare each column of ``current`` with the same column of ``reference``.

    ``columns`` defaults to the reference's columns. A column is categorical
    when listed in ``categorical`` or when its dtype is not numeric (strings,
    categories, booleans). ``bins`` is the number of reference-quantile bins
    for a numeric column's PSI. A column with no values in either frame gets
    the method ``no data`` and no flag.
    """
    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidArgument(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0:
            raise InvalidArgument(f"the {name} data has no rows")
    chosen = list(reference.columns if columns is None else columns)
    for name in chosen:
        for side, frame in (("reference", reference), ("current", current)):
            if name not in frame.columns:
                raise InvalidArgument(
                    f"column {name!r} is not in the {side} data; it has "
                    f"{', '.join(map(repr, frame.columns))}"
                )
    forced = set(categorical or ())
    unknown = forced - set(chosen)
    if unknown:
        raise InvalidArgument(f"categorical names {sorted(unknown)!r}, which are not compared")
    rows = [_column(name, reference[name], current[name], name in forced, bins)
            for name in chosen]
    return DriftReport(pd.DataFrame(rows, columns=[
        "column", "kind", "method", "statistic", "threshold", "drifted", "psi",
        "reference_rows", "current_rows"]))


def _column(name: str, ref: pd.Series, cur: pd.Series, forced: bool, bins: int) -> dict[str, Any]:
    types = pd.api.types
    numeric = not forced and types.is_numeric_dtype(ref) and not types.is_bool_dtype(ref)
    kind = "numeric" if numeric else "categorical"
    ref_values, cur_values = ref.dropna(), cur.dropna()
    row: dict[str, Any] = {"column": name, "kind": kind, "reference_rows": len(ref_values),
                           "current_rows": len(cur_values), "method": "no data",
                           "statistic": None, "threshold": None, "drifted": None, "psi": None}
    if not len(ref_values) or not len(cur_values):
        return row
    small = min(len(ref_values), len(cur_values)) <= SMALL
    if numeric:
        try:
            ref_array = ref_values.to_numpy(dtype=np.float64)
            cur_array = cur_values.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"column {name!r} is numeric in the reference but not in the current data; "
                "pass it in categorical= or fix its type"
            ) from None
        edges = stats.reference_edges(ref_array, bins)
        row["psi"] = stats.psi(stats.bin_counts(ref_array, edges),
                               stats.bin_counts(cur_array, edges))
        if small:
            from scipy.stats import ks_2samp

            row.update(method="ks p-value", threshold=P_VALUE,
                       statistic=float(ks_2samp(ref_array, cur_array).pvalue))
            row["drifted"] = row["statistic"] < P_VALUE
        else:
            row.update(method="wasserstein (normalised)", threshold=WASSERSTEIN,
                       statistic=stats.wasserstein(ref_array, cur_array))
            row["drifted"] = row["statistic"] > WASSERSTEIN
        return row
    _, ref_counts, cur_counts = stats.category_counts(ref_values.to_numpy(), cur_values.to_numpy())
    row["psi"] = stats.psi(ref_counts, cur_counts)
    if small:
        row.update(method="chi-square p-value", threshold=P_VALUE,
                   statistic=stats.chi_square(ref_counts, cur_counts)[1])
        row["drifted"] = row["statistic"] < P_VALUE
    else:
        row.update(method="jensen-shannon", threshold=JENSEN_SHANNON,
                   statistic=stats.jensen_shannon(ref_counts, cur_counts))
        row["drifted"] = row["statistic"] > JENSEN_SHANNON
    return row
