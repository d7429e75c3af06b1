"""Min/max downsampling of metric histories: what it promises to keep."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from dockyard.entities.downsample import downsample
from dockyard.errors import InvalidArgument

T0 = 1_700_000_000_000

Columns = tuple[list[int], list[float], list[int]]


def series(values: list[float]) -> Columns:
    return list(range(len(values))), values, [T0 + 10 * i for i in range(len(values))]


def noise(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [math.sin(i / 500) + rng.uniform(-0.1, 0.1) for i in range(n)]


def check_guarantees(columns: Columns, max_points: int) -> Columns:
    """Assert what every result promises, and return it."""
    steps, values, timestamps = columns
    out = downsample(steps, values, timestamps, max_points)
    out_steps, out_values, out_timestamps = out
    assert len(out_steps) == len(out_values) == len(out_timestamps) <= max_points
    position = {(s, t): i for i, (s, t) in enumerate(zip(steps, timestamps))}
    kept = [position[(s, t)] for s, t in zip(out_steps, out_timestamps)]
    assert kept == sorted(set(kept)), "not a subsequence in the input's order"
    assert out_values == [values[i] for i in kept]
    assert kept[0] == 0 and kept[-1] == len(steps) - 1
    assert min(out_values) == min(values) and max(out_values) == max(values)
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 50, 2000])
def test_short_history_is_returned_unchanged(n: int) -> None:
    columns = series(noise(n))
    assert downsample(*columns, max_points=2000 if n > 4 else 4) == columns


def test_spike_and_dip_survive_in_100000_points() -> None:
    values = noise(100_000)
    values[31_337], values[77_777] = 40.0, -40.0
    steps, got, timestamps = check_guarantees(series(values), 2000)
    assert len(steps) == 2000
    assert (31_337, 40.0, T0 + 313_370) in zip(steps, got, timestamps)
    assert (77_777, -40.0, T0 + 777_770) in zip(steps, got, timestamps)


@pytest.mark.parametrize("max_points", [4, 5, 6, 7, 10, 99, 1000, 2999])
def test_guarantees_hold_for_every_budget(max_points: int) -> None:
    check_guarantees(series(noise(3000, seed=max_points)), max_points)


def test_every_spike_at_least_a_bucket_apart_survives() -> None:
    values = noise(50_000, seed=3)
    spikes = {i: (10.0 if k % 2 else -10.0) + k / 100
              for k, i in enumerate(range(100, 50_000, 997))}
    for i, value in spikes.items():
        values[i] = value
    steps, got, _ = check_guarantees(series(values), 200)  # buckets of 505 points
    kept = dict(zip(steps, got))
    assert {i: kept.get(i) for i in spikes} == spikes


def test_edges_and_plateaus() -> None:
    flat = check_guarantees(series([1.0] * 1000), 10)
    assert flat[1] == [1.0] * len(flat[1])
    ramp = check_guarantees(series([float(i) for i in range(1000)]), 4)
    assert ramp[0] == [0, 1, 998, 999]
    # an extreme at the very first or last point is kept as that point
    values = noise(1000)
    values[0], values[-1] = 99.0, -99.0
    check_guarantees(series(values), 8)


def test_repeated_steps_are_kept_apart() -> None:
    steps = [i // 3 for i in range(3000)]
    timestamps = [T0 + i for i in range(3000)]
    values = noise(3000, seed=5)
    values[1501] = 7.0
    check_guarantees((steps, values, timestamps), 100)


def test_result_is_deterministic_and_takes_numpy_integers() -> None:
    columns = series(noise(10_000))
    assert downsample(*columns, max_points=np.int64(500)) == downsample(*columns, max_points=500)


@pytest.mark.parametrize("max_points", [3, 0, -1, 2.0, 100.0, "100", None, True])
def test_bad_max_points(max_points: object) -> None:
    with pytest.raises(InvalidArgument, match="max_points"):
        downsample(*series(noise(10)), max_points=max_points)  # type: ignore[arg-type]


def test_columns_of_different_lengths() -> None:
    steps, values, timestamps = series(noise(100))
    with pytest.raises(InvalidArgument, match="length"):
        downsample(steps, values[:-1], timestamps, 10)


def test_nan_is_refused() -> None:
    steps, values, timestamps = series(noise(100))
    values[50] = math.nan
    with pytest.raises(InvalidArgument, match="NaN"):
        downsample(steps, values, timestamps, 10)
