"""Dataset versions: digests, schema, profile, storage and references, inputs and lineage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dockyard
from dockyard import Client
from dockyard.data.datasets import dataset_path, load_profile
from dockyard.data.diff import diff_datasets
from dockyard.errors import IntegrityError, InvalidArgument, NotFound
from dockyard.monitor.profile import Profile
from tests.services.server import ServerProcess


def frame(n: int = 500, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": rng.normal(50_000 + shift, 10_000, n),
        "plan": rng.choice(["basic", "pro", "team"], n),
        "churned": rng.integers(0, 2, n).astype(bool),
        "signup": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
    })


def test_a_frame_is_versioned_by_its_values() -> None:
    df = frame()
    first = dockyard.log_dataset(df, "churn", description="january", tags={"team": "growth"})
    assert (first.name, first.version, first.rows, first.storage) == ("churn", 1, 500, "stored")
    types = {c.name: c.type for c in first.columns}
    assert list(types) == ["age", "income", "plan", "churned", "signup"]
    assert (types["age"], types["income"], types["churned"]) == ("int64", "double", "bool")
    assert types["plan"] in ("string", "large_string")
    assert types["signup"].startswith("timestamp[") and types["signup"].endswith("tz=UTC]")
    assert first.tags == {"team": "growth"} and first.source == "pandas.DataFrame"
    # The same values, built another way (a copy, an Arrow table): the same version
    assert dockyard.log_dataset(df.copy(), "churn") == first
    assert dockyard.log_dataset(pa.Table.from_pandas(df, preserve_index=False), "churn") == first
    changed = df.copy()
    changed.loc[3, "income"] += 1
    assert dockyard.log_dataset(changed, "churn").version == 2
    back = dockyard.load_dataset("churn@1")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_an_index_that_holds_data_is_kept_as_a_column() -> None:
    df = frame(50).set_index("plan")
    version = dockyard.log_dataset(df, "indexed")
    assert version.columns[0].name == "plan"
    assert dockyard.load_dataset(version)["plan"].tolist() == df.index.tolist()


def test_the_profile_is_the_monitoring_profile() -> None:
    df = frame(2000)
    version = dockyard.log_dataset(df, "churn", categorical=["age"])
    profile = load_profile(version)
    assert isinstance(profile, Profile) and profile.rows == 2000
    assert profile["age"].kind == "categorical" and profile["income"].kind == "numeric"
    assert profile["income"].mean == pytest.approx(df["income"].mean())
    assert profile["plan"].category_counts() == df["plan"].value_counts().to_dict()
    assert "signup" not in profile.columns  # timestamps are in the schema, not the profile


def test_files_are_hashed_byte_for_byte_and_stored_as_parquet(tmp_path: Path) -> None:
    df = frame()
    df.to_parquet(tmp_path / "churn.parquet")
    df.drop(columns="signup").to_csv(tmp_path / "churn.csv", index=False)
    from_parquet = dockyard.log_dataset(tmp_path / "churn.parquet", "files")
    assert from_parquet.source_type == "file" and from_parquet.location.endswith("churn.parquet")
    assert from_parquet.size_bytes == (tmp_path / "churn.parquet").stat().st_size
    from_csv = dockyard.log_dataset(str(tmp_path / "churn.csv"), "files")
    assert from_csv.version == 2 and from_csv.format == "parquet"
    assert from_csv.location.endswith("data.parquet")  # a CSV is stored as Parquet
    assert dockyard.log_dataset(tmp_path / "churn.parquet", "files") == from_parquet
    pd.testing.assert_frame_equal(dockyard.load_dataset(from_parquet), df, check_dtype=False)
    assert dockyard.load_dataset(from_csv)["income"].tolist() == pytest.approx(
        df["income"].tolist())


def test_a_hive_partitioned_folder(tmp_path: Path) -> None:
    df = frame(300)
    pq.write_to_dataset(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "by_plan",
                        partition_cols=["plan"])
    version = dockyard.log_dataset(tmp_path / "by_plan", "partitioned")
    assert version.rows == 300 and "plan" in [c.name for c in version.columns]
    back = dockyard.load_dataset(version)
    assert sorted(back["plan"].astype(str).unique()) == ["basic", "pro", "team"]
    assert len(back) == 300 and dataset_path(version).is_dir()


def test_a_reference_stays_where_it_is_and_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "live.parquet"
    frame().to_parquet(path)
    version = dockyard.log_dataset(path, "live", store=False)
    assert version.storage == "reference" and version.location == str(path.resolve())
    assert not Client().dataset_files("live").exists(f"{version.digest}/live.parquet")
    assert dataset_path(version, verify=True) == path.resolve()
    frame(seed=9).to_parquet(path)  # the data changes under the reference
    with pytest.raises(IntegrityError, match="has changed since it was logged"):
        dockyard.load_dataset(version, verify=True)
    path.unlink()
    with pytest.raises(NotFound, match="no longer exists"):
        dockyard.load_dataset(version)


def test_an_s3_object_is_referenced(s3_bucket: str, s3_endpoint: str,
                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import boto3

    monkeypatch.setenv("DOCKYARD_S3_ENDPOINT_URL", s3_endpoint)
    df = frame()
    df.to_parquet(tmp_path / "x.parquet")
    boto3.client("s3", endpoint_url=s3_endpoint).upload_file(
        str(tmp_path / "x.parquet"), s3_bucket, "raw/x.parquet")
    uri = f"s3://{s3_bucket}/raw/x.parquet"
    version = dockyard.log_dataset(uri, "s3data")
    assert (version.storage, version.source_type, version.location) == ("reference", "s3", uri)
    local = dockyard.log_dataset(tmp_path / "x.parquet", "s3data")
    assert local.digest == version.digest and local.version == version.version  # same bytes
    pd.testing.assert_frame_equal(dockyard.load_dataset(version, verify=True), df,
                                  check_dtype=False)
    # The object changes in S3: the cached copy is fine, but verify checks the object itself.
    frame(seed=5).to_parquet(tmp_path / "y.parquet")
    boto3.client("s3", endpoint_url=s3_endpoint).upload_file(
        str(tmp_path / "y.parquet"), s3_bucket, "raw/x.parquet")
    assert len(dockyard.load_dataset(version)) == len(df)  # from the cache, checked on arrival
    with pytest.raises(IntegrityError, match="has changed since it was logged"):
        dockyard.load_dataset(version, verify=True)
    with pytest.raises(InvalidArgument, match="one object"):
        dockyard.log_dataset(f"s3://{s3_bucket}/raw/", "s3data")


def test_a_sql_query_is_versioned_by_its_result(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, plan TEXT, spend REAL)")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                         [(i, "pro" if i % 3 else "basic", i * 1.5) for i in range(200)])
    uri = f"sqlite:///{db}"
    query = "SELECT id, plan, spend FROM customers WHERE spend > 10 ORDER BY id"
    version = dockyard.log_dataset(query=query, database=uri, name="crm")
    assert (version.storage, version.format, version.rows) == ("reference", "sql", 193)
    assert version.location == query and version.database == uri
    assert dockyard.log_dataset(query=query, database=uri, name="crm") == version
    assert len(dockyard.load_dataset(version, verify=True)) == 193
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO customers VALUES (999, 'pro', 99.0)")
    with pytest.raises(IntegrityError):
        dockyard.load_dataset(version, verify=True)
    assert dockyard.log_dataset(query=query, database=uri, name="crm").version == 2
    snapshot = dockyard.log_dataset(query=query, database=uri, name="crm-snap", store=True)
    assert snapshot.storage == "stored" and len(dockyard.load_dataset(snapshot)) == 194
    with pytest.raises(InvalidArgument, match="query failed"):
        dockyard.log_dataset(query="SELECT nope FROM customers", database=uri, name="crm")


def test_a_password_never_reaches_the_record(postgres_uri: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_uri)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1), (2)"))
    engine.dispose()
    with_password = sa.make_url(postgres_uri).set(password="s3cret").render_as_string(
        hide_password=False)
    version = dockyard.log_dataset(query="SELECT x FROM t", database=with_password, name="pg")
    assert "s3cret" not in version.database and version.rows == 2
    assert "s3cret" not in repr(version)


def test_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidArgument, match="name"):
        dockyard.log_dataset(frame(), None)
    with pytest.raises(InvalidArgument, match="must not contain"):
        dockyard.log_dataset(frame(), "a/b")
    with pytest.raises(NotFound, match="does not exist"):
        dockyard.log_dataset(tmp_path / "missing.parquet", "x")
    with pytest.raises(InvalidArgument, match=".parquet or .csv"):
        dockyard.log_dataset(tmp_path / "notes.txt", "x")
    with pytest.raises(InvalidArgument, match="cannot be referenced"):
        dockyard.log_dataset(frame(), "x", store=False)
    with pytest.raises(InvalidArgument, match="categorical"):
        dockyard.log_dataset(frame(), "x", categorical=["nope"])
    with pytest.raises(InvalidArgument, match="cannot log a list"):
        dockyard.log_dataset([1, 2], "x")
    with pytest.raises(InvalidArgument, match="same name"):
        dockyard.log_dataset(pd.DataFrame([[1, 2]], columns=["a", "a"]), "x")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidArgument, match="cannot be read"):
        dockyard.log_dataset(tmp_path / "broken.parquet", "x")
    with pytest.raises(NotFound):
        Client().get_dataset_version("x@1")


def test_runs_record_their_inputs_and_lineage_follows(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    df = frame()
    train = dockyard.log_dataset(df.iloc[:400], "churn")
    test = dockyard.log_dataset(df.iloc[400:], "churn")
    with dockyard.start_run() as run:
        dockyard.log_input(train, "training")
        dockyard.log_input("churn@2", "test")
        model = LogisticRegression().fit(df[["age", "income"]].iloc[:400],
                                         df["churned"].iloc[:400])
        info = dockyard.log_model(model, input_example=df[["age", "income"]].head(3))
        dockyard.register_model(info.uri, "churn-model")
    client = Client()
    assert [(i.version, i.context) for i in client.store.list_run_inputs(run.info.id)] == [
        (1, "training"), (2, "test")]
    graph = client.get_lineage("models:/churn-model/1")
    edges = {(e.source, e.relation, e.target) for e in graph.edges}
    assert (train.uri, "used_for_training", f"runs:/{run.info.id}") in edges
    assert (test.uri, "used_for_test", f"runs:/{run.info.id}") in edges
    assert ("dataset:churn", "has_version", train.uri) in edges
    down = client.get_lineage(train.uri)  # from the data forward to the model
    assert down.root == train.uri
    assert {n.type for n in down.nodes} >= {"dataset_version", "run", "model_version"}
    with pytest.raises(InvalidArgument, match="context"):
        with dockyard.start_run():
            dockyard.log_input(train, "tuning")


def test_diff_reports_schema_rows_and_drift() -> None:
    base = frame(3000)
    dockyard.log_dataset(base, "drifting")
    moved = frame(3600, seed=1, shift=15_000).drop(columns="churned")
    moved["age"] = moved["age"].astype("float64")
    moved["region"] = "eu"
    dockyard.log_dataset(moved, "drifting")
    diff = diff_datasets("drifting@1", "drifting@2")
    assert diff.rows == (3000, 3600)
    assert [c.name for c in diff.added] == ["region"]
    assert [c.name for c in diff.removed] == ["churned"]
    assert [(a.type, b.type) for a, b in diff.changed] == [("int64", "double")]
    drift = diff.drift.set_index("column")
    assert drift.loc["income", "drifted"] and not drift.loc["plan", "drifted"]
    assert drift.loc["income", "mean_b"] - drift.loc["income", "mean_a"] == pytest.approx(
        15_000, rel=0.05)
    assert "income" in diff.drifted and diff.to_dict()["rows_b"] == 3600
    same = diff_datasets("drifting@1", "drifting@1")
    assert same.same_schema and same.drifted == []


def test_datasets_through_a_server(dockyard_server: ServerProcess, tmp_path: Path) -> None:
    client = Client(dockyard_server.url)
    df = frame(800)
    df.to_parquet(tmp_path / "d.parquet")
    name = f"remote-{tmp_path.name[-8:]}".replace("_", "-")
    version = client.log_dataset(tmp_path / "d.parquet", name)
    assert version.storage == "stored" and client.log_dataset(df, name).version == 2
    pd.testing.assert_frame_equal(client.load_dataset(version), df, check_dtype=False)
    assert load_profile(version, client).rows == 800
    files = client.dataset_files(name)
    with pytest.raises(Exception, match="belong to a recorded version"):
        files.put_file(tmp_path / "d.parquet", f"{version.digest}/d.parquet")
    with pytest.raises(InvalidArgument, match="named after their digest"):
        files.put_file(tmp_path / "d.parquet", "elsewhere/d.parquet")
