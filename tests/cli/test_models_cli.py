"""``dockyard models``: the registry and model packages from the command line.

Most tests drive the commands in-process (Typer's CliRunner) against the
embedded store of the test's own DOCKYARD_HOME; one runs the real command
against a live server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner, Result

import dockyard
from dockyard.cli.main import app
from tests.services.server import ServerProcess

COMMANDS = ("register", "list", "show", "versions", "alias", "stage", "policy", "validations",
            "download", "card", "env", "check-env")


def run(*args: str, ok: bool = True, input: str | None = None) -> Result:
    """Run ``dockyard <args>`` in-process; an exception that escapes is a failure (a traceback)."""
    result = CliRunner().invoke(app, list(args), input=input, env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args} raised {result.exception!r}\n{result.stdout}\n{result.stderr}")
    if ok:
        assert result.exit_code == 0, result.stdout + result.stderr
    return result


def fails(*args: str, code: int = 1, input: str | None = None) -> str:
    """Run a command that must fail with ``code``; returns its stderr."""
    result = run(*args, ok=False, input=input)
    assert result.exit_code == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def cli(*args: str, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200", **env}, timeout=180, check=False)
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    return out


@dataclass
class Logged:
    run_id: str
    uri: str
    digest: str
    pinned_uri: str
    """A package whose requirements pin scikit-learn==0.0.1 (not what is installed)."""


def log_packages(client: dockyard.Client) -> Logged:
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    experiment = client.create_experiment(f"models-cli-{os.urandom(4).hex()}")
    run_ = client.create_run(experiment.id)
    info = client.log_model(run_.id, model, "model", input_example=X[:5])
    pinned = client.log_model(run_.id, model, "pinned", input_example=X[:5],
                              extra_requirements=["scikit-learn==0.0.1"])
    client.set_terminated(run_.id)
    return Logged(run_.id, info.uri, info.package_digest, pinned.uri)


@pytest.fixture
def logged() -> Logged:
    return log_packages(dockyard.Client())


@pytest.fixture
def registered(logged: Logged, tmp_path: Path) -> Logged:
    card = tmp_path / "CARD.md"
    card.write_text("# Iris\n\nA [small] model.\n")
    run("models", "register", logged.uri, "iris", "--description", "first", "--tag", "team=ml",
        "--card", str(card))
    return logged


def test_models_is_listed_and_help_stays_light() -> None:
    assert "models" in run("--help").stdout
    listed = run("models", "--help").stdout
    for command in COMMANDS:
        assert command in listed
    for command in COMMANDS:
        assert "Examples" in run("models", command, "--help").stdout
    # `dockyard --help` must not pay for the package format (numpy, pandas).
    code = ("import sys, dockyard.cli.main; "
            "print(sorted(m for m in ('pandas', 'numpy', 'sklearn', 'dockyard.models') "
            "if m in sys.modules))")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"


def test_register_prints_the_version_and_its_uri(logged: Logged, tmp_path: Path) -> None:
    card = tmp_path / "CARD.md"
    card.write_text("# Iris\n")
    out = run("models", "register", logged.uri, "iris", "-d", "first", "-t", "team=ml",
              "-t", "data=v1", "--card", str(card)).stdout
    assert out.splitlines() == ["Registered iris version 1", "models:/iris/1"]
    mv = dockyard.Client().get_model_version("iris", 1)
    assert (mv.description, mv.tags, mv.card) == ("first", {"team": "ml", "data": "v1"}, "# Iris\n")
    assert mv.package_digest == logged.digest and mv.source == logged.uri
    # From a models:/ URI: the new version shares the package.
    again = json.loads(run("models", "register", "models:/iris/1", "iris-copy", "--json").stdout)
    assert (again["version"], again["uri"], again["package_digest"]) == (1, "models:/iris-copy/1",
                                                                        logged.digest)
    # The card can come from standard input.
    run("models", "register", logged.uri, "iris", "--card", "-", input="# From stdin\n")
    assert dockyard.Client().get_model_version("iris", 2).card == "# From stdin\n"


def test_list_show_and_versions(registered: Logged) -> None:
    run("models", "register", registered.uri, "iris")
    run("models", "register", registered.uri, "other-model")
    run("models", "alias", "iris", "champion", "2")

    table = run("models", "list").stdout
    for header in ("name", "latest version", "aliases", "owner", "task", "updated"):
        assert header in table
    assert "iris" in table and "other-model" in table and "champion → 2" in table
    listed = json.loads(run("models", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["iris", "other-model"]
    assert [m["name"] for m in json.loads(run("models", "list", "--filter", "oth%",
                                              "--json").stdout)] == ["other-model"]
    assert "more models" in run("models", "list", "--max", "1").stdout

    shown = run("models", "show", "iris").stdout
    assert "versions" in shown and "champion → 2" in shown
    model = json.loads(run("models", "show", "iris", "--json").stdout)
    assert (model["versions_count"], model["latest_version"], model["aliases"]) == (
        2, 2, {"champion": 2})

    one = run("models", "show", "models:/iris/1").stdout
    for fragment in (registered.uri, registered.digest, "None", "4 columns",
                     "sepal length (cm) (float64)", "tensor int64", "first", "3 lines"):
        assert fragment in one, fragment
    by_alias = json.loads(run("models", "show", "models:/iris@champion", "--json").stdout)
    assert (by_alias["version"], by_alias["aliases"], by_alias["uri"]) == (
        2, ["champion"], "models:/iris/2")
    package = json.loads(run("models", "show", registered.uri, "--json").stdout)
    assert package["package_digest"] == registered.digest
    assert package["manifest"]["flavor"] == "sklearn"
    assert "sklearn" in run("models", "show", registered.uri).stdout

    versions = json.loads(run("models", "versions", "iris", "--json").stdout)
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["uri"] == "models:/iris/2"
    table = run("models", "versions", "iris").stdout
    assert "champion" in table and registered.digest[:12] in table
    assert json.loads(run("models", "versions", "iris", "--stage", "production",
                          "--json").stdout) == []
    assert "more versions" in run("models", "versions", "iris", "--max", "1").stdout


def test_alias_set_move_and_delete(registered: Logged) -> None:
    run("models", "register", registered.uri, "iris")
    assert "iris@champion: (new) → version 1" in run("models", "alias", "iris", "champion", "1").stdout
    assert "iris@champion: version 1 → version 2" in run("models", "alias", "iris", "champion",
                                                         "2").stdout
    assert dockyard.Client().get_model_version_by_alias("iris", "champion").version == 2
    change = json.loads(run("models", "alias", "iris", "champion", "2", "--json").stdout)
    assert change == {"name": "iris", "alias": "champion", "version": 2, "previous_version": 2}
    assert "removed iris@champion (was version 2)" in run("models", "alias", "iris", "champion",
                                                          "--delete").stdout
    assert dockyard.Client().get_registered_model("iris").aliases == {}

    assert "has no version 9" in fails("models", "alias", "iris", "champion", "9")
    assert "does not exist" in fails("models", "alias", "nope", "champion", "1")
    assert "has no alias 'champion'" in fails("models", "alias", "iris", "champion", "--delete")
    assert "reserved" in fails("models", "alias", "iris", "latest", "1")
    assert "VERSION" in fails("models", "alias", "iris", "champion", code=2)
    assert "not both" in fails("models", "alias", "iris", "champion", "1", "--delete", code=2)


def test_stage_transitions(registered: Logged) -> None:
    run("models", "register", registered.uri, "iris")
    assert "iris version 1: None → Staging" in run("models", "stage", "iris", "1", "staging").stdout
    out = run("models", "stage", "iris", "2", "Staging", "--archive-existing").stdout
    assert "iris version 2: None → Staging" in out and "archived version 1" in out
    done = json.loads(run("models", "stage", "iris", "2", "production", "--json").stdout)
    assert (done["previous_stage"], done["model_version"]["stage"]) == ("Staging", "Production")
    assert [v["version"] for v in json.loads(
        run("models", "versions", "iris", "--stage", "Archived", "--json").stdout)] == [1]
    assert "(locked)" in run("models", "show", "models:/iris/Production").stdout

    bad = fails("models", "stage", "iris", "1", "Live")
    assert "stage 'Live' is not one of" in bad and "Production" in bad
    assert "archive_existing" in fails("models", "stage", "iris", "1", "None", "--archive-existing")
    assert "has no version 7" in fails("models", "stage", "iris", "7", "Staging")
    assert "does not exist" in fails("models", "stage", "nope", "1", "Staging")
    assert fails("models", "versions", "iris", "--stage", "Live")


def test_download(registered: Logged, tmp_path: Path) -> None:
    from dockyard import models

    cached = Path(run("models", "download", "models:/iris/1").stdout.strip())
    assert cached.parent.name == "model-cache" and cached.name == registered.digest
    assert os.environ["DOCKYARD_HOME"] in str(cached)
    target = tmp_path / "out" / "iris"
    printed = run("models", "download", "models:/iris/1", "-o", str(target)).stdout.strip()
    assert Path(printed) == target
    assert models.package_digest(target) == registered.digest
    models.verify(target)
    # A run's package, not registered, downloads the same way.
    assert (Path(run("models", "download", registered.pinned_uri, "-o",
                     str(tmp_path / "pinned")).stdout.strip()) / "dockyard-model.yaml").is_file()

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert "not an empty folder" in fails("models", "download", "models:/iris/1", "-o", str(busy))
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    assert "has no version 5" in fails("models", "download", "models:/iris/5")


def test_card_print_and_replace(registered: Logged, tmp_path: Path) -> None:
    assert run("models", "card", "models:/iris/1").stdout == "# Iris\n\nA [small] model.\n"
    new = tmp_path / "NEW.md"
    new.write_text("# Iris v1\n\nclosing tag [/] and [bold]not markup[/bold]\n")
    assert "updated the card of iris version 1" in run("models", "card", "models:/iris/1",
                                                       "--set", str(new)).stdout
    assert run("models", "card", "models:/iris/latest").stdout == new.read_text()
    run("models", "card", "models:/iris/1", "--edit-from", "-", input="# From a pipe")
    assert dockyard.Client().get_model_version("iris", 1).card == "# From a pipe"
    assert run("models", "card", "models:/iris/1").stdout == "# From a pipe\n"

    run("models", "register", registered.uri, "iris")
    empty = run("models", "card", "models:/iris/2")
    assert empty.stdout == "" and "has no card" in empty.stderr

    assert "models:/ URI" in fails("models", "card", registered.uri)
    assert "does not exist" in fails("models", "card", "models:/iris/1", "--set",
                                     str(tmp_path / "missing.md"))
    assert "limit is 200,000" in fails("models", "card", "models:/iris/1", "--set", "-",
                                       input="x" * 200_001)


def test_env_prints_python_and_requirements(registered: Logged, tmp_path: Path) -> None:
    from dockyard import models

    manifest = models.read_manifest(Path(run("models", "download", registered.uri).stdout.strip()))
    text = run("models", "env", "models:/iris/1").stdout
    assert manifest.python_version in text and "sklearn" in text
    assert all(line in text for line in manifest.requirements)
    assert any(line.startswith("scikit-learn==") for line in manifest.requirements)

    lines = run("models", "env", "models:/iris/1", "--format", "requirements").stdout
    assert lines.splitlines() == manifest.requirements
    data = json.loads(run("models", "env", registered.uri, "--json").stdout)
    assert (data["python_version"], data["requirements"]) == (manifest.python_version,
                                                              manifest.requirements)

    folder = tmp_path / "local"
    run("models", "download", "models:/iris/1", "-o", str(folder))
    assert run("models", "env", str(folder), "--format", "requirements").stdout == lines
    assert run("models", "env", str(folder / "dockyard-model.yaml"),
               "--format", "requirements").stdout == lines
    pinned = run("models", "env", registered.pinned_uri, "--format", "requirements").stdout
    assert "scikit-learn==0.0.1" in pinned.splitlines()

    assert "not one of" in fails("models", "env", "models:/iris/1", "--format", "yaml", code=2)
    assert "not a Dockyard model package" in fails("models", "env", str(tmp_path))
    assert "not a model URI" in fails("models", "env", "no-such-thing")


def test_check_env(registered: Logged, tmp_path: Path) -> None:
    ok = run("models", "check-env", "models:/iris/1")
    assert "the environment matches models:/iris/1" in ok.stdout
    assert json.loads(run("models", "check-env", registered.uri, "--json").stdout)["matches"]

    bad = run("models", "check-env", registered.pinned_uri, ok=False)
    assert bad.exit_code == 1
    assert "scikit-learn" in bad.stdout and "scikit-learn==0.0.1" in bad.stdout
    assert "does not fit" in bad.stderr and "--format requirements" in bad.stderr
    report = json.loads(run("models", "check-env", registered.pinned_uri, "--json",
                            ok=False).stdout)
    assert report["matches"] is False
    assert [(m["kind"], m["name"], m["required"]) for m in report["mismatches"]] == [
        ("version", "scikit-learn", "scikit-learn==0.0.1")]

    folder = tmp_path / "pinned"
    run("models", "download", registered.pinned_uri, "-o", str(folder))
    assert run("models", "check-env", str(folder), ok=False).exit_code == 1
    run("models", "download", "models:/iris/1", "-o", str(tmp_path / "fits"))
    run("models", "check-env", str(tmp_path / "fits"))


def test_bad_input_gets_a_clear_message(registered: Logged) -> None:
    assert "registered model 'nope' does not exist" in fails("models", "show", "nope")
    assert "does not exist" in fails("models", "versions", "nope")
    assert "does not exist" in fails("models", "show", "models:/nope/1")
    assert "names no version or alias" in fails("models", "show", "models:/iris")
    assert "unknown scheme" in fails("models", "download", "model:/iris/1")
    assert "accepted forms" in fails("models", "env", "models:/iris")
    assert "models:/ URI" in fails("models", "show", "iris/1")
    assert "has no alias 'gone'" in fails("models", "show", "models:/iris@gone")
    # Brackets in what the user typed are quoted back as text, not markup.
    assert "models:/a[/]b" in fails("models", "show", "models:/a[/]b")
    assert "no model package" in fails("models", "register",
                                       f"runs:/{registered.run_id}/nothing", "iris")
    assert "does not exist" in fails("models", "register", f"runs:/{'0' * 32}/model", "iris")
    assert "KEY=VALUE" in fails("models", "register", registered.uri, "iris", "--tag", "oops",
                                code=2)
    assert "whitespace" in fails("models", "register", "models:/iris/1", " bad ")


def test_policy_validations_and_the_gate(registered: Logged, tmp_path: Path) -> None:
    from dockyard.entities import NewModelValidation
    from dockyard.validation.policy import Policy

    policy_file = tmp_path / "release.yaml"
    policy_file.write_text("name: release\nrules:\n  - accuracy >= 0.85\n")
    policy = Policy.load(policy_file)
    assert "has no policy" in run("models", "policy", "iris").stdout
    out = run("models", "policy", "iris", "--policy", str(policy_file)).stdout
    assert "release" in out and "Production, @champion" in out and "accuracy >= 0.85" in out
    assert policy.digest in out
    assert "'release' (digest " + policy.digest[:8] in run("models", "show", "iris").stdout
    shown = json.loads(run("models", "policy", "iris", "--json").stdout)
    assert shown == {"name": "iris", "policy": policy.to_dict(), "policy_digest": policy.digest,
                     "protected_aliases": ["champion"]}

    err = fails("models", "stage", "iris", "1", "Production")
    assert "no validation of iris version 1 under policy 'release'" in err
    assert "VALIDATION_REQUIRED" in err and "Traceback" not in err
    assert "no validation" in fails("models", "alias", "iris", "champion", "1")
    run("models", "alias", "iris", "challenger", "1")  # not protected
    assert "no validations of iris are recorded" in run("models", "validations", "iris").stdout

    c = dockyard.Client()
    outcome = policy.evaluate({"accuracy": 0.8})
    c.record_validation("iris", 1, NewModelValidation(
        passed=outcome.passed, policy_name=policy.name, policy_digest=policy.digest,
        values={"accuracy": 0.8}, summary=outcome.summary, report_uri="runs:/x/report.json"))
    assert "accuracy >= 0.85 (0.8 < 0.85)" in fails("models", "alias", "iris", "champion", "1")
    listed = run("models", "validations", "iris").stdout
    assert "failed" in listed and f"release {policy.digest[:8]} (current)" in listed
    assert "runs:/x/report.json" in listed
    [record] = json.loads(run("models", "validations", "iris", "1", "--json").stdout)
    assert (record["version"], record["passed"], record["created_by"]) == (1, False, c.user)

    assert "override_reason" in fails("models", "alias", "iris", "champion", "1",
                                      "--override-reason", " ")
    assert "None → Production" in run("models", "stage", "iris", "1", "Production",
                                      "--override-reason", "INC-9: hotfix").stdout
    [event] = [e for e in c.search_audit_events(resource_type="model-version",
                                                resource_id="iris/1")
               if e.action == "override_validation_gate"]
    assert (event.actor, event.request["reason"], event.request["stage"]) == (
        c.user, "INC-9: hotfix", "Production")
    assert "not gated" in fails("models", "alias", "iris", "champion", "--delete",
                                "--override-reason", "x", code=2)

    assert "no policy" in run("models", "policy", "iris", "--clear").stdout
    run("models", "alias", "iris", "champion", "1")  # free again
    run("models", "policy", "iris", "--policy", str(policy_file), "--protect-none")
    assert c.get_registered_model("iris").protected_aliases == []
    assert "give it alone" in fails("models", "policy", "iris", "--clear", "--policy",
                                    str(policy_file), code=2)
    assert "go with --policy" in fails("models", "policy", "iris", "--protect", "canary", code=2)
    assert "not found" in fails("models", "policy", "iris", "--policy", str(tmp_path / "no.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - accuracy >> 0.8\n")
    assert "rule 1" in fails("models", "policy", "iris", "--policy", str(bad))
    assert "reserved" in fails("models", "policy", "iris", "--policy", str(policy_file),
                               "--protect", "latest")


def test_models_cli_against_a_server(dockyard_server: ServerProcess, tmp_path: Path) -> None:
    logged = log_packages(dockyard.Client(dockyard_server.url))
    env = {"DOCKYARD_URI": dockyard_server.url}
    name = f"remote-{tmp_path.name}"

    out = cli("models", "register", logged.uri, name, "-d", "remote", env=env).stdout
    assert out.splitlines() == [f"Registered {name} version 1", f"models:/{name}/1"]
    cli("models", "register", logged.pinned_uri, name, env=env)
    assert name in cli("models", "list", "--filter", name, env=env).stdout
    shown = json.loads(cli("models", "show", f"models:/{name}/1", "--json", env=env).stdout)
    assert shown["package_digest"] == logged.digest
    assert json.loads(cli("models", "show", name, "--json", env=env).stdout)["versions_count"] == 2
    assert "(new) → version 2" in cli("models", "alias", name, "champion", "2", env=env).stdout
    assert "None → Production" in cli("models", "stage", name, "1", "Production", env=env).stdout
    assert [v["version"] for v in json.loads(cli("models", "versions", name, "--stage",
                                                 "production", "--json", env=env).stdout)] == [1]

    folder = Path(cli("models", "download", f"models:/{name}@champion", "-o",
                      str(tmp_path / "dl"), env=env).stdout.strip())
    assert (folder / "dockyard-model.yaml").is_file()
    card = tmp_path / "CARD.md"
    card.write_text("# Remote card\n")
    cli("models", "card", f"models:/{name}/1", "--set", str(card), env=env)
    assert cli("models", "card", f"models:/{name}/1", env=env).stdout == "# Remote card\n"
    requirements = cli("models", "env", f"models:/{name}@champion", "--format", "requirements",
                       env=env).stdout.splitlines()
    assert "scikit-learn==0.0.1" in requirements
    assert "matches" in cli("models", "check-env", f"models:/{name}/1", env=env).stdout
    mismatch = cli("models", "check-env", f"models:/{name}@champion", env=env, ok=False)
    assert mismatch.returncode == 1 and "scikit-learn==0.0.1" in mismatch.stdout

    missing = cli("models", "show", f"{name}-missing", env=env, ok=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad = cli("models", "stage", name, "1", "Live", env=env, ok=False)
    assert bad.returncode == 1 and "is not one of" in bad.stderr

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("rules:\n  - accuracy >= 0.85\n")
    cli("models", "policy", name, "--policy", str(policy_file), env=env)
    refused = cli("models", "stage", name, "2", "Production", env=env, ok=False)
    assert refused.returncode == 1 and "VALIDATION_REQUIRED" in refused.stderr
    assert "under the model's policy" in refused.stderr
    assert "None → Production" in cli("models", "stage", name, "2", "Production",
                                      "--override-reason", "demo", env=env).stdout
