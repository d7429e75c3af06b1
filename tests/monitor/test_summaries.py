"""Profiles made in the serving process: written beside the log, merged by monitor runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dockyard.client import Client
from dockyard.entities.monitoring import MonitorSpec
from dockyard.monitor.monitors import create_monitor, run_monitor
from dockyard.monitor.predictions import PredictionStore
from dockyard.monitor.summaries import BUCKET_MS, FOLDER, ServingProfiler
from dockyard.serve.predlog import PredictionBatch, PredictionLog
from dockyard.store.artifacts import artifact_store_for

START = 1_795_000_000_000 - 1_795_000_000_000 % BUCKET_MS


def log_rows(root: str, spool: Path, rng, n: int, *, shift: float, summarize=None,
             deployment: str = "prod") -> None:
    """``n`` predictions of model churn spread over three minutes from START."""
    log = PredictionLog(artifact_store_for(root), spool_dir=spool, deployment=deployment,
                        summarize=summarize)
    plan = rng.choice(["basic", "pro"], n).astype(object)
    plan[::50] = None
    log.append(PredictionBatch(
        [f"{spool.name}-{i}" for i in range(n)], "churn", 1,
        inputs={"age": rng.normal(40 + shift, 8, n), "plan": plan},
        outputs=rng.random(n), latency_ms=1.0,
        time_ms=START + np.arange(n) * (3 * BUCKET_MS // n)))
    assert log.close()


@pytest.fixture
def setup(tmp_path: Path):
    rng = np.random.default_rng(5)
    root = str(tmp_path / "artifacts")
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", root)
    reference = pd.DataFrame({"age": rng.normal(40, 8, 3000),
                              "plan": rng.choice(["basic", "pro"], 3000),
                              "score": rng.random(3000)})
    monitor = create_monitor(client, MonitorSpec(name="churn", model_name="churn",
                                                 deployment="prod", categorical=["plan"],
                                                 interval_seconds=0),
                             reference, prediction="score")
    return client, monitor, root, rng, tmp_path


def values_of(run) -> dict:
    return {(v.metric, v.feature): v.value for v in run.values if v.feature}


def test_monitor_runs_merge_the_servers_profiles(setup) -> None:
    client, monitor, root, rng, tmp_path = setup
    log_rows(root, tmp_path / "spool-a", rng, 1500, shift=6,
             summarize=ServingProfiler(client))
    files = PredictionStore(root).list_files(FOLDER)
    assert len(files) == 3 and all(f"monitor={monitor.id}" in f for f in files)  # a minute each

    window = (START, START + 3 * BUCKET_MS)
    served = run_monitor(client, monitor, since=window[0], until=window[1])
    assert served.served_profiles == [window]
    shutil.rmtree(Path(root) / "predictions" / FOLDER)
    raw = run_monitor(client, monitor, since=window[0], until=window[1])
    assert raw.served_profiles == []
    a, b = values_of(served), values_of(raw)
    assert a.keys() == b.keys()
    for key in a:
        if key[0] in ("ks", "wasserstein", "distinct_change"):
            assert a[key] == pytest.approx(b[key], abs=0.02), key  # sketches, merged
        elif a[key] is None:
            assert b[key] is None, key
        else:
            assert a[key] == pytest.approx(b[key], abs=1e-12), key  # exact statistics
    assert a[("drifted", "age")] == 1.0 and a[("drifted", "plan")] == 0.0
    assert a[("null_rate", "plan")] == pytest.approx(30 / 1500)


def test_rows_without_a_profile_send_the_run_to_the_log(setup) -> None:
    client, monitor, root, rng, tmp_path = setup
    log_rows(root, tmp_path / "spool-a", rng, 600, shift=0, summarize=ServingProfiler(client))
    log_rows(root, tmp_path / "spool-b", rng, 300, shift=0)  # a server without profiles
    run = run_monitor(client, monitor, since=START, until=START + 3 * BUCKET_MS)
    assert run.served_profiles == [] and run.latest("rows").value == 900


def test_only_the_monitors_deployment_and_whole_minutes_use_profiles(setup) -> None:
    client, monitor, root, rng, tmp_path = setup
    log_rows(root, tmp_path / "spool-a", rng, 600, shift=0, summarize=ServingProfiler(client),
             deployment="canary")
    assert PredictionStore(root).list_files(FOLDER) == []  # the monitor watches prod only
    log_rows(root, tmp_path / "spool-b", rng, 600, shift=0, summarize=ServingProfiler(client))
    off_grid = run_monitor(client, monitor, since=START + 1, until=START + 3 * BUCKET_MS)
    assert off_grid.served_profiles == []


def test_a_changed_reference_ignores_the_old_profiles(setup) -> None:
    client, monitor, root, rng, tmp_path = setup
    log_rows(root, tmp_path / "spool-a", rng, 600, shift=0, summarize=ServingProfiler(client))
    from dockyard.monitor.monitors import set_reference

    monitor = set_reference(client, monitor, pd.DataFrame({
        "age": rng.normal(50, 8, 500), "plan": rng.choice(["basic", "pro"], 500),
        "score": rng.random(500)}), prediction="score")
    run = run_monitor(client, monitor, since=START, until=START + 3 * BUCKET_MS)
    assert run.served_profiles == [] and run.latest("rows").value == 600


def test_a_store_that_is_away_means_no_profiles_not_lost_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    root = str(tmp_path / "artifacts")
    away = ServingProfiler(uri="postgresql://nobody@127.0.0.1:9/none", artifacts=root)
    log_rows(root, tmp_path / "spool", rng, 100, shift=0, summarize=away)
    store = PredictionStore(root)
    assert store.list_files(FOLDER) == []
    assert store.sql("SELECT count(*) AS n FROM predictions").column("n")[0].as_py() == 100


def test_deleting_a_monitor_deletes_its_reference_and_profiles(setup) -> None:
    client, monitor, root, rng, tmp_path = setup
    log_rows(root, tmp_path / "spool-a", rng, 300, shift=0, summarize=ServingProfiler(client))
    store = PredictionStore(root)
    assert store.list_files(FOLDER) and (Path(root) / monitor.reference).is_dir()
    client.delete_monitor(monitor.id)
    assert store.list_files(FOLDER) == [] and not (Path(root) / monitor.reference).exists()
    assert store.sql("SELECT count(*) AS n FROM predictions").column("n")[0].as_py() == 300
