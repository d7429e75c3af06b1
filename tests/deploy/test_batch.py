"""Batch scoring of files: predictions equal the loaded model's, runs resume, mistakes are clear.

Models are real scikit-learn models logged and registered in the test's own DOCKYARD_HOME; the
command runs in-process through Typer's CliRunner.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from typer.testing import CliRunner, Result

import dockyard
from dockyard.cli.main import app
from dockyard.deploy.batch import BatchResult, score_file
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    SchemaError,
)

ROWS = 1_500
FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """Iris, ten times over with noise, after an id and a text column the model does not use."""
    X, _ = load_iris(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    rows = X.sample(ROWS, replace=True, random_state=0).reset_index(drop=True)
    rows = rows + rng.normal(scale=0.3, size=rows.shape)
    rows.insert(0, "id", np.arange(ROWS))
    rows.insert(1, "region", rng.choice(["north", "south", "east"], size=ROWS))
    return rows


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return LogisticRegression(max_iter=1_000).fit(X, y)


def register(model: object, name: str, example: pd.DataFrame) -> str:
    with dockyard.start_run():
        info = dockyard.log_model(model, "model", input_example=example)
    version = dockyard.register_model(info.uri, name)
    return f"models:/{name}/{version.version}"


@pytest.fixture
def model_uri(classifier: LogisticRegression, data: pd.DataFrame) -> str:
    assert register(classifier, "iris", data[FEATURES][:5]) == "models:/iris/1"
    dockyard.set_alias("iris", "champion", 1)
    return "models:/iris@champion"


def expected(uri: str, rows: pd.DataFrame) -> np.ndarray:
    return dockyard.load_model(uri).predict(rows, extra_columns="ignore")


def write(data: pd.DataFrame, folder: Path, kind: str) -> Path:
    """The data as one Parquet file in row groups of 250, as three files, or as CSV."""
    if kind == "parquet":
        path = folder / "in.parquet"
        data.to_parquet(path, row_group_size=250)
    elif kind == "folder":  # partitioned by day, as Spark writes it
        path = folder / "in"
        for day in (1, 2):
            (path / f"day={day}").mkdir(parents=True)
        data[:600].to_parquet(path / "day=1" / "part-0.parquet", row_group_size=200)
        data[600:1000].to_parquet(path / "day=1" / "part-1.parquet")
        data[1000:].to_parquet(path / "day=2" / "part-2.parquet")
        (path / "_SUCCESS").write_text("")  # what Spark leaves beside its files
    else:
        path = folder / "in.csv"
        data.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["parquet", "folder", "csv"])
def test_scores_equal_the_loaded_models_predictions(kind: str, model_uri: str, data: pd.DataFrame,
                                                    tmp_path: Path) -> None:
    source = write(data, tmp_path, kind)
    seen: list[tuple[int, int | None]] = []
    result = score_file(model_uri, source, tmp_path / "out.parquet", chunk_rows=400,
                        progress=lambda done, total: seen.append((done, total)))

    total = None if kind == "csv" else ROWS
    assert result == BatchResult(output=tmp_path / "out.parquet", rows=ROWS, chunks=4,
                                 chunks_resumed=0, seconds=result.seconds,
                                 prediction_columns=("prediction",))
    assert seen == [(0, total), (400, total), (800, total), (1200, total), (ROWS, total)]
    out = pd.read_parquet(result.output)
    days = ["day"] if kind == "folder" else []  # the partition column, as pandas reads it
    assert list(out.columns) == [*data.columns, *days, "prediction"]
    pd.testing.assert_frame_equal(out[data.columns], data, check_dtype=False)
    if days:
        np.testing.assert_array_equal(out["day"], np.repeat([1, 2], [1000, 500]))
    np.testing.assert_array_equal(out["prediction"], expected(model_uri, data))
    assert not (tmp_path / "out.parquet.parts").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_kept_columns_prediction_column_and_multi_output(data: pd.DataFrame,
                                                         tmp_path: Path) -> None:
    source = write(data, tmp_path, "parquet")
    targets = np.column_stack([data[FEATURES[0]] * 2, data[FEATURES[1]] - 1])
    package = tmp_path / "package"  # a local package folder, no store involved
    dockyard.models.save(LinearRegression().fit(data[FEATURES[1:]], targets), package,
                         input_example=data[FEATURES[1:]][:5])

    result = score_file(package, source, tmp_path / "out.parquet", columns=["id"],
                        prediction_column="y", chunk_rows=700, trust=True)
    out = pd.read_parquet(result.output)
    assert result.prediction_columns == ("y_0", "y_1") and result.chunks == 3
    assert list(out.columns) == ["id", "y_0", "y_1"]
    np.testing.assert_array_equal(out["id"], data["id"])
    np.testing.assert_array_equal(out[["y_0", "y_1"]].to_numpy(),
                                  dockyard.models.load(package).predict(data[FEATURES[1:]]))

    only = score_file(package, source, tmp_path / "only.parquet", columns=[])
    assert pq.read_schema(only.output).names == ["prediction_0", "prediction_1"]


@pytest.mark.parametrize("kind", ["parquet", "folder", "csv"])
def test_an_interrupted_run_resumes_where_it_stopped(kind: str, model_uri: str,
                                                     data: pd.DataFrame, tmp_path: Path) -> None:
    source = write(data, tmp_path, kind)  # chunks of 350 rows cross row groups and files
    output, parts = tmp_path / "out.parquet", tmp_path / "out.parquet.parts"

    def stop_after_two_chunks(done: int, total: int | None) -> None:
        if done >= 2 * 350:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(model_uri, source, output, chunk_rows=350, progress=stop_after_two_chunks)
    assert not output.exists()
    assert sorted(p.name for p in parts.iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "state.json"]
    first = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(parts.glob("part-*"))]

    seen = []

    def record(done: int, total: int | None) -> None:
        if not seen:  # before scoring anything: the two parts are there, untouched
            assert [(p.stat().st_ino, p.stat().st_mtime_ns)
                    for p in sorted(parts.glob("part-*"))] == first
        seen.append(done)

    result = score_file(model_uri, source, output, chunk_rows=350, progress=record)
    assert (result.rows, result.chunks, result.chunks_resumed) == (ROWS, 5, 2)
    assert seen == [700, 1050, 1400, ROWS]  # only the three remaining chunks were scored
    assert not parts.exists()

    straight = score_file(model_uri, source, tmp_path / "straight.parquet", chunk_rows=350)
    assert pq.read_table(output).equals(pq.read_table(straight.output))
    np.testing.assert_array_equal(pd.read_parquet(output)["prediction"],
                                  expected(model_uri, data))


def test_a_run_does_not_resume_from_parts_of_another_input_model_or_chunk_size(
        model_uri: str, classifier: LogisticRegression, data: pd.DataFrame,
        tmp_path: Path) -> None:
    source = write(data, tmp_path, "csv")
    output = tmp_path / "out.parquet"

    def stop(done: int, total: int | None) -> None:
        if done:
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        score_file(model_uri, source, output, chunk_rows=500, progress=stop)
    other = register(LogisticRegression(max_iter=50).fit(data[FEATURES], data["id"] % 2),
                     "other", data[FEATURES][:5])
    with pytest.raises(Conflict, match="the model changed"):
        score_file(other, source, output, chunk_rows=500)
    with pytest.raises(Conflict, match=r"chunk_rows changed \(from 500 to 400\)"):
        score_file(model_uri, source, output, chunk_rows=400)
    with pytest.raises(Conflict, match="the output columns changed"):
        score_file(model_uri, source, output, chunk_rows=500, columns=["id"])

    data.assign(id=data["id"] + 1).to_csv(source, index=False)  # the same size, new content
    os.utime(source, ns=(1, 1))
    with pytest.raises(Conflict, match="the input changed") as caught:
        score_file(model_uri, source, output, chunk_rows=500)
    assert "out.parquet.parts" in caught.value.message and "--no-resume" in caught.value.message

    result = score_file(model_uri, source, output, chunk_rows=500, resume=False)
    assert (result.chunks, result.chunks_resumed) == (3, 0)
    np.testing.assert_array_equal(pd.read_parquet(output)["id"], data["id"] + 1)


def test_mistakes_are_clear_errors(model_uri: str, data: pd.DataFrame, tmp_path: Path) -> None:
    source = write(data, tmp_path, "parquet")
    output = tmp_path / "out.parquet"
    with pytest.raises(NotFound, match="does not exist"):
        score_file(model_uri, tmp_path / "missing.parquet", output)
    (tmp_path / "in.json").write_text("{}")
    with pytest.raises(InvalidArgument, match=r"must be a Parquet file \(.parquet, .pq\)"):
        score_file(model_uri, tmp_path / "in.json", output)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="holds no Parquet files"):
        score_file(model_uri, tmp_path / "empty", output)
    data[:0].to_parquet(tmp_path / "none.parquet")
    with pytest.raises(InvalidArgument, match="has no rows"):
        score_file(model_uri, tmp_path / "none.parquet", output)
    with pytest.raises(InvalidArgument, match="must be named \\*.parquet"):
        score_file(model_uri, source, tmp_path / "out.csv")
    with pytest.raises(InvalidArgument, match="chunk_rows must be"):
        score_file(model_uri, source, output, chunk_rows=0)
    with pytest.raises(InvalidArgument, match="'customer' \\(to keep in the output\\) is not"):
        score_file(model_uri, source, output, columns=["id", "customer"])
    with pytest.raises(InvalidArgument, match="'id' is also an input column"):
        score_file(model_uri, source, output, prediction_column="id")

    # A column the signature needs is missing: the model's own error, naming the chunk's rows.
    data.drop(columns=FEATURES[2]).to_parquet(tmp_path / "partial.parquet")
    with pytest.raises(SchemaError, match=r"^rows 0 to 499 of .*partial.parquet: column "
                                          r"'petal length \(cm\)' is missing") as caught:
        score_file(model_uri, tmp_path / "partial.parquet", output, chunk_rows=500)
    assert caught.value.details["column"] == FEATURES[2]
    assert not (tmp_path / "out.parquet.parts").exists()  # no chunk was scored: nothing kept
    # A model failing in its own code is a DockyardError too, with the rows it failed on.
    data.assign(**{FEATURES[0]: np.inf}).to_parquet(tmp_path / "inf.parquet")
    with pytest.raises(DockyardError, match=r"^the model failed on rows 0 to 499 of "
                                            r".*inf.parquet: ValueError: .*infinity") as failed:
        score_file(model_uri, tmp_path / "inf.parquet", output, chunk_rows=500)
    assert isinstance(failed.value.__cause__, ValueError)

    score_file(model_uri, source, output)
    with pytest.raises(AlreadyExists, match="--overwrite"):
        score_file(model_uri, source, output)
    assert score_file(model_uri, source, output, overwrite=True).rows == ROWS
    folder = write(data, tmp_path, "folder")
    with pytest.raises(InvalidArgument, match="is \\(inside\\) the input"):
        score_file(model_uri, folder, folder / "scores.parquet")


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, ["batch", *args], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args} raised {result.exception!r}\n{result.stdout}\n{result.stderr}")
    assert "Traceback" not in result.stderr
    return result


def test_the_command_end_to_end(model_uri: str, data: pd.DataFrame, tmp_path: Path) -> None:
    help_text = run("--help").stdout
    for option in ("--output", "--chunk-rows", "--prediction-column", "--keep-columns",
                   "--no-resume", "--overwrite", "--trust", "--uri"):
        assert option in help_text
    source, output = write(data, tmp_path, "parquet"), tmp_path / "scores.parquet"

    done = run(model_uri, str(source), "-o", str(output), "--chunk-rows", "400",
               "--keep-columns", "id, region", "--prediction-column", "species")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("scored 1,500 rows in 4 chunks (") and str(output) in done.stdout
    out = pd.read_parquet(output)
    assert list(out.columns) == ["id", "region", "species"]
    np.testing.assert_array_equal(out["species"], expected(model_uri, data))

    refused = run(model_uri, str(source), "-o", str(output))
    assert refused.exit_code == 1 and "already exists" in refused.stderr
    assert "--overwrite" in refused.stderr

    def stop(done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(model_uri, source, tmp_path / "resumed.parquet", chunk_rows=600, progress=stop)
    resumed = run(model_uri, str(source), "-o", str(tmp_path / "resumed.parquet"),
                  "--chunk-rows", "600")
    assert "scored 1,500 rows in 3 chunks, 1 resumed" in resumed.stdout
    again = run(model_uri, str(source), "-o", str(tmp_path / "resumed.parquet"), "--overwrite",
                "--no-resume", "--chunk-rows", "500")
    assert "in 3 chunks (" in again.stdout

    data.drop(columns=FEATURES[0]).to_parquet(tmp_path / "partial.parquet")
    failed = run(model_uri, str(tmp_path / "partial.parquet"), "-o", str(tmp_path / "x.parquet"))
    assert failed.exit_code == 1
    assert "rows 0 to 1,499 of" in failed.stderr and "SCHEMA_MISMATCH" in failed.stderr
    missing = run("models:/nope/1", str(source), "-o", str(tmp_path / "y.parquet"))
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.stderr
