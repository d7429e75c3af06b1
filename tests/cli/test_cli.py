"""The CLI as a user meets it: real commands against the embedded store and a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dockyard
from tests.services.server import ServerProcess


def cli(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=120)
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture
def logged(tmp_path: Path) -> dict[str, str]:
    dockyard.set_experiment("cli-exp")
    f = tmp_path / "model.txt"
    f.write_text("weights" * 1000)
    ids = {}
    for depth in (2, 8):
        with dockyard.start_run(name=f"depth-{depth}") as run:
            dockyard.log_params({"max_depth": depth})
            dockyard.log_metric("auc", 0.6 + depth / 100)
            dockyard.log_artifact(f, "model")
        ids[str(depth)] = run.id
    return ids


def test_help_lists_every_command() -> None:
    out = cli("--help").stdout
    for command in ("experiments", "runs", "artifacts", "server", "db", "sync"):
        assert command in out
    assert "search" in cli("runs", "--help").stdout
    assert "--filter" in cli("runs", "search", "--help").stdout


def test_experiments_list_and_create() -> None:
    cli("experiments", "create", "made-by-cli", "--description", "hello")
    listed = json.loads(cli("experiments", "list", "--json").stdout)
    assert [e["name"] for e in listed] == ["made-by-cli"]
    assert "made-by-cli" in cli("experiments", "list").stdout
    dup = cli("experiments", "create", "made-by-cli", ok=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr and "Traceback" not in dup.stderr


def test_runs_list_search_show_compare(logged: dict[str, str]) -> None:
    assert "depth-2" in cli("runs", "list", "-e", "cli-exp").stdout
    found = json.loads(cli("runs", "search", "-e", "cli-exp", "--filter", "params.max_depth = '8'",
                           "--order-by", "metrics.auc DESC", "--json").stdout)
    assert [r["id"] for r in found["runs"]] == [logged["8"]]
    shown = cli("runs", "show", logged["8"]).stdout
    assert "max_depth" in shown and "FINISHED" in shown
    compared = cli("runs", "compare", logged["2"], logged["8"]).stdout
    assert "params.max_depth" in compared and "metrics.auc" in compared
    bad = cli("runs", "search", "-e", "cli-exp", "--filter", "metrics.auc >", ok=False)
    assert bad.returncode == 1 and "position 13" in bad.stderr


def test_artifacts_list_and_download(logged: dict[str, str], tmp_path: Path) -> None:
    listed = json.loads(cli("artifacts", "list", logged["2"], "--path", "model", "--json").stdout)
    assert listed == [{"path": "model/model.txt", "is_dir": False, "size": 7000}]
    cli("artifacts", "download", logged["2"], "--dst", str(tmp_path / "out"))
    assert (tmp_path / "out" / "model" / "model.txt").read_text() == "weights" * 1000
    cli("artifacts", "download", logged["2"], "--path", "model/model.txt", "--dst", str(tmp_path / "one"))
    assert (tmp_path / "one" / "model.txt").stat().st_size == 7000


def test_artifacts_upload_to_a_running_run(tmp_path: Path) -> None:
    client = dockyard.Client()
    run = client.create_run(client.create_experiment("uploads").id)
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    assert "uploaded 2 file(s)" in cli("artifacts", "upload", run.id, str(folder), "--artifact-path", "plots").stdout
    assert {f.path for f in client.run_artifacts(run.id).walk()} == {"plots/a.txt", "plots/sub/b.txt"}
    client.set_terminated(run.id)
    late = cli("artifacts", "upload", run.id, str(folder / "a.txt"), ok=False)
    assert late.returncode == 1 and "FINISHED" in late.stderr


def test_version() -> None:
    assert cli("--version").stdout.strip() == f"dockyard {dockyard.__version__}"


def test_cli_against_a_server(dockyard_server: ServerProcess, tmp_path: Path) -> None:
    env = {"DOCKYARD_URI": dockyard_server.url}
    name = f"remote-{tmp_path.name}"
    cli("experiments", "create", name, env=env)
    assert name in cli("experiments", "list", "--name-like", name, env=env).stdout
    missing = cli("runs", "show", "0" * 32, env=env, ok=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert "upgraded database from revision empty" in cli("db", "upgrade", "--uri", uri).stdout
    assert "up to date" in cli("db", "upgrade", "--uri", uri).stdout
    bad = cli("db", "upgrade", "--uri", "http://127.0.0.1:1", ok=False)
    assert bad.returncode != 0 and "server URL" in bad.stderr
