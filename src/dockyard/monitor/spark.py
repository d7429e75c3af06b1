"""Profiles of Spark DataFrames, made per partition and merged on the driver.

:func:`profile_spark` profiles each partition of a DataFrame inside Spark
(``mapInArrow``: every partition feeds its Arrow batches to
:meth:`Profile.update <dockyard.monitor.profile.Profile.update>` and returns
one row, the partition's profile as bytes); the driver merges the partitions'
profiles. Every partition bins on the same edges (those of a reference), so the
merge is exact where the statistic allows, and the result is the profile that
``Profile.from_data(df.toPandas(), reference=reference)`` makes in one process:
counts, nulls, type errors, min, max, histograms, out-of-range counts and
category counts exactly, mean and variance up to floating-point rounding, and
the quantile and distinct-count sketches within their error bounds.

pyspark is an optional engine (``pip install 'dockyard[spark]'``); it is
imported by the functions that need it. The executors import Dockyard, so it
must be installed where they run.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dockyard.errors import InvalidArgument, MissingExtra
from dockyard.monitor.profile import NUMERIC, Profile

__all__ = ["SAMPLE_ROWS", "compare_spark", "profile_spark", "sample_profile"]

SAMPLE_ROWS = 100_000
"""Rows of the sample whose deciles bin a profile made without a reference."""
_SETTINGS = ("bins", "max_categories", "quantile_k", "distinct_lg_k")
_SCHEMA = "profile binary"


def profile_spark(df: Any, *, reference: Profile | None = None,
                  columns: Sequence[str] | None = None,
                  categorical: Sequence[str] | None = None, sample_rows: int = SAMPLE_ROWS,
                  threads: int = 1, **settings: Any) -> Profile:
    """The profile of a Spark DataFrame, made per partition and merged on the driver.

    With a ``reference`` (a :class:`~dockyard.monitor.profile.Profile`), every
    partition is profiled against it: the reference's columns (those ``df``
    has, or ``columns``), kinds, settings, bin edges and range, as
    ``Profile.from_data(data, reference=reference)`` does; the result compares
    with the reference (:func:`~dockyard.monitor.report.compare`).

    Without one, the first ``sample_rows`` rows (``df.limit(sample_rows)``)
    are profiled in one task, as :func:`sample_profile` does. When that is
    every row, the sample's profile is the answer: the profile that
    ``Profile.from_data(df.toPandas())`` makes. Otherwise the DataFrame is
    read again, and the sample profile is the reference of every partition, so
    that the numeric columns' histograms share the sample's deciles as edges
    (the ``below`` and ``above`` counts are then values outside the sample's
    range). Either way the result can serve as a reference itself. When the
    rows are ordered (by time, say), the first rows may not represent the
    rest: pass a reference made from a random sample,
    ``sample_profile(df.sample(0.01))``.
    ``columns``, ``categorical`` and ``settings`` (``bins``,
    ``max_categories``, ``quantile_k``, ``distinct_lg_k``) are those of
    :class:`~dockyard.monitor.profile.Profile`; a profile made against a
    reference takes its settings from it.

    ``threads`` are the threads each partition profiles its columns with
    (Spark already runs one partition per core). An empty DataFrame gives a
    profile of zero rows (with a reference: on its columns, so that
    :func:`~dockyard.monitor.report.compare` says ``no data``). A column that
    the DataFrame does not have is an InvalidArgument naming the columns it
    has; without pyspark, a MissingExtra naming ``dockyard[spark]``.
    """
    _spark_dataframe(df)
    _check_settings(settings)
    _check_rows("sample_rows", sample_rows)
    if reference is None:
        reference = sample_profile(df, rows=sample_rows, columns=columns,
                                   categorical=categorical, **settings)
        if reference.rows < sample_rows:  # the sample holds every row (or there are none)
            return reference
        columns, categorical, settings = list(reference.columns), None, {}
        source = f"the first {sample_rows:,} rows"
    elif not isinstance(reference, Profile):
        raise InvalidArgument(f"reference must be a Profile, got {type(reference).__name__}")
    else:
        source = "the reference"
    names = _columns_against(df, reference, columns)
    # Made here first, so that every mistake in the options surfaces on the driver, not as an
    # executor's traceback; it is also the answer when no partition has rows.
    empty = Profile(reference=reference, columns=names, categorical=categorical, threads=threads,
                    **settings)
    job = functools.partial(_profile_partition, reference.to_bytes(), names, threads)
    parts = [Profile.from_bytes(row[0])
             for row in _select(df, names).mapInArrow(job, _SCHEMA).collect()]
    for name, column in empty.columns.items():
        binned = sum(1 for part in parts if part.columns[name].count)
        if column.kind == NUMERIC and column.edges is None and binned > 1:
            raise InvalidArgument(
                f"column {name!r} has no values in {source}, so there are no bin edges that "
                "every partition shares, and the partitions' histograms do not merge; profile "
                "against a reference with values in it (sample_profile of a larger sample, "
                "or of df.sample(...)) or leave the column out with columns=")
    return empty.merge(*parts) if parts else empty


def sample_profile(df: Any, *, rows: int = SAMPLE_ROWS, columns: Sequence[str] | None = None,
                   categorical: Sequence[str] | None = None, **settings: Any) -> Profile:
    """The profile of the first ``rows`` rows of a Spark DataFrame, made in one Spark task.

    Its numeric columns' bin edges are the deciles (``bins``) of the sample;
    :func:`profile_spark` without a reference bins every partition on them.
    Column kinds follow the rule of :func:`~dockyard.monitor.profile.column_kind`
    on the Arrow types Spark sends (numbers and decimals are numeric), plus
    ``categorical``. An empty DataFrame gives a profile of zero rows on the
    chosen columns.
    """
    _spark_dataframe(df)
    _check_settings(settings)
    _check_rows("rows", rows)
    names = _checked_columns(df, df.columns if columns is None else columns)
    Profile(columns=names, categorical=categorical, **settings)  # the options, checked here
    job = functools.partial(_profile_sample, names, list(categorical or ()), settings)
    blobs = _select(df, names).limit(rows).coalesce(1).mapInArrow(job, _SCHEMA).collect()
    if blobs:
        return Profile.from_bytes(blobs[0][0])
    from pyspark.sql.pandas.types import to_arrow_schema

    empty = to_arrow_schema(_select(df, names).schema).empty_table()
    return Profile.from_data(empty, columns=names, categorical=categorical, **settings)


def compare_spark(reference: Any, current: Any, *, columns: Sequence[str] | None = None,
                  categorical: Sequence[str] | None = None,
                  methods: Mapping[str, str] | None = None,
                  thresholds: Mapping[str | tuple[str, str], float] | None = None,
                  threads: int = 1, **options: Any) -> Any:
    """Drift per column of a Spark DataFrame against a reference, as a DataFrame.

    ``reference`` is a :class:`~dockyard.monitor.profile.Profile` or a Spark
    DataFrame, profiled with :func:`profile_spark` and ``options``
    (``sample_rows``, ``bins`` ...); ``current`` is a Spark DataFrame,
    profiled against the reference. The table is that of
    :func:`~dockyard.monitor.report.compare`, which describes ``methods`` and
    ``thresholds``; an empty current DataFrame gives ``no data`` rows.
    """
    from dockyard.monitor import report

    if isinstance(reference, Profile):
        if options:
            raise InvalidArgument(f"{', '.join(sorted(options))} apply to profiling a reference "
                                  "DataFrame; this reference is a profile already")
    else:
        reference = profile_spark(reference, columns=columns, categorical=categorical,
                                  threads=threads, **options)
        categorical = None  # the reference's kinds hold
    current_profile = profile_spark(current, reference=reference, columns=columns,
                                    categorical=categorical, threads=threads)
    return report.compare(reference, current_profile, columns=columns, methods=methods,
                          thresholds=thresholds)


# ---------------------------------------------------------------------- in the executors
def _profile_partition(reference: bytes, columns: list[str], threads: int,
                       batches: Iterator[Any]) -> Iterator[Any]:
    """One partition's profile against the reference, as one row; nothing for no rows."""
    made = Profile(reference=Profile.from_bytes(reference), columns=columns, threads=threads)
    for batch in batches:
        made.update(batch)
    if made.rows:
        yield _row(made)


