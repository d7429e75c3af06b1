"""dockyard.set_seed: every generator seeded, the seed on the runs, bad seeds refused."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch

import dockyard
from dockyard.errors import InvalidArgument
from dockyard.train import seeds


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(seeds, "_seed", None)
    for name in ("PYTHONHASHSEED", "DOCKYARD_SEED", "PL_GLOBAL_SEED"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    yield


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_a_seed_makes_every_generator_repeat() -> None:
    assert dockyard.set_seed(7) == 7
    first = draws()
    dockyard.set_seed(7)
    assert draws() == first
    dockyard.set_seed(8)
    assert draws() != first


def test_the_seed_is_tagged_on_the_active_run_and_on_later_runs() -> None:
    with dockyard.start_run() as before:
        seed = dockyard.set_seed()
    with dockyard.start_run() as after:
        pass
    assert 0 <= seed < 2**32
    for run in (before, after):
        assert dockyard.get_run(run.id).tags["dockyard.seed"] == str(seed)


def test_without_a_seed_the_environment_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_SEED", "1234")
    assert dockyard.set_seed() == 1234
    monkeypatch.setenv("DOCKYARD_SEED", "twelve")
    with pytest.raises(InvalidArgument, match="DOCKYARD_SEED must be an integer"):
        dockyard.set_seed()


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, True, "x"])
def test_bad_seeds_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgument, match="seed must be an integer from 0 to"):
        dockyard.set_seed(bad)  # type: ignore[arg-type]


def test_lightnings_seed_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PL_GLOBAL_SEED", "99")  # what seed_everything(99) exports
    with dockyard.start_run() as run:
        pass
    assert dockyard.get_run(run.id).tags["dockyard.seed"] == "99"
