"""``dockyard features`` over a YAML file, and feature tables read from dataset versions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import dockyard
from dockyard.data.feature_store import FeatureStore, FeatureTable
from tests.cli.test_cli import cli


def _stats() -> pd.DataFrame:
    return pd.DataFrame({
        "driver_id": [1, 1, 2, 2],
        "event_timestamp": pd.to_datetime(["2026-01-01 00:00", "2026-01-02 00:00",
                                           "2026-01-01 00:00", "2026-01-03 00:00"]),
        "trips": [10, 12, 5, 7],
        "rating": [4.5, 4.6, 3.9, 4.1],
    })


def test_a_dataset_version_is_a_feature_source() -> None:
    version = dockyard.log_dataset(_stats(), "driver-stats")
    table = FeatureTable("driver_stats", version.uri, entity="driver_id",
                         timestamp="event_timestamp")
    entities = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": pd.to_datetime(
        ["2026-01-01 12:00:00", "2026-01-02 23:59:59"])})
    with FeatureStore([table]) as store:
        frame = store.get_training_frame(entities, ["driver_stats:trips"])
    assert frame["trips"].tolist() == [10, 5]  # the later values were not yet known


def test_materialize_list_and_lookup(tmp_path: Path) -> None:
    _stats().to_parquet(tmp_path / "stats.parquet")
    (tmp_path / "features.yaml").write_text(
        "online: sqlite:///online.db\n"
        "tables:\n"
        "  - {name: driver_stats, source: stats.parquet, entity: driver_id,\n"
        "     timestamp: event_timestamp}\n")
    config = str(tmp_path / "features.yaml")
    listed = json.loads(cli("features", "list", config, "--json").stdout)
    assert listed[0]["features"] == ["trips", "rating"] and listed[0]["entity"] == ["driver_id"]
    out = cli("features", "materialize", config, "--until", "2026-01-02T12:00").stdout
    assert "driver_stats: 2 entities" in out
    found = json.loads(cli("features", "lookup", config, "1", "2", "3", "-f", "driver_stats:*",
                           "--json").stdout)
    assert found["trips"] == [12, 5, None] and found["rating"] == [4.6, 3.9, None]
    assert (tmp_path / "online.db").exists()
    bad = cli("features", "lookup", config, "1", "-f", "nope:x", ok=False)
    assert bad.returncode == 1 and "nope" in bad.stderr and "Traceback" not in bad.stderr
    when = cli("features", "materialize", config, "--until", "yesterday", ok=False)
    assert when.returncode == 2 and "not a time" in when.stderr