def _profile_sample(columns: list[str], categorical: list[str], settings: dict[str, Any],
                    batches: Iterator[Any]) -> Iterator[Any]:
    """The sample's profile, all its batches at once (its edges: the deciles of every row)."""
    import pyarrow as pa

    batches = [batch for batch in batches if batch.num_rows]
    if batches:
        table = pa.Table.from_batches(batches)
        yield _row(Profile.from_data(table, columns=columns, categorical=categorical,
                                     **settings))


def _row(made: Profile) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array([made.to_bytes()], type=pa.binary())],
                                      names=["profile"])


# ---------------------------------------------------------------------- checks
def _spark_dataframe(df: Any) -> Any:
    """``df``, checked to be a pyspark DataFrame; MissingExtra without pyspark."""
    try:
        from pyspark.sql import DataFrame
    except ImportError as exc:
        raise MissingExtra("profiling a Spark DataFrame needs pyspark: "
                           "pip install 'dockyard[spark]'", module="pyspark",
                           extra="spark") from exc
    if not isinstance(df, DataFrame):
        kind = type(df)
        raise InvalidArgument(
            f"expected a pyspark DataFrame, got {kind.__module__}.{kind.__name__}")
    return df


def _check_settings(settings: Mapping[str, Any]) -> None:
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        raise InvalidArgument(f"unknown options {', '.join(unknown)}; the settings of a profile "
                              f"are {', '.join(_SETTINGS)}")


def _check_rows(name: str, rows: Any) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidArgument(f"{name} must be a whole number of at least 1, got {rows!r}")


def _checked_columns(df: Any, names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        raise InvalidArgument(f"columns must be a list of names, got the text {names!r}")
    present = list(df.columns)
    for name in names:
        if name not in present:
            raise InvalidArgument(f"column {name!r} is not in the DataFrame; it has "
                                  f"{', '.join(map(repr, present)) or 'no columns'}")
    return list(names)


def _columns_against(df: Any, reference: Profile, columns: Sequence[str] | None) -> list[str]:
    """The columns to profile against ``reference``: those named, else the reference's columns
    that the DataFrame has (as :meth:`Profile.from_data` picks them)."""
    if columns is not None:
        return _checked_columns(df, reference.select(columns))
    names = [name for name in reference.columns if name in df.columns]
    if not names:
        raise InvalidArgument(
            "the DataFrame has none of the reference's columns: it has "
            f"{', '.join(map(repr, df.columns)) or 'no columns'}, the reference "
            f"{', '.join(map(repr, reference.columns))}")
    return names


def _select(df: Any, names: Sequence[str]) -> Any:
    """Only the profiled columns travel to Python; names are quoted (they may hold dots)."""
    from pyspark.sql import functions

    return df.select(*(functions.col("`" + name.replace("`", "``") + "`") for name in names))
