"""The data of drift.py: a reference and a current table, 20 numeric and 5 categorical columns.

    python _drift_data.py FOLDER ROWS    # writes FOLDER/reference.parquet and current.parquet

Seeded, so every run and every tool sees the same values. The current table
has a known shift in five columns (``SHIFTED``); every other column is drawn
from the same distribution as in the reference. Needs numpy, pandas and
pyarrow only, so that it imports in Evidently's environment too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

SEED = 20_26
NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
SHIFTED = ["n02", "n07", "n13", "c1", "c3"]
"""The columns whose distribution differs between reference and current."""

Draw = Callable[[np.random.Generator, int, bool], np.ndarray]


def _with_nulls(values: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    values = values.astype(np.float64)
    values[rng.random(values.size) < share] = np.nan
    return values


def _labels(names: list[str], shares: list[float]) -> Draw:
    p = np.asarray(shares) / np.sum(shares)

    def draw(rng: np.random.Generator, n: int, _: bool) -> np.ndarray:
        return np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=p)]

    return draw


def _shifted_labels(names: list[str], before: list[float], after: list[float]) -> Draw:
    old, new = _labels(names, before), _labels(names, after)
    return lambda rng, n, current: (new if current else old)(rng, n, current)


COLUMNS: dict[str, Draw] = {
    "n00": lambda rng, n, cur: rng.normal(0.0, 1.0, n),
    "n01": lambda rng, n, cur: rng.normal(50.0, 10.0, n),
    "n02": lambda rng, n, cur: rng.normal(0.5 if cur else 0.0, 1.0, n),  # shifted: mean + 0.5 sd
    "n03": lambda rng, n, cur: rng.lognormal(0.0, 0.5, n),
    "n04": lambda rng, n, cur: rng.uniform(0.0, 100.0, n),
    "n05": lambda rng, n, cur: rng.exponential(2.0, n),
    "n06": lambda rng, n, cur: rng.poisson(3.0, n).astype(np.float64),
    "n07": lambda rng, n, cur: rng.lognormal(3.4 if cur else 3.0, 0.8, n),  # shifted: scale x1.5
    "n08": lambda rng, n, cur: rng.gamma(2.0, 3.0, n),
    "n09": lambda rng, n, cur: _with_nulls(rng.normal(0.0, 1.0, n), rng, 0.02),
    "n10": lambda rng, n, cur: rng.beta(2.0, 5.0, n),
    "n11": lambda rng, n, cur: rng.integers(0, 1000, n).astype(np.float64),
    "n12": lambda rng, n, cur: rng.normal(100.0, 15.0, n),
    "n13": lambda rng, n, cur: rng.poisson(12.0 if cur else 10.0, n).astype(np.float64),  # shifted
    "n14": lambda rng, n, cur: rng.standard_t(5.0, n),
    "n15": lambda rng, n, cur: rng.uniform(-1.0, 1.0, n),
    "n16": lambda rng, n, cur: _with_nulls(rng.exponential(0.5, n), rng, 0.05),
    "n17": lambda rng, n, cur: rng.normal(0.0, 5.0, n),
    "n18": lambda rng, n, cur: np.where(rng.random(n) < 0.3, rng.normal(-2.0, 0.5, n),
                                        rng.normal(1.0, 1.0, n)),
    "n19": lambda rng, n, cur: rng.lognormal(1.0, 1.0, n),
    "c0": _labels(["basic", "pro", "team"], [0.6, 0.3, 0.1]),
    "c1": _shifted_labels(["web", "ios", "android", "api", "partner"],  # shifted: mix changes
                          [0.40, 0.25, 0.15, 0.10, 0.10], [0.15, 0.25, 0.15, 0.15, 0.30]),
    "c2": _labels([f"region-{i}" for i in range(10)], [1.0 / (i + 1) for i in range(10)]),
    "c3": _shifted_labels([f"sku-{i:02d}" for i in range(31)],  # shifted: sku-30 is new
                          [1.0 / (i + 2) for i in range(30)] + [0.0],
                          [1.0 / (i + 2) for i in range(30)] + [1.2]),
    "c4": _labels(["yes", "no"], [0.7, 0.3]),
}
assert list(COLUMNS) == NUMERIC + CATEGORICAL


def make(rows: int, current: bool):
    """One table (a pandas DataFrame) of ``rows`` rows: the reference, or the current one."""
    import pandas as pd

    rng = np.random.default_rng([SEED, int(current)])
    return pd.DataFrame({name: draw(rng, rows, current) for name, draw in COLUMNS.items()})


def write(folder: Path, rows: int) -> tuple[Path, Path]:
    """Write ``reference.parquet`` and ``current.parquet`` into ``folder``; their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = []
    for current in (False, True):
        path = folder / ("current.parquet" if current else "reference.parquet")
        frame = make(rows, current)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, path, row_group_size=256 * 1024)
        paths.append(path)
    return paths[0], paths[1]


def read(path: Path):
    """A table written by :func:`write`, as a pandas DataFrame of this environment's pandas.

    Read column by column, so that reading never holds the whole table twice (Arrow's and
    pandas' copies); every tool's process reads this way.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    return pd.DataFrame({name: source.read(columns=[name]).column(0).to_pandas()
                         for name in COLUMNS}, copy=False)


if __name__ == "__main__":
    import sys

    write(Path(sys.argv[1]), int(sys.argv[2]))
