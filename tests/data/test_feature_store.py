"""Feature tables: point-in-time training frames, materialization and online lookups."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dockyard.data.feature_store import FeatureStore, FeatureTable, parse_ttl
from dockyard.data.online import (
    FeatureLookup,
    OnlineStore,
    OnlineTable,
    RedisOnlineStore,
    SqliteOnlineStore,
    encode_key,
    open_online_store,
)
from dockyard.errors import InvalidArgument, MissingExtra, NotFound

T0 = pd.Timestamp("2024-03-01 12:00:00")
SECOND = pd.Timedelta(seconds=1)


def ts(*offsets_s: float) -> np.ndarray:
    """Naive times (UTC) at offsets from T0, as an array (no index to align on)."""
    return np.array([T0 + pd.Timedelta(seconds=s) for s in offsets_s], dtype="datetime64[us]")


def drivers_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "driver_id": [1, 1, 1, 2, 2],
        "event_ts": ts(-100, -10, 1, -50, 5),
        "trips": [10, 11, 12, 20, 21],
        "rating": [4.0, 4.1, 4.2, 3.0, 3.1],
    })


@pytest.fixture
def drivers() -> FeatureTable:
    return FeatureTable("drivers", drivers_frame(), entity="driver_id", timestamp="event_ts")


@pytest.fixture
def store(drivers: FeatureTable, tmp_path: Path) -> FeatureStore:
    fs = FeatureStore([drivers], online=f"sqlite:///{tmp_path / 'online.db'}")
    yield fs
    fs.close()


# ----------------------------------------------------------------------------- as-of join
def test_a_value_stamped_one_second_after_the_label_is_never_used(store: FeatureStore) -> None:
    # driver 1 has values at -100 s, -10 s and +1 s; the label is at 0.
    labels = pd.DataFrame({"driver_id": [1], "event_timestamp": ts(0)})
    out = store.get_training_frame(labels, ["drivers:trips", "drivers:rating"])
    assert out["trips"].tolist() == [11]
    assert out["rating"].tolist() == [4.1]
    # One second later the +1 s value is known.
    later = pd.DataFrame({"driver_id": [1], "event_timestamp": ts(1)})
    assert store.get_training_frame(later, "drivers:trips")["trips"].tolist() == [12]


def test_equal_timestamps_count_as_known_unless_strict(store: FeatureStore) -> None:
    labels = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": ts(-10, 5)})
    assert store.get_training_frame(labels, "drivers:trips")["trips"].tolist() == [11, 21]
    strict = store.get_training_frame(labels, "drivers:trips", strict=True)
    assert strict["trips"].tolist() == [10, 20]


def test_no_value_before_the_label_is_null(store: FeatureStore) -> None:
    labels = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": ts(-101, -51)})
    out = store.get_training_frame(labels, "drivers:*")
    assert out["trips"].isna().all() and out["rating"].isna().all()


def test_rows_keep_order_index_and_count_with_duplicates(store: FeatureStore) -> None:
    labels = pd.DataFrame({
        "driver_id": [2, 1, 1, 99, 2, 1],
        "event_timestamp": ts(10, 0, 0, 0, -50, 100),
        "label": [1, 0, 0, 1, 1, 0],
    }, index=[7, 3, 3, 0, 7, 9])
    out = store.get_training_frame(labels, "drivers:*")
    assert len(out) == len(labels)
    assert out.index.tolist() == [7, 3, 3, 0, 7, 9]
    pd.testing.assert_frame_equal(out[labels.columns], labels)
    assert out["trips"].tolist()[:3] == [21, 11, 11]
    assert np.isnan(out["trips"].iloc[3])  # unknown entity
    assert out["trips"].tolist()[4:] == [20, 12]
    assert list(out.columns) == ["driver_id", "event_timestamp", "label", "trips", "rating"]


def test_ttl_drops_values_older_than_the_ttl_at_label_time() -> None:
    table = FeatureTable("drivers", drivers_frame(), entity="driver_id", timestamp="event_ts",
                         ttl=timedelta(seconds=30))
    fs = FeatureStore([table], online="sqlite://")
    labels = pd.DataFrame({"driver_id": [1, 1, 1, 2], "event_timestamp": ts(0, 20, 21, 0)})
    out = fs.get_training_frame(labels, "drivers:trips")
    # driver 1 at 0: the -10 s value is 10 s old; at 20: the +1 s value is 19 s old;
    # driver 2 at 0: the -50 s value is 50 s old, past the ttl.
    assert out["trips"].tolist()[:3] == [11, 12, 12]
    assert np.isnan(out["trips"].iloc[3])
    # A value exactly ttl old is still used; a microsecond older is not.
    edge = pd.DataFrame({"driver_id": [2, 2], "event_timestamp": ts(-20, -20)})
    edge.loc[1, "event_timestamp"] += pd.Timedelta(microseconds=1)
    out = fs.get_training_frame(edge, "drivers:trips")
    assert out["trips"].iloc[0] == 20
    assert np.isnan(out["trips"].iloc[1])


def test_several_tables_and_multi_column_entities() -> None:
    trips = FeatureTable("trips", pd.DataFrame({
        "city": ["paris", "paris", "lyon"], "driver_id": [1, 1, 1],
        "ts": ts(-20, -5, -30), "count": [3, 4, 9],
    }), entity=["city", "driver_id"], timestamp="ts")
    riders = FeatureTable("riders", pd.DataFrame({
        "rider_id": ["a", "a", "b"], "ts": ts(-3, 3, -1), "spend": [5.0, 6.0, 7.0],
    }), entity="rider_id", timestamp="ts")
    fs = FeatureStore([trips, riders], online="sqlite://")
    labels = pd.DataFrame({
        "city": ["paris", "lyon", "paris", "nice"], "driver_id": [1, 1, 1, 1],
        "rider_id": ["a", "b", "c", "a"], "event_timestamp": ts(0, 0, -10, 4),
    })
    out = fs.get_training_frame(labels, ["trips:count", "riders:spend"])
    assert out["count"].tolist()[:3] == [4, 9, 3]
    assert np.isnan(out["count"].iloc[3])
    assert out["spend"].tolist()[:2] == [5.0, 7.0]
    assert np.isnan(out["spend"].iloc[2])
    assert out["spend"].iloc[3] == 6.0
    full = fs.get_training_frame(labels, ["trips:*", "riders:*"], full_names=True)
    assert {"trips__count", "riders__spend"} <= set(full.columns)


def test_time_zones_are_normalised_naive_means_utc(store: FeatureStore) -> None:
    # 13:00 in Paris (winter) is 12:00 UTC, the label time of the leakage test.
    labels = pd.DataFrame({"driver_id": [1],
                           "event_timestamp": pd.Series([T0]).dt.tz_localize("UTC")
                           .dt.tz_convert("Europe/Paris")})
    out = store.get_training_frame(labels, "drivers:trips")
    assert out["trips"].tolist() == [11]
    assert out["event_timestamp"].dt.tz is not None  # the entity frame is returned untouched
    aware = drivers_frame()
    aware["event_ts"] = aware["event_ts"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    fs = FeatureStore([FeatureTable("drivers", aware, entity="driver_id", timestamp="event_ts")],
                      online="sqlite://")
    naive = pd.DataFrame({"driver_id": [1, 1], "event_timestamp": ts(0, 1)})
    assert fs.get_training_frame(naive, "drivers:trips")["trips"].tolist() == [11, 12]


def test_nanosecond_timestamps_leak_nothing() -> None:
    feats = pd.DataFrame({"k": [1, 1], "ts": pd.Series([T0, T0 + pd.Timedelta(1, "ns")],
                                                      dtype="datetime64[ns]"), "v": [1, 2]})
    fs = FeatureStore([FeatureTable("t", feats, entity="k", timestamp="ts")], online="sqlite://")
    labels = pd.DataFrame({"k": [1], "event_timestamp": pd.Series([T0], dtype="datetime64[ns]")})
    assert fs.get_training_frame(labels, "t:v")["v"].tolist() == [1]


def test_parquet_file_folder_glob_dataframe_and_arrow_sources_agree(tmp_path: Path) -> None:
    frame = drivers_frame()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "one.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.Table.from_pandas(frame.iloc[:3], preserve_index=False),
                   folder / "a.parquet")
    pq.write_table(pa.Table.from_pandas(frame.iloc[3:], preserve_index=False),
                   folder / "b.parquet")
    sources = [frame, pa.Table.from_pandas(frame, preserve_index=False),
               tmp_path / "one.parquet", str(folder), str(folder / "*.parquet")]
    labels = pd.DataFrame({"driver_id": [1, 2, 1, 3], "event_timestamp": ts(0, 0, 2, 0)})
    results = []
    for source in sources:
        table = FeatureTable("drivers", source, entity="driver_id", timestamp="event_ts")
        assert table.features == ("trips", "rating")
        out = FeatureStore([table], online="sqlite://").get_training_frame(labels, "drivers:*")
        results.append(out)
    assert results[0]["trips"].tolist()[:3] == [11, 20, 12]
    for out in results[1:]:
        pd.testing.assert_frame_equal(out, results[0])


def test_parquet_columns_named_like_duckdbs_row_id_columns(tmp_path: Path) -> None:
    frame = drivers_frame().assign(filename=["a", "b", "c", "d", "e"])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "f.parquet")
    labels = pd.DataFrame({"driver_id": [1, 2, 1], "event_timestamp": ts(0, 0, 2)})
    answers = []
    for source in (frame, tmp_path / "f.parquet"):
        table = FeatureTable("d", source, entity="driver_id", timestamp="event_ts", ttl=40)
        assert table.features == ("trips", "rating", "filename")
        fs = FeatureStore([table], online="sqlite://")
        answers.append(fs.get_training_frame(labels, "d:*"))
    names = answers[0]["filename"].tolist()
    assert names[0] == "b" and pd.isna(names[1]) and names[2] == "c"
    pd.testing.assert_frame_equal(answers[0], answers[1])


@pytest.mark.parametrize(("strict", "ttl"), [(False, None), (True, None), (False, 6 * 3600)])
def test_matches_pandas_merge_asof_on_random_data(strict: bool, ttl: int | None) -> None:
    rng = np.random.default_rng(7)
    n_entities, n_features, n_labels = 300, 6000, 4000
    start = np.datetime64("2024-01-01T00:00:00", "us")
    # Distinct feature times per entity (ties between feature rows have no defined winner).
    seconds = rng.choice(10 * 86400, size=n_features, replace=False)
    feats = pd.DataFrame({
        "key": rng.integers(0, n_entities, n_features),
        "ts": start + seconds.astype("timedelta64[s]"),
        "x": rng.normal(size=n_features),
        "y": rng.integers(0, 1000, n_features).astype("float64"),
    })
    label_seconds = rng.integers(0, 10 * 86400, n_labels)
    label_seconds[:500] = seconds[:500]  # some labels stamped exactly at a feature time
    labels = pd.DataFrame({
        "key": np.concatenate([feats["key"].to_numpy()[:500],
                               rng.integers(0, n_entities + 20, n_labels - 500)]),
        "event_timestamp": start + label_seconds.astype("timedelta64[s]"),
    })
    table = FeatureTable("f", feats, entity="key", timestamp="ts", ttl=ttl)
    ours = FeatureStore([table], online="sqlite://").get_training_frame(
        labels, "f:*", strict=strict)

    left = labels.reset_index().sort_values("event_timestamp", kind="stable")
    right = feats.rename(columns={"ts": "event_timestamp"}).sort_values("event_timestamp")
    theirs = pd.merge_asof(left, right, on="event_timestamp", by="key",
                           allow_exact_matches=not strict,
                           tolerance=None if ttl is None else pd.Timedelta(seconds=ttl))
    theirs = theirs.sort_values("index").set_index("index")
    for column in ("x", "y"):
        np.testing.assert_array_equal(ours[column].to_numpy(), theirs[column].to_numpy())
    assert ours["x"].notna().sum() > n_labels / 5  # the comparison is not vacuous


# ----------------------------------------------------------------------------- errors
def test_bad_feature_references_say_what_exists(store: FeatureStore) -> None:
    labels = pd.DataFrame({"driver_id": [1], "event_timestamp": ts(0)})
    with pytest.raises(InvalidArgument, match="unknown feature table 'nope'.*known: drivers"):
        store.get_training_frame(labels, "nope:trips")
    with pytest.raises(InvalidArgument, match="has no feature 'speed'.*trips, rating"):
        store.get_training_frame(labels, "drivers:speed")
    with pytest.raises(InvalidArgument, match="'table:feature'"):
        store.get_training_frame(labels, ["trips"])
    with pytest.raises(InvalidArgument, match="no features"):
        store.get_training_frame(labels, [])


def test_entity_frame_errors(store: FeatureStore) -> None:
    with pytest.raises(InvalidArgument, match=r"lacks column\(s\) \['event_timestamp'\]"):
        store.get_training_frame(pd.DataFrame({"driver_id": [1]}), "drivers:trips")
    with pytest.raises(InvalidArgument, match=r"lacks column\(s\) \['driver_id'\]"):
        store.get_training_frame(pd.DataFrame({"event_timestamp": ts(0)}), "drivers:trips")
    as_text = pd.DataFrame({"driver_id": [1], "event_timestamp": ["2024-03-01 12:00:00"]})
    with pytest.raises(InvalidArgument, match="not a timestamp; convert it with pd.to_datetime"):
        store.get_training_frame(as_text, "drivers:trips")
    wrong_key = pd.DataFrame({"driver_id": ["1"], "event_timestamp": ts(0)})
    with pytest.raises(InvalidArgument, match="'driver_id' is VARCHAR in the entity frame but "
                                              "BIGINT in feature table 'drivers'"):
        store.get_training_frame(wrong_key, "drivers:trips")
    clash = pd.DataFrame({"driver_id": [1], "event_timestamp": ts(0), "trips": [0]})
    with pytest.raises(InvalidArgument, match="full_names=True"):
        store.get_training_frame(clash, "drivers:trips")
    with pytest.raises(InvalidArgument, match="must be a pandas DataFrame"):
        store.get_training_frame([(1, T0)], "drivers:trips")  # type: ignore[arg-type]
    renamed = pd.DataFrame({"driver_id": [1], "label_time": ts(0)})
    out = store.get_training_frame(renamed, "drivers:trips", timestamp="label_time")
    assert out["trips"].tolist() == [11]


def test_feature_table_validation(tmp_path: Path) -> None:
    frame = drivers_frame()
    with pytest.raises(InvalidArgument, match="timestamp column 'when' is not in the source"):
        FeatureTable("d", frame, entity="driver_id", timestamp="when")
    with pytest.raises(InvalidArgument, match="entity column 'id' is not in the source"):
        FeatureTable("d", frame, entity="id", timestamp="event_ts")
    with pytest.raises(InvalidArgument, match="is BIGINT, not a timestamp; convert it"):
        FeatureTable("d", frame, entity="driver_id", timestamp="trips")
    as_text = frame.assign(event_ts=frame["event_ts"].astype(str))
    with pytest.raises(InvalidArgument, match="is VARCHAR, not a timestamp"):
        FeatureTable("d", as_text, entity="driver_id", timestamp="event_ts")
    with pytest.raises(InvalidArgument, match="feature 'speed' is not in the source"):
        FeatureTable("d", frame, entity="driver_id", timestamp="event_ts", features=["speed"])
    with pytest.raises(InvalidArgument, match="is the entity or timestamp column"):
        FeatureTable("d", frame, entity="driver_id", timestamp="event_ts",
                     features=["driver_id"])
    with pytest.raises(InvalidArgument, match="no Parquet file or folder"):
        FeatureTable("d", tmp_path / "missing.parquet", entity="driver_id", timestamp="event_ts")
    with pytest.raises(InvalidArgument, match="letters, digits and underscores"):
        FeatureTable("bad name", frame, entity="driver_id", timestamp="event_ts")
    with pytest.raises(InvalidArgument, match="source must be a Parquet path"):
        FeatureTable("d", [1, 2], entity="driver_id", timestamp="event_ts")  # type: ignore
    with pytest.raises(InvalidArgument, match="ttl must be positive"):
        FeatureTable("d", frame, entity="driver_id", timestamp="event_ts", ttl=0)
    with pytest.raises(InvalidArgument, match="not a duration"):
        parse_ttl("soon")
    assert parse_ttl("2h") == timedelta(hours=2) and parse_ttl(90) == timedelta(seconds=90)
    table = FeatureTable("d", frame, entity="driver_id", timestamp="event_ts")
    with pytest.raises(InvalidArgument, match="two feature tables are named 'd'"):
        FeatureStore([table, table])
    with pytest.raises(InvalidArgument, match="unknown online store"):
        open_online_store("postgres://x")


def test_same_feature_name_in_two_tables_needs_full_names() -> None:
    a = FeatureTable("a", drivers_frame(), entity="driver_id", timestamp="event_ts")
    b = FeatureTable("b", drivers_frame(), entity="driver_id", timestamp="event_ts")
    fs = FeatureStore([a, b], online="sqlite://")
    labels = pd.DataFrame({"driver_id": [1], "event_timestamp": ts(0)})
    with pytest.raises(InvalidArgument, match="comes from both 'a' and 'b'"):
        fs.get_training_frame(labels, ["a:trips", "b:trips"])
    out = fs.get_training_frame(labels, ["a:trips", "b:trips"], full_names=True)
    assert out[["a__trips", "b__trips"]].iloc[0].tolist() == [11, 11]


# ----------------------------------------------------------------------------- online stores
@pytest.fixture(params=["sqlite", "redis"])
def online_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online' / 'features.db'}"
    return request.getfixturevalue("redis_uri")


TABLE = OnlineTable("drivers", ("driver_id",), ("trips", "rating", "name"), ttl_s=None)


def key(*parts: object) -> bytes:
    encoded = encode_key(parts)
    assert encoded is not None
    return encoded


class TestOnlineStoreContract:
    """Every OnlineStore backend behaves the same."""

    @pytest.fixture
    def online(self, online_uri: str) -> OnlineStore:
        store = open_online_store(online_uri)
        yield store
        store.close()

    def test_read_many_answers_in_key_order_with_none_for_unknown(self,
                                                                 online: OnlineStore) -> None:
        written = online.write_batches(TABLE, [
            [(key(1), 100, {"trips": 1, "rating": 4.5, "name": "ann"})],
            [(key(2), 200, {"trips": 2, "rating": None, "name": "bob"}),
             (key(3), 300, {"trips": 3, "rating": float("nan"), "name": "cy"})],
        ])
        assert written == 3
        hits = online.read_many("drivers", [key(3), key(9), key(1), key(1)], ["name", "trips"])
        assert hits == [(300, ["cy", 3]), None, (100, ["ann", 1]), (100, ["ann", 1])]
        assert online.read_many("drivers", [key(2)], ["rating", "trips"]) == [(200, [None, 2])]
        assert online.read_many("drivers", [key(3)], ["rating"]) == [(300, [None])]
        assert online.read_many("drivers", [], ["trips"]) == []
        assert online.read_many("other", [key(1)], ["trips"]) == [None]

    def test_a_row_replaces_the_previous_one_whole(self, online: OnlineStore) -> None:
        online.write_batch(TABLE, [(key(1), 100, {"trips": 1, "rating": 4.5, "name": "ann"})])
        online.write_batch(TABLE, [(key(1), 150, {"trips": 7})])
        assert online.read_many("drivers", [key(1)], ["trips", "name", "unknown"]) == [
            (150, [7, None, None])]

    def test_tables_are_separate_and_remember_their_definition(self,
                                                               online: OnlineStore) -> None:
        other = OnlineTable("riders", ("city", "rider_id"), ("spend",), ttl_s=60.0)
        online.write_batch(TABLE, [(key(1), 1, {"trips": 1})])
        online.write_batch(other, [(key("paris", 1), 2, {"spend": 9.5})])
        assert online.table("drivers") == TABLE
        assert online.table("riders") == other
        assert online.read_many("riders", [key(1), key("paris", 1)], ["spend"]) == [
            None, (2, [9.5])]
        with pytest.raises(NotFound, match="never materialized"):
            online.table("missing")

    def test_many_keys_and_values_of_every_json_type(self, online: OnlineStore) -> None:
        rows = [(key(i), i, {"trips": i, "rating": i / 2, "name": f"n{i}"}) for i in range(2500)]
        online.write_batches(TABLE, [rows[:1000], rows[1000:]])
        keys = [key(i) for i in range(2499, -1, -7)]
        hits = online.read_many("drivers", keys, ["trips", "rating", "name"])
        assert hits == [(i, [i, i / 2, f"n{i}"]) for i in range(2499, -1, -7)]
        online.write_batch(TABLE, [(key("s"), 5, {"trips": True, "rating": [1, 2],
                                                   "name": {"a": 1}})])
        assert online.read_many("drivers", [key("s")], ["trips", "rating", "name"]) == [
            (5, [True, [1, 2], {"a": 1}])]

    def test_values_that_cannot_be_stored_are_refused(self, online: OnlineStore) -> None:
        with pytest.raises(InvalidArgument, match="drivers"):
            online.write_batch(TABLE, [(key(1), 1, {"trips": b"\x00bytes"})])


def test_sqlite_writes_a_table_in_one_transaction(tmp_path: Path) -> None:
    online = SqliteOnlineStore(tmp_path / "online.db")
    good = [(key(1), 1, {"trips": 1})]
    with pytest.raises(InvalidArgument):
        online.write_batches(TABLE, [good, [(key(2), 2, {"trips": object()})]])
    assert online.read_many("drivers", [key(1)], ["trips"]) == [None]
    with pytest.raises(NotFound):
        online.table("drivers")
    online.close()


def test_redis_without_its_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingExtra, match=r"dockyard\[redis\]") as info:
        RedisOnlineStore("redis://127.0.0.1:1/0")
    assert info.value.details["extra"] == "redis"


def test_encode_key_treats_integral_floats_as_integers_and_nulls_as_missing() -> None:
    assert encode_key((np.int64(3),)) == encode_key((3.0,)) == b"[3]"
    assert encode_key(("a", 1)) == b'["a",1]'
    assert encode_key((float("nan"),)) is None and encode_key((None, 1)) is None


# ----------------------------------------------------------------------------- materialize
def test_materialize_and_get_online_features(online_uri: str) -> None:
    drivers = FeatureTable("drivers", drivers_frame(), entity="driver_id", timestamp="event_ts")
    seen: list[tuple[str, int, int]] = []
    with FeatureStore([drivers], online=online_uri) as fs:
        written = fs.materialize(until=T0.to_pydatetime(), batch_size=1,
                                 progress=lambda *a: seen.append(a))
        assert written == {"drivers": 2}
        assert seen == [("drivers", 1, 2), ("drivers", 2, 2)]
        out = fs.get_online_features([2, 5, 1], ["drivers:trips", "drivers:rating"])
        assert out["driver_id"].tolist() == [2, 5, 1]
        assert out["trips"].tolist()[0] == 20 and out["trips"].tolist()[2] == 11
        assert np.isnan(out["trips"].iloc[1])
        # The values as of a later time replace them; the +1 s and +5 s rows are now known.
        fs.materialize(until=(T0 + 10 * SECOND).tz_localize("UTC").tz_convert("Asia/Tokyo")
                       .to_pydatetime())
        answer = fs.get_online_features({"driver_id": [1, 2]}, "drivers:*", as_frame=False)
        assert answer == {"driver_id": [1, 2], "trips": [12, 21], "rating": [4.2, 3.1]}
        frame = fs.get_online_features(pd.DataFrame({"driver_id": [2, 2]}), "drivers:trips")
        assert frame["trips"].tolist() == [21, 21]


def test_materialize_multi_column_entities_and_ttl_at_lookup(online_uri: str) -> None:
    now = pd.Timestamp.now("UTC").tz_localize(None).floor("s")
    trips = FeatureTable("trips", pd.DataFrame({
        "city": ["paris", "paris", "lyon", None],
        "driver_id": [1, 1, 1, 1],
        "ts": pd.Series([now - pd.Timedelta(minutes=5), now - pd.Timedelta(minutes=1),
                         now - pd.Timedelta(hours=3), now], dtype="datetime64[us]"),
        "count": [3, 4, 9, 1],
    }), entity=["city", "driver_id"], timestamp="ts", ttl="1h")
    with FeatureStore([trips], online=online_uri) as fs:
        assert fs.materialize("trips") == {"trips": 2}  # the null key is skipped
        out = fs.get_online_features([("paris", 1), ("lyon", 1), ("nice", 1)], "trips:count",
                                     as_frame=False)
        # lyon's value is 3 hours old: past the 1 h ttl.
        assert out == {"city": ["paris", "lyon", "nice"], "driver_id": [1, 1, 1],
                       "count": [4, None, None]}
        with pytest.raises(InvalidArgument, match="tuples of"):
            fs.get_online_features([1], "trips:count")


def test_materialize_reads_parquet_in_place(tmp_path: Path) -> None:
    path = tmp_path / "drivers.parquet"
    pq.write_table(pa.Table.from_pandas(drivers_frame(), preserve_index=False), path)
    table = FeatureTable("drivers", path, entity="driver_id", timestamp="event_ts")
    with FeatureStore([table], online=f"sqlite:///{tmp_path / 'o.db'}") as fs:
        assert fs.materialize() == {"drivers": 2}
        assert fs.get_online_features([1, 2], "drivers:trips")["trips"].tolist() == [12, 21]
        with pytest.raises(InvalidArgument, match="unknown feature table 'x'"):
            fs.materialize(["x"])


def test_default_online_store_lives_in_dockyard_home(_isolated_home: Path) -> None:
    table = FeatureTable("drivers", drivers_frame(), entity="driver_id", timestamp="event_ts")
    with FeatureStore([table]) as fs:
        fs.materialize()
    assert (_isolated_home / "online-features.db").is_file()


# ----------------------------------------------------------------------------- FeatureLookup
def _materialized(online_uri: str) -> None:
    table = FeatureTable("drivers", drivers_frame(), entity="driver_id", timestamp="event_ts")
    with FeatureStore([table], online=online_uri) as fs:
        fs.materialize()


def test_feature_lookup_enriches_a_request_frame(online_uri: str) -> None:
    _materialized(online_uri)
    lookup = FeatureLookup(online_uri, ["drivers:*"])
    request = pd.DataFrame({"driver_id": [2, 7, 1], "amount": [9.5, 1.0, 3.0]}, index=[4, 5, 6])
    out = lookup(request)
    assert list(out.columns) == ["driver_id", "amount", "trips", "rating"]
    assert out.index.tolist() == [4, 5, 6]
    assert out.loc[4, "trips"] == 21 and out.loc[6, "rating"] == 4.2
    assert np.isnan(out.loc[5, "trips"])
    renamed = FeatureLookup(online_uri, "drivers:trips", entity="who", full_names=True)
    assert renamed(pd.DataFrame({"who": [1]}))["drivers__trips"].tolist() == [12]
    with pytest.raises(InvalidArgument, match=r"\['driver_id'\].*missing from the request"):
        lookup(pd.DataFrame({"amount": [1.0]}))
    lookup.close()
    renamed.close()


def test_feature_lookup_is_thread_safe(online_uri: str) -> None:
    _materialized(online_uri)
    lookup = FeatureLookup(online_uri, ["drivers:trips"])
    results: list[list[int]] = []

    def work() -> None:
        for _ in range(50):
            results.append(lookup(pd.DataFrame({"driver_id": [1, 2]}))["trips"].tolist())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[12, 21]] * 200
    lookup.close()


def test_feature_lookup_survives_cloudpickle_into_another_process(online_uri: str,
                                                                  tmp_path: Path) -> None:
    _materialized(online_uri)
    lookup = FeatureLookup(online_uri, ["drivers:trips", "drivers:rating"])
    lookup(pd.DataFrame({"driver_id": [1]}))  # opened here; the pickle carries no connection
    path = tmp_path / "step.pkl"
    path.write_bytes(cloudpickle.dumps(lookup))
    again = pickle.loads(path.read_bytes())
    assert again(pd.DataFrame({"driver_id": [2]}))["trips"].tolist() == [21]
    script = (
        "import pickle, sys, pandas as pd\n"
        "step = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "out = step(pd.DataFrame({'driver_id': [1, 2, 3]}))\n"
        "print(out['trips'].tolist(), out['rating'].tolist())\n"
        "step.close()\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[12.0, 21.0, nan] [4.2, 3.1, nan]"
    lookup.close()
    again.close()


def test_feature_lookup_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unknown online store"):
        FeatureLookup("mysql://x", "drivers:trips")
    with pytest.raises(InvalidArgument, match="URI"):
        FeatureLookup(SqliteOnlineStore(":memory:"), "drivers:trips")  # type: ignore
    lookup = FeatureLookup(f"sqlite:///{tmp_path / 'empty.db'}", "drivers:trips")
    with pytest.raises(NotFound, match="never materialized"):
        lookup(pd.DataFrame({"driver_id": [1]}))


# ----------------------------------------------------------------------------- YAML
def test_from_yaml(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pandas(drivers_frame(), preserve_index=False),
                   tmp_path / "data" / "drivers.parquet")
    (tmp_path / "features.yaml").write_text(
        "online: sqlite:///online.db\n"
        "tables:\n"
        "  - name: drivers\n"
        "    source: data/drivers.parquet\n"
        "    entity: driver_id\n"
        "    timestamp: event_ts\n"
        "    features: [trips]\n"
        "    ttl: 2h\n"
    )
    with FeatureStore.from_yaml(tmp_path / "features.yaml") as fs:
        table = fs.tables["drivers"]
        assert table.features == ("trips",) and table.ttl == timedelta(hours=2)
        labels = pd.DataFrame({"driver_id": [1], "event_timestamp": ts(0)})
        assert fs.get_training_frame(labels, "drivers:*")["trips"].tolist() == [11]
        fs.materialize(until=datetime(2030, 1, 1, tzinfo=UTC))
    assert (tmp_path / "online.db").is_file()
    (tmp_path / "bad.yaml").write_text("tables:\n  - name: x\n")
    with pytest.raises(InvalidArgument, match="needs name, source, entity and timestamp"):
        FeatureStore.from_yaml(tmp_path / "bad.yaml")
