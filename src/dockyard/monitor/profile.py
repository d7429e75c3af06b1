"""Mergeable column profiles: what drift and data quality are computed from.

A :class:`Profile` summarises a table (a window of predictions, a reference
dataset, one Spark partition) in a few kilobytes per column, and two profiles
made on the same reference bins merge into the profile of both tables:

- every column: ``count`` (values profiled), ``nulls``, ``type_errors`` and a
  distinct-count sketch (Apache DataSketches HLL);
- numeric columns: mean and sum of squared deviations (merged with Chan's
  formula), min and max, a histogram on fixed bin edges taken from the
  reference, counts below and above the reference's range, and a quantile
  sketch (Apache DataSketches KLL);
- categorical columns: exact counts per category up to ``max_categories``
  categories; beyond that, a frequent-items sketch of every value.

Counts, nulls, type errors, min and max, the histogram, the out-of-range
counts and exact category counts merge exactly; mean and variance merge
exactly up to floating-point rounding; the sketches merge as sketches, with
the same error bounds as one sketch of all the data. A batch of 65,536 values
or more enters a column's quantile sketch already compacted (every 2^h-th of
its sorted values from a random offset, as the sketch's own compaction would
keep them), so profiling a large file costs a sort per batch, not an update
per value. A profile is made with
:meth:`Profile.from_data` (a pandas DataFrame, a pyarrow Table or
RecordBatch, or an iterator of them) or incrementally with
:meth:`Profile.update`, and travels as bytes (:meth:`Profile.to_bytes`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import datasketches as ds
import numpy as np

from dockyard.errors import InvalidArgument
from dockyard.monitor import stats

__all__ = ["CATEGORICAL", "NUMERIC", "ColumnProfile", "Profile", "column_kind", "compare",
           "profile", "quality", "reference_thresholds"]

NUMERIC = "numeric"
CATEGORICAL = "categorical"
FORMAT_VERSION = 1
_MAGIC = b"DKYP"
_PREFIX = struct.Struct("<4sBII")  # magic, format version, header length, CRC-32 of the rest
_THREADED_ROWS = 65_536  # batches from this size profile their columns in parallel
_SAMPLED_QUANTILES = 65_536  # from this size, a batch enters the quantile sketch compacted
_ITEM_UPDATES = 1024  # up to this many distinct numbers per batch, hash them one by one
_CHUNK = 1 << 15  # numpy work in slices that stay in the CPU cache


@dataclass(frozen=True)
class Settings:
    """How a profile summarises its columns; profiles merge only with equal settings."""

    bins: int = 10
    """Bins of a numeric column's histogram when a profile picks its own edges (deciles)."""
    max_categories: int = 1000
    """Categories counted exactly; beyond, a column's counts move to a frequent-items sketch."""
    quantile_k: int = 600
    """The KLL sketch's ``k``: about 0.46% rank error at 600 (1.3% at 200, 0.35% at 800),
    and Wasserstein distances from the sketches within about 0.02 of the exact ones."""
    distinct_lg_k: int = 12
    """log2 of the HLL sketch's registers: about 1.6% relative error at 12."""

    def check(self) -> None:
        stats._check_bins(self.bins)
        for name, low, high in (("max_categories", 1, 1_000_000), ("quantile_k", 8, 65535),
                                ("distinct_lg_k", 7, 21)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidArgument(f"{name} must be a whole number from {low} to {high}, "
                                      f"got {value!r}")


def column_kind(values: Any) -> str:
    """``numeric`` or ``categorical`` for a pandas Series or an Arrow array, by its type.

    Numbers are numeric; booleans, text, categories and everything else are
    categorical (the rule of :func:`~dockyard.monitor.report.drift_report`).
    """
    import pandas as pd
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        kind = values.type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(
            kind)
        return NUMERIC if numeric else CATEGORICAL
    types = pd.api.types
    numeric = types.is_numeric_dtype(values) and not types.is_bool_dtype(values)
    return NUMERIC if numeric else CATEGORICAL


@dataclass(eq=False)
class ColumnProfile:
    """The summary of one column. Read its fields; change it only through :class:`Profile`."""

    name: str
    kind: str
    count: int = 0
    """Values profiled: neither null nor a type error."""
    nulls: int = 0
    type_errors: int = 0
    """Values that are not numbers in a numeric column (text, infinities)."""
    mean: float = math.nan
    m2: float = 0.0
    """The sum of squared deviations from the mean (``variance * count``)."""
    min: float = math.nan
    max: float = math.nan
    edges: np.ndarray | None = None
    """Inner bin edges of the histogram (its first and last bins are open)."""
    histogram: np.ndarray | None = None
    bounds: tuple[float, float] | None = None
    """The reference's (min, max) that ``below`` and ``above`` count against."""
    below: int = 0
    above: int = 0
    quantiles: Any = None
    """A ``datasketches.kll_doubles_sketch`` of the values (numeric columns)."""
    categories: dict[str, int] | None = None
    """Exact counts per category, while there are at most ``max_categories``."""
    frequent: Any = None
    """A ``datasketches.frequent_strings_sketch`` once ``categories`` overflowed."""
    distinct: Any = field(default=None, repr=False)
    """A ``datasketches.hll_sketch`` of the distinct values."""

    @property
    def rows(self) -> int:
        """Rows seen: values, nulls and type errors."""
        return self.count + self.nulls + self.type_errors

    @property
    def variance(self) -> float:
        """The population variance of the values (NaN without values)."""
        return self.m2 / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        """The population standard deviation of the values (NaN without values)."""
        return math.sqrt(self.variance) if self.count else math.nan

    @property
    def distinct_count(self) -> float:
        """The HLL estimate of the number of distinct values."""
        return float(self.distinct.get_estimate())

    @property
    def rank_error(self) -> float:
        """The quantile sketch's normalised rank error (99% confidence; 0 while exact)."""
        if self.quantiles is None or not self.quantiles.is_estimation_mode():
            return 0.0
        return float(self.quantiles.normalized_rank_error(False))

    def category_counts(self) -> dict[str, int]:
        """Counts per category: exact, or the frequent-items sketch's estimates."""
        if self.categories is not None:
            return dict(self.categories)
        if self.frequent is None:
            return {}
        items = self.frequent.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        return {label: int(estimate) for label, estimate, _, _ in items}

    def copy(self) -> ColumnProfile:
        """A deep copy (sketches included)."""
        other = ColumnProfile(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        if self.histogram is not None:
            other.histogram = self.histogram.copy()
        if self.categories is not None:
            other.categories = dict(self.categories)
        for name, kind in (("quantiles", ds.kll_doubles_sketch), ("distinct", ds.hll_sketch),
                           ("frequent", ds.frequent_strings_sketch)):
            sketch = getattr(self, name)
            if sketch is not None:
                blob = sketch.serialize() if name != "distinct" else sketch.serialize_compact()
                setattr(other, name, kind.deserialize(blob))
        return other


class Profile:
    """Mergeable profiles of the columns of a table, and its row count.

    ``Profile(reference=ref)`` starts an empty profile on the reference's
    columns, kinds, bin edges and range: feed it with :meth:`update` (a
    serving process, a Spark ``mapInArrow`` partition) and compare it with the
    reference. Without a reference the columns and kinds come from the first
    batch (or ``columns`` and ``categorical``), each numeric column takes the
    deciles of its first values as bin edges, and the profile can serve as a
    reference itself.
    """

    def __init__(self, *, reference: Profile | None = None,
                 columns: Sequence[str] | None = None,
                 categorical: Sequence[str] | None = None, bins: int | None = None,
                 max_categories: int | None = None, quantile_k: int | None = None,
                 distinct_lg_k: int | None = None, threads: int | None = None) -> None:
        given = {k: v for k, v in (("bins", bins), ("max_categories", max_categories),
                                   ("quantile_k", quantile_k), ("distinct_lg_k", distinct_lg_k))
                 if v is not None}
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidArgument(f"threads must be a whole number of at least 1, got {threads!r}")
        self.threads = threads
        self.rows = 0
        self.columns: dict[str, ColumnProfile] = {}
        self._categorical = list(categorical or ())
        self._chosen = None if columns is None else list(columns)
        if reference is None:
            self.settings = Settings(**given)
            self.settings.check()
            if self._chosen is not None:
                unknown = set(self._categorical) - set(self._chosen)
                if unknown:
                    raise InvalidArgument(
                        f"categorical names {sorted(unknown)!r}, which are not profiled")
            return
        if not isinstance(reference, Profile):
            raise InvalidArgument(f"reference must be a Profile, got {type(reference).__name__}")
        if given:
            raise InvalidArgument("a profile made against a reference takes its settings from "
                                  f"it; leave out {', '.join(sorted(given))}")
        self.settings = reference.settings
        names = reference.select(columns)
        for name in self._categorical:
            if name in names and reference.columns[name].kind != CATEGORICAL:
                raise InvalidArgument(f"column {name!r} is numeric in the reference; a profile "
                                      "against it counts it the same way")
        for name in names:
            ref = reference.columns[name]
            column = self._new_column(name, ref.kind)
            if ref.kind == NUMERIC and ref.edges is not None:
                column.edges = ref.edges.copy()
                column.histogram = np.zeros(ref.edges.size + 1, dtype=np.int64)
            if ref.kind == NUMERIC and ref.count:
                column.bounds = (ref.min, ref.max)
            self.columns[name] = column

    # ------------------------------------------------------------------ making
    @classmethod
    def from_data(cls, data: Any, **options: Any) -> Profile:
        """The profile of ``data``: a pandas DataFrame, a pyarrow Table or RecordBatch, or an
        iterable of them (a ``pyarrow.RecordBatchReader``, a generator of batches).

        ``options`` are those of the constructor (``reference``, ``columns``,
        ``categorical``, ``bins`` ...). With a ``reference`` and no ``columns``,
        the reference's columns that the data has are profiled.
        """
        if _is_batch(data):
            first, rest = data, iter(())
        elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
            rest = iter(data)
            first = next(rest, None)
        else:
            raise InvalidArgument("data must be a pandas DataFrame, a pyarrow Table or "
                                  f"RecordBatch, or an iterable of them, got {type(data).__name__}")
        if first is None:
            if options.get("reference") is None:
                raise InvalidArgument("the data has no batches: there are no columns to profile")
            return cls(**options)
        reference = options.get("reference")
        if isinstance(reference, Profile) and options.get("columns") is None and _is_batch(first):
            present = set(_column_names(first))
            options["columns"] = [name for name in reference.columns if name in present]
            if not options["columns"]:
                raise InvalidArgument(
                    "the data has none of the reference's columns: it has "
                    f"{', '.join(map(repr, _column_names(first))) or 'no columns'}, the "
                    f"reference {', '.join(map(repr, reference.columns))}")
        made = cls(**options)
        made.update(first)
        for batch in rest:
            made.update(batch)
        return made

    def update(self, batch: Any) -> None:
        """Add the rows of one batch (a DataFrame, Table or RecordBatch) to this profile."""
        if not _is_batch(batch):
            raise InvalidArgument("a batch must be a pandas DataFrame or a pyarrow Table or "
                                  f"RecordBatch, got {type(batch).__name__}")
        present = _column_names(batch)
        if not self.columns:
            self._start(batch, present)
        missing = [name for name in self.columns if name not in present]
        if missing:
            raise InvalidArgument(f"column {missing[0]!r} is not in the data; it has "
                                  f"{', '.join(map(repr, present)) or 'no columns'}")
        rows = len(batch)
        work = [(column, _values(batch, name)) for name, column in self.columns.items()]
        threads = min(self.threads or (os.cpu_count() or 1), len(work))
        if rows < _THREADED_ROWS or threads < 2:
            inputs = [_read_column(*job) for job in work]  # everything that can fail, first
            for job in inputs:
                _add_column(*job, self.settings)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:  # numpy sorts without the GIL
                inputs = list(pool.map(lambda job: _read_column(*job), work))
                list(pool.map(lambda job: _add_column(*job, self.settings), inputs))
        self.rows += rows

    def _start(self, batch: Any, present: list[str]) -> None:
        names = present if self._chosen is None else self._chosen
        for name in names:
            if name not in present:
                raise InvalidArgument(f"column {name!r} is not in the data; it has "
                                      f"{', '.join(map(repr, present)) or 'no columns'}")
        unknown = set(self._categorical) - set(names)
        if unknown:
            raise InvalidArgument(f"categorical names {sorted(unknown)!r}, which are not profiled")
        for name in names:
            kind = CATEGORICAL if name in self._categorical else column_kind(_values(batch, name))
            self.columns[name] = self._new_column(name, kind)

    def _new_column(self, name: str, kind: str) -> ColumnProfile:
        column = ColumnProfile(name=str(name), kind=kind,
                               distinct=ds.hll_sketch(self.settings.distinct_lg_k, ds.HLL_8))
        if kind == NUMERIC:
            column.quantiles = ds.kll_doubles_sketch(self.settings.quantile_k)
        else:
            column.categories = {}
        return column


    # ------------------------------------------------------------------ reading
    def __getitem__(self, name: str) -> ColumnProfile:
        return self.columns[self.select([name])[0]]

    def select(self, names: Sequence[str] | None) -> list[str]:
        """``names`` (all columns when None), checked: an unknown name is an InvalidArgument."""
        if names is None:
            return list(self.columns)
        if isinstance(names, str):
            raise InvalidArgument(f"columns must be a list of names, got the text {names!r}")
        for name in names:
            if name not in self.columns:
                raise InvalidArgument(f"column {name!r} is not in the profile; it has "
                                      f"{', '.join(map(repr, self.columns)) or 'no columns'}")
        return list(names)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{c.name}: {c.kind}" for c in self.columns.values())
        return f"Profile(rows={self.rows}, columns={{{kinds}}})"

    # ------------------------------------------------------------------ merging
    def merge(self, *others: Profile) -> Profile:
        """A new profile of this profile's rows and ``others``' rows.

        All must have the same columns, kinds, settings and bin edges (profile
        each part against the same reference, or split one table's batches).
        """
        result = Profile.__new__(Profile)
        result.settings, result.threads, result.rows = self.settings, self.threads, self.rows
        result._categorical, result._chosen = self._categorical, self._chosen
        result.columns = {name: column.copy() for name, column in self.columns.items()}
        for other in others:
            if not isinstance(other, Profile):
                raise InvalidArgument(f"can merge only profiles, got {type(other).__name__}")
            if other.settings != self.settings:
                raise InvalidArgument(f"profiles made with different settings do not merge: "
                                      f"{self.settings} and {other.settings}")
            if list(other.columns) != list(result.columns):
                raise InvalidArgument("profiles of different columns do not merge: "
                                      f"{list(result.columns)} and {list(other.columns)}")
            for name, column in result.columns.items():
                _merge_column(column, other.columns[name], self.settings)
            result.rows += other.rows
        return result

    # ------------------------------------------------------------------ bytes
    def to_bytes(self) -> bytes:
        """A compact, versioned encoding: a JSON header and the serialized sketches."""
        blobs: list[bytes] = []

        def blob(data: bytes) -> list[int]:
            blobs.append(data)
            return [sum(map(len, blobs[:-1])), len(data)]

        header = {"format": "dockyard.profile", "version": FORMAT_VERSION, "rows": self.rows,
                  "settings": dataclasses.asdict(self.settings),
                  "columns": [_column_header(c, blob) for c in self.columns.values()]}
        text = json.dumps(header, separators=(",", ":")).encode()
        body = text + b"".join(blobs)
        return _PREFIX.pack(_MAGIC, FORMAT_VERSION, len(text), zlib.crc32(body)) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """The profile that :meth:`to_bytes` encoded; InvalidArgument for anything else."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgument(f"a profile is bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < _PREFIX.size or data[:4] != _MAGIC:
            raise InvalidArgument("these bytes are not a Dockyard profile")
        _, version, size, crc = _PREFIX.unpack_from(data)
        if version != FORMAT_VERSION:
            raise InvalidArgument(f"the profile has format version {version}; this Dockyard "
                                  f"reads version {FORMAT_VERSION}")
        body = data[_PREFIX.size:]
        if size > len(body) or zlib.crc32(body) != crc:
            raise InvalidArgument("the profile is corrupt: its checksum does not match")
        try:
            header = json.loads(body[:size])
            if header.get("format") != "dockyard.profile":
                raise ValueError("its header is not a profile's")
            profile = cls.__new__(cls)
            profile.settings = Settings(**header["settings"])
            profile.settings.check()
            profile.rows, profile.threads = int(header["rows"]), None
            profile._categorical, profile._chosen = [], None
            blobs = memoryview(body)[size:]
            profile.columns = {}
            for entry in header["columns"]:
                column = _column_from_header(entry, blobs)
                profile.columns[column.name] = column
        except InvalidArgument:
            raise
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
            raise InvalidArgument(f"the profile is corrupt: {exc}") from None
        return profile


def profile(data: Any, **options: Any) -> Profile:
    """The profile of ``data`` (a DataFrame, an Arrow Table or RecordBatch, or an iterable of
    them); the same as :meth:`Profile.from_data`, which describes ``options``."""
    return Profile.from_data(data, **options)


def compare(reference: Profile, current: Profile, **options: Any) -> Any:
    """Drift per column between two profiles, as a DataFrame; see
    :func:`dockyard.monitor.report.compare`."""
    from dockyard.monitor import report  # report builds on this module

    return report.compare(reference, current, **options)


def quality(reference: Profile, current: Profile, **options: Any) -> Any:
    """Data quality per column of a profile against its reference, as a DataFrame; see
    :func:`dockyard.monitor.report.data_quality`."""
    from dockyard.monitor import report

    return report.data_quality(reference, current, **options)


def reference_thresholds(data: Any, reference: Profile | None = None,
                         **options: Any) -> dict[tuple[str, str], float]:
    """Drift thresholds derived from the reference data; see
    :func:`dockyard.monitor.report.reference_thresholds`."""
    from dockyard.monitor import report

    return report.reference_thresholds(data, reference, **options)


# ---------------------------------------------------------------------- input
def _is_batch(data: Any) -> bool:
    import pandas as pd
    import pyarrow as pa

    return isinstance(data, (pd.DataFrame, pa.Table, pa.RecordBatch))


def _column_names(batch: Any) -> list[str]:
    import pandas as pd

    names = list(batch.columns) if isinstance(batch, pd.DataFrame) else list(batch.schema.names)
    if len(set(names)) != len(names):
        raise InvalidArgument(f"the data has repeated column names: {names!r}")
    return names


def _values(batch: Any, name: str) -> Any:
    import pandas as pd

    return batch[name] if isinstance(batch, pd.DataFrame) else batch.column(name)


def _read_column(column: ColumnProfile, values: Any) -> tuple[ColumnProfile, Any, int]:
    """A column's values as the profile takes them: numbers with the count of type errors, or
    counts per category with the count of nulls."""
    if column.kind == NUMERIC:
        return (column, *_numbers(values))
    return (column, *stats.label_counts(values))


def _add_column(column: ColumnProfile, values: Any, extra: int, settings: Settings) -> None:
    if column.kind == NUMERIC:
        _update_numeric(column, values, extra, settings)
    else:
        _update_categorical(column, values, extra, settings)


def _numbers(values: Any) -> tuple[np.ndarray, int]:
    """A column as float64 with NaN for nulls and for values that are not numbers, and how
    many values were not numbers."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if column_kind(values) == NUMERIC or pa.types.is_boolean(values.type):
            return values.cast(pa.float64()).to_numpy(zero_copy_only=False), 0
        values = values.to_pandas()
    types = pd.api.types
    if values.dtype == np.float64:
        return values.to_numpy(), 0
    if types.is_numeric_dtype(values):  # numbers and booleans
        return values.to_numpy(dtype=np.float64, na_value=np.nan), 0
    nulls = int(values.isna().sum())
    numbers = pd.to_numeric(values, errors="coerce")
    numbers = np.asarray(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    return numbers, int(np.isnan(numbers).sum()) - nulls


# ---------------------------------------------------------------------- numeric columns
def _update_numeric(column: ColumnProfile, numbers: np.ndarray, errors: int,
                    settings: Settings) -> None:
    values, nan, infinite = stats.sort_sample(numbers)
    column.nulls += nan - errors
    column.type_errors += errors + infinite
    n = values.size
    if n == 0:
        return
    mean = float(values.mean())
    _add_moments(column, n, mean, _squares(values, mean))
    column.min = float(values[0]) if not column.min <= values[0] else column.min
    column.max = float(values[-1]) if not column.max >= values[-1] else column.max
    if column.edges is None:
        column.edges = stats.reference_edges(values, settings.bins, is_sorted=True)
        column.histogram = np.zeros(column.edges.size + 1, dtype=np.int64)
    column.histogram += stats.sorted_bin_counts(values, column.edges)
    if column.bounds is not None:
        column.below += int(np.searchsorted(values, column.bounds[0], side="left"))
        column.above += n - int(np.searchsorted(values, column.bounds[1], side="right"))
    if n >= _SAMPLED_QUANTILES and n >= 16 * settings.quantile_k:
        column.quantiles.merge(_kll_of_sorted(values, settings.quantile_k))
    else:
        column.quantiles.update(values[::-1])  # the sketch compacts descending input fastest
    _update_distinct_numbers(column, values, settings.distinct_lg_k)


def _squares(values: np.ndarray, mean: float) -> float:
    """The sum of squared deviations from ``mean``, in cache-sized slices (einsum: no BLAS)."""
    total, buffer = 0.0, np.empty(min(values.size, _CHUNK))
    for offset in range(0, values.size, _CHUNK):
        part = buffer[:min(_CHUNK, values.size - offset)]
        np.subtract(values[offset:offset + _CHUNK], mean, out=part)
        total += float(np.einsum("i,i->", part, part))
    return total


def _add_moments(column: ColumnProfile, n: int, mean: float, m2: float) -> None:
    """Chan's parallel update of (count, mean, M2) with another part's."""
    total = column.count + n
    if column.count == 0:
        column.mean, column.m2 = mean, m2
    else:
        delta = mean - column.mean
        column.mean += delta * n / total
        column.m2 += m2 + delta * delta * column.count * n / total
    column.count = total


def _update_distinct_numbers(column: ColumnProfile, values: np.ndarray, lg_k: int) -> None:
    step = max(1, values.size // (4 * _ITEM_UPDATES))
    if np.count_nonzero(np.diff(values[::step])) >= _ITEM_UPDATES:  # many distinct: hash all
        column.distinct = _union(column.distinct, _hll_of_numbers(values, lg_k), lg_k)
        return
    new = np.empty(values.size, dtype=bool)
    new[0] = True
    np.not_equal(values[1:], values[:-1], out=new[1:])
    if np.count_nonzero(new) <= _ITEM_UPDATES:
        for value in values[new].tolist():
            column.distinct.update(value)
        return
    column.distinct = _union(column.distinct, _hll_of_numbers(values, lg_k), lg_k)


# MurmurHash3 (x64, 128 bits) of one 8-byte key with DataSketches' seed, vectorised: the
# registers it gives are those of hll_sketch.update(float) value by value (tests check).
_U = np.uint64
_C1, _C2 = _U(0x87C37B91114253D5), _U(0x4CF5AD432745937F)
_F1, _F2 = _U(0xFF51AFD7ED558CCD), _U(0xC4CEB9FE1A85EC53)
_SEED = 9001
_HLL_HEADER = struct.Struct("<8BdddII")


def _fmix(h: np.ndarray, tmp: np.ndarray) -> None:
    for multiplier in (_F1, _F2):
        np.right_shift(h, _U(33), out=tmp)
        h ^= tmp
        h *= multiplier
    np.right_shift(h, _U(33), out=tmp)
    h ^= tmp


def _hll_of_numbers(values: np.ndarray, lg_k: int) -> Any:
    """An HLL_8 sketch of float64 values, built from registers computed with numpy."""
    registers = np.zeros(1 << lg_k, dtype=np.uint8)
    size = min(values.size, _CHUNK)
    h1, h2, tmp = (np.empty(size, dtype=_U) for _ in range(3))
    real = np.empty(size, dtype=np.float64)
    mask, key = _U((1 << lg_k) - 1), _U(_SEED ^ 8)
    with np.errstate(over="ignore"):
        for offset in range(0, values.size, _CHUNK):
            part = values[offset:offset + _CHUNK]
            a, b, t, f = h1[:part.size], h2[:part.size], tmp[:part.size], real[:part.size]
            np.add(part, 0.0, out=f)  # -0.0 hashes as 0.0
            np.multiply(f.view(_U), _C1, out=a)
            np.right_shift(a, _U(33), out=t)
            a <<= _U(31)
            a |= t
            a *= _C2
            a ^= key
            a += key
            np.add(a, key, out=b)
            _fmix(a, t)
            _fmix(b, t)
            a += b
            b += a
            a &= mask  # the register
            b >>= _U(11)  # h2's leading zeros z, from the exponent e of h2 >> 11 as a double:
            f[:] = b  # z = 1075 - e, and the register's value min(z, 62) + 1 = min(1076 - e, 63)
            np.right_shift(f.view(_U), _U(52), out=b)
            np.subtract(_U(1076), b, out=b)
            np.minimum(b, _U(63), out=b)
            np.maximum.at(registers, a.view(np.int64), b.astype(np.uint8))
    small = registers < 32
    kxq0 = float(np.ldexp(1.0, -registers[small].astype(np.int32)).sum())
    kxq1 = float(np.ldexp(1.0, -registers[~small].astype(np.int32)).sum())
    # An HLL-mode image: out-of-order flag set (as after a union), so the HIP estimate is unused.
    header = _HLL_HEADER.pack(10, 1, 7, lg_k, 0, 16, 0, 10, 0.0, kxq0, kxq1,
                              int(np.count_nonzero(registers == 0)), 0)
    return ds.hll_sketch.deserialize(header + registers.tobytes())


# A KLL sketch of a sorted batch, compacted in one step. KLL's compaction keeps every other item
# of a sorted level, from a random first one, at twice the weight; h compactions of the sorted
# batch keep every 2^h-th value from a random offset below 2^h, each weighing 2^h. The few
# values the stride leaves over (n mod 2^h of them) are carried as single random values on the
# lower levels, one per set bit, so that the weights add up to n as a sketch's must. The
# sketch's rank error bound holds as for one made value by value, and making it costs a slice
# instead of n updates (which hold the GIL). The image is DataSketches' serialised form.
_KLL_HEADER = struct.Struct("<BBBBHBBQHBB")
_KLL_MIN_WIDTH = 8
_RNG = np.random.default_rng()


def _kll_level_capacity(k: int, depth: int) -> int:
    def aux(k: int, depth: int) -> int:
        return (((2 * k) << depth) // 3 ** depth + 1) >> 1

    if depth <= 30:
        return aux(k, depth)
    return aux(aux(k, depth // 2), depth - depth // 2)


def _kll_of_sorted(values: np.ndarray, k: int) -> Any:
    """A ``kll_doubles_sketch(k)`` of ascending ``values`` (more than ``k`` of them)."""
    n = values.size
    height = max(1, math.ceil(math.log2(n / k)))
    while -(-n // (1 << height)) > k:
        height += 1
    step = 1 << height
    kept, left = divmod(n, step)
    top = values[int(_RNG.integers(step))::step][:kept]
    low = [1 if left >> level & 1 else 0 for level in range(height)]
    extra = values[_RNG.integers(0, n, sum(low))]
    sizes = [*low, top.size]
    levels = height + 1
    capacity = sum(max(_KLL_MIN_WIDTH, _kll_level_capacity(k, levels - 1 - level))
                   for level in range(levels))
    start = capacity - sum(sizes)
    offsets = [start + sum(sizes[:level]) for level in range(levels)]
    image = b"".join((
        _KLL_HEADER.pack(5, 1, 15, 0, k, _KLL_MIN_WIDTH, 0, n, k, levels, 0),
        struct.pack(f"<{levels}I", *offsets), struct.pack("<dd", values[0], values[-1]),
        extra.tobytes(), np.ascontiguousarray(top).tobytes()))
    return ds.kll_doubles_sketch.deserialize(image)


def _union(a: Any, b: Any, lg_k: int) -> Any:
    union = ds.hll_union(lg_k)
    union.update(a)
    union.update(b)
    return union.get_result(ds.HLL_8)


# ---------------------------------------------------------------------- categorical columns
def _update_categorical(column: ColumnProfile, counts: Mapping[str, int], nulls: int,
                        settings: Settings) -> None:
    column.nulls += nulls
    column.count += sum(counts.values())
    for label in counts:
        column.distinct.update(label)
    if column.categories is not None:
        for label, n in counts.items():
            column.categories[label] = column.categories.get(label, 0) + n
        if len(column.categories) > settings.max_categories:
            _to_sketch(column, settings)
    else:
        for label, n in counts.items():
            column.frequent.update(label, n)


def _frequent_lg(settings: Settings) -> int:
    """A frequent-items map that holds every category up to 3x ``max_categories`` exactly."""
    return max(6, math.ceil(math.log2(settings.max_categories * 4)))


def _to_sketch(column: ColumnProfile, settings: Settings) -> None:
    sketch = ds.frequent_strings_sketch(_frequent_lg(settings))
    for label, n in (column.categories or {}).items():
        sketch.update(label, n)
    column.categories, column.frequent = None, sketch


def _merge_column(column: ColumnProfile, other: ColumnProfile, settings: Settings) -> None:
    if other.kind != column.kind:
        raise InvalidArgument(f"column {column.name!r} is {column.kind} in one profile and "
                              f"{other.kind} in the other")
    if column.kind == NUMERIC:
        if column.edges is None or other.edges is None:
            if other.edges is not None and not column.count:
                column.edges, column.histogram = other.edges.copy(), np.zeros_like(
                    other.histogram)
        elif not np.array_equal(column.edges, other.edges):
            raise InvalidArgument(f"column {column.name!r} was binned on different edges; "
                                  "profile both parts against the same reference")
        if column.bounds != other.bounds and other.count:
            raise InvalidArgument(f"column {column.name!r} was counted against different "
                                  "reference ranges; profile both parts against the same "
                                  "reference")
        if other.count:
            _add_moments(column, other.count, other.mean, other.m2)
            column.min = other.min if not column.min <= other.min else column.min
            column.max = other.max if not column.max >= other.max else column.max
            column.histogram += other.histogram
            column.below += other.below
            column.above += other.above
            column.quantiles.merge(other.quantiles)
    else:
        column.count += other.count
        if column.categories is not None and other.categories is not None:
            for label, n in other.categories.items():
                column.categories[label] = column.categories.get(label, 0) + n
            if len(column.categories) > settings.max_categories:
                _to_sketch(column, settings)
        else:
            if column.categories is not None:
                _to_sketch(column, settings)
            if other.categories is not None:
                for label, n in other.categories.items():
                    column.frequent.update(label, n)
            else:
                column.frequent.merge(other.frequent)
    column.nulls += other.nulls
    column.type_errors += other.type_errors
    column.distinct = _union(column.distinct, other.distinct, settings.distinct_lg_k)


# ---------------------------------------------------------------------- encoding
def _compact(sketch: Any) -> bytes:
    """An HLL sketch as HLL_4 (half the bytes of HLL_8, the same estimates), in a canonical
    form: the coupons of SET mode and the exceptions of HLL_4 come out of hash tables in an
    order that depends on their history, so they are sorted (the sketch reads any order)."""
    union = ds.hll_union(sketch.lg_config_k)
    union.update(sketch)
    image = bytearray(union.get_result(ds.HLL_4).serialize_compact())
    mode = image[7] & 3
    if mode == 1:
        start = image[0] * 4  # after the preamble
    elif mode == 2:
        start = 40 + (1 << image[3]) // 2  # after the preamble and the 4-bit registers
    else:
        return bytes(image)
    image[start:] = np.sort(np.frombuffer(bytes(image[start:]), dtype="<u4")).tobytes()
    return bytes(image)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _column_header(column: ColumnProfile, blob: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": column.name, "kind": column.kind, "count": column.count, "nulls": column.nulls,
        "type_errors": column.type_errors, "distinct": blob(_compact(column.distinct))}
    if column.kind == NUMERIC:
        entry.update(
            mean=_number(column.mean), m2=column.m2, min=_number(column.min),
            max=_number(column.max), below=column.below, above=column.above,
            bounds=None if column.bounds is None else list(column.bounds),
            edges=None if column.edges is None else column.edges.tolist(),
            histogram=None if column.histogram is None else column.histogram.tolist(),
            quantiles=blob(column.quantiles.serialize()))
    elif column.categories is not None:
        entry["categories"] = column.categories
    else:
        entry["frequent"] = blob(column.frequent.serialize())
    return entry


def _column_from_header(entry: dict[str, Any], blobs: memoryview) -> ColumnProfile:
    def sketch(kind: Any, key: str) -> Any:
        offset, size = entry[key]
        if offset < 0 or size <= 0 or offset + size > len(blobs):
            raise ValueError(f"the {key} sketch of column {entry['name']!r} is out of bounds")
        return kind.deserialize(bytes(blobs[offset:offset + size]))

    def nan(value: Any) -> float:
        return math.nan if value is None else float(value)

    kind = entry["kind"]
    if kind not in (NUMERIC, CATEGORICAL):
        raise ValueError(f"unknown column kind {kind!r}")
    column = ColumnProfile(name=str(entry["name"]), kind=kind, count=int(entry["count"]),
                           nulls=int(entry["nulls"]), type_errors=int(entry["type_errors"]),
                           distinct=sketch(ds.hll_sketch, "distinct"))
    if kind == NUMERIC:
        column.mean, column.m2 = nan(entry["mean"]), float(entry["m2"])
        column.min, column.max = nan(entry["min"]), nan(entry["max"])
        column.below, column.above = int(entry["below"]), int(entry["above"])
        if entry["bounds"] is not None:
            low, high = entry["bounds"]
            column.bounds = (float(low), float(high))
        if entry["edges"] is not None:
            column.edges = np.asarray(entry["edges"], dtype=np.float64)
            column.histogram = np.asarray(entry["histogram"], dtype=np.int64)
            if column.histogram.shape != (column.edges.size + 1,):
                raise ValueError(f"column {column.name!r} has a histogram of the wrong size")
        column.quantiles = sketch(ds.kll_doubles_sketch, "quantiles")
    elif "categories" in entry:
        column.categories = {str(k): int(v) for k, v in entry["categories"].items()}
    else:
        column.frequent = sketch(ds.frequent_strings_sketch, "frequent")
    return column
