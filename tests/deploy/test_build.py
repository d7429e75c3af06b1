"""``dockyard build``: a container build context for a registered model.

The context is checked file by file, through the API and the CLI; the slow
test does what ``docker build`` and ``docker run`` would (no Docker engine
runs here): a fresh virtual environment gets exactly the context's lock,
then the context's entry point serves the model from it on a loopback port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner, Result

import dockyard
from dockyard.cli.main import app
from dockyard.deploy.build import (
    CONTAINER_PORT,
    CONTAINER_UID,
    MODEL_PATH,
    BuildResult,
    build_context,
    image_tag,
)
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.models import package_digest, verify
from tests.services.server import free_port, wait_for_http

BASE_IMAGE = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
# Engines and tools of other flavors and of the dev extra: never needed to serve scikit-learn.
NOT_NEEDED = {"torch", "xgboost", "lightgbm", "onnxruntime", "onnx", "pyspark", "ray", "boto3",
              "pytest", "moto", "playwright", "tritonclient", "psycopg", "kubernetes-validate"}


@dataclass
class Registered:
    model: Any
    X: pd.DataFrame
    uri: str
    version: int
    digest: str


def register(model: Any, name: str = "churn", **options: Any) -> Registered:
    X, y = load_iris(return_X_y=True, as_frame=True)
    model.fit(X, y)
    with dockyard.start_run():
        info = dockyard.log_model(model, "model", input_example=X[:5], **options)
    version = dockyard.register_model(info.uri, name)
    dockyard.set_alias(name, "champion", version.version)
    return Registered(model, X, f"models:/{name}@champion", version.version, info.package_digest)


@pytest.fixture
def churn() -> Registered:
    return register(LogisticRegression(max_iter=500))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registered, BuildResult]:
    """One context for the tests that only read it, over a store of its own."""
    folder = tmp_path_factory.mktemp("built")
    client = dockyard.Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts"))
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    run = client.create_run(client.create_experiment("build").id)
    info = client.log_model(run.id, model, "model", input_example=X[:5])
    client.set_terminated(run.id)
    version = client.register_model(info.uri, "churn")
    client.set_alias("churn", "champion", version.version)
    churn = Registered(model, X, "models:/churn@champion", version.version, info.package_digest)
    messages: list[str] = []
    result = build_context(churn.uri, folder / "build", client=client, progress=messages.append)
    assert any(m.startswith("downloading models:/churn/") for m in messages)
    assert any(m.startswith("building a wheel of dockyard") for m in messages)
    client.close()
    return churn, result


def cli(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args} raised {result.exception!r}\n{result.stdout}\n{result.stderr}")
    return result


def dockerfile(context: Path) -> dict[str, list[str]]:
    """The Dockerfile's instructions by keyword, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (context / "Dockerfile").read_text())
    instructions: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.setdefault(keyword, []).append(rest.strip())
    return instructions


def lock_pins(context: Path) -> dict[str, str]:
    """Canonical name -> line of requirements.lock (comments dropped)."""
    pins = {}
    for line in (context / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("./wheels/"):
            pins[canonicalize_name(Path(line).name.split("-")[0])] = line
        else:
            pins[canonicalize_name(Requirement(line).name)] = line
    return pins


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- the context


def test_the_context_holds_the_verified_package_and_what_was_built(
        built: tuple[Registered, BuildResult]) -> None:
    churn, result = built
    context = result.path
    assert isinstance(result, BuildResult) and context.name == "build"
    assert sorted(p.name for p in context.iterdir()) == [
        ".dockerignore", "Dockerfile", "README.md", "build.json", "model", "requirements.lock",
        "requirements.txt", "wheels"]
    verify(context / "model")
    assert package_digest(context / "model") == churn.digest == result.digest
    assert (result.name, result.version, result.flavor) == ("churn", str(churn.version), "sklearn")
    assert result.tag == f"churn:{churn.version}" and result.base_image == BASE_IMAGE
    assert result.trust is False  # a skops file of a linear model loads without trust
    assert leftovers(context.parent) == []

    built = json.loads((context / "build.json").read_text())
    assert built["uri"] == churn.uri and built["name"] == "churn"
    assert built["version"] == str(churn.version) and built["digest"] == churn.digest
    assert built["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert built["created_at"].endswith("Z") and built["base_image"] == BASE_IMAGE

    wheels = sorted(p.name for p in (context / "wheels").iterdir())
    assert len(wheels) == 1 and wheels[0].startswith(f"dockyard-{dockyard.__version__}-")
    assert result.dockyard_requirement == f"./wheels/{wheels[0]}"
    readme = (context / "README.md").read_text()
    assert f"docker build -t churn:{churn.version} " in readme
    assert f"docker run -p 8080:8080 churn:{churn.version}" in readme
    assert "README.md" in (context / ".dockerignore").read_text()


def test_the_dockerfile_serves_as_a_non_root_user_with_a_health_check(
        built: tuple[Registered, BuildResult]) -> None:
    churn, result = built
    instructions = dockerfile(result.path)

    assert instructions["FROM"] == [BASE_IMAGE]
    assert "pip install --no-cache-dir -r requirements.lock --find-links wheels/" in \
        instructions["RUN"]
    assert instructions["USER"] == [f"{CONTAINER_UID}:{CONTAINER_UID}"]
    assert CONTAINER_UID != 0
    assert instructions["EXPOSE"] == [str(CONTAINER_PORT)]
    (health,) = instructions["HEALTHCHECK"]
    assert "/v2/health/ready" in health and "urllib.request" in health
    probe = json.loads(health.split(" CMD ", 1)[1])
    assert probe[:2] == ["python", "-c"]
    (entrypoint,) = instructions["ENTRYPOINT"]
    assert json.loads(entrypoint) == ["dockyard", "serve", MODEL_PATH, "--host", "0.0.0.0",
                                      "--port", "8080", "--name", "churn", "--model-version",
                                      str(churn.version)]
    assert f"model/ {MODEL_PATH}/" in instructions["COPY"]
    labels = " ".join(instructions["LABEL"])
    for label in ('org.opencontainers.image.title="churn"',
                  f'org.opencontainers.image.version="{churn.version}"',
                  f'io.dockyard.model.uri="{churn.uri}"',
                  f'io.dockyard.model.digest="sha256:{churn.digest}"'):
        assert label in labels
    env = " ".join(instructions["ENV"])
    assert 'DOCKYARD_MODEL_NAME="churn"' in env
    assert f'DOCKYARD_MODEL_VERSION="{churn.version}"' in env


def test_requirements_pin_the_package_and_serving_and_the_lock_holds_only_those(
        built: tuple[Registered, BuildResult]) -> None:
    import importlib.metadata

    _churn, result = built
    context = result.path
    pins = lock_pins(context)

    for line in pins.values():
        if line.startswith("./wheels/"):
            assert (context / line).is_file()
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", line
        assert spec.version == importlib.metadata.version(requirement.name), line
    assert {"dockyard", "scikit-learn", "skops", "joblib", "numpy", "fastapi", "uvicorn",
            "uvloop", "pydantic", "starlette"} <= pins.keys()
    assert pins["uvicorn"].startswith("uvicorn[standard]==")
    assert not NOT_NEEDED & pins.keys(), NOT_NEEDED & pins.keys()
    assert len(pins) == len(result.lock) < 80

    top = [line for line in (context / "requirements.txt").read_text().splitlines()
           if line and not line.startswith("#")]
    assert top == list(result.requirements)
    named = {canonicalize_name(Path(line).name.split("-")[0]) if line.startswith("./")
             else canonicalize_name(Requirement(line).name) for line in top}
    assert named <= pins.keys()
    manifest = verify(context / "model")
    assert {canonicalize_name(Requirement(line).name) for line in manifest.requirements} <= named
    assert {"dockyard", "scikit-learn", "skops", "fastapi"} <= named
    assert "starlette" not in named  # a dependency of a dependency: in the lock only


def test_a_model_that_needs_trust_is_served_with_trust(tmp_path: Path) -> None:
    forest = register(RandomForestClassifier(n_estimators=3, random_state=0), name="forest")
    result = build_context(forest.uri, tmp_path / "build")
    assert result.trust is True
    (entrypoint,) = dockerfile(tmp_path / "build")["ENTRYPOINT"]
    assert json.loads(entrypoint)[-1] == "--trust"


def test_a_dockyard_requirement_replaces_the_wheel(churn: Registered, tmp_path: Path) -> None:
    requirement = f"dockyard=={dockyard.__version__}"
    result = build_context(churn.uri, tmp_path / "build", dockyard_requirement=requirement)
    assert result.dockyard_requirement == requirement
    assert list((tmp_path / "build" / "wheels").iterdir()) == []
    assert lock_pins(tmp_path / "build")["dockyard"] == requirement

    with pytest.raises(InvalidArgument, match="names numpy, not dockyard"):
        build_context(churn.uri, tmp_path / "other", dockyard_requirement="numpy==2.0")
    with pytest.raises(Conflict, match="--dockyard-requirement needs dockyard==99.0"):
        build_context(churn.uri, tmp_path / "other", dockyard_requirement="dockyard==99.0")
    assert not (tmp_path / "other").exists()


def test_the_cli_builds_a_context(churn: Registered, tmp_path: Path) -> None:
    out = tmp_path / "ctx"
    result = cli("build", churn.uri, "-o", str(out), "--name", "churn-api")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"docker build -t churn-api:{churn.version}" in result.stdout
    assert "downloading models:/churn/" in result.stderr
    assert "building a wheel of dockyard" in result.stderr
    (entrypoint,) = dockerfile(out)["ENTRYPOINT"]
    command = json.loads(entrypoint)
    assert command[command.index("--name") + 1] == "churn-api"
    assert json.loads((out / "build.json").read_text())["name"] == "churn-api"

    help_text = cli("build", "--help").stdout
    for option in ("--output", "--name", "--dockyard-requirement", "--force", "--uri"):
        assert option in help_text


# ---------------------------------------------------------------- refusals


def test_a_non_empty_output_is_refused_unless_forced(churn: Registered, tmp_path: Path) -> None:
    out = tmp_path / "build"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    with pytest.raises(InvalidArgument, match="not empty.*--force"):
        build_context(churn.uri, out)
    result = cli("build", churn.uri, "-o", str(out))
    assert result.exit_code == 1 and "--force" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]

    build_context(churn.uri, out, force=True)
    assert not (out / "notes.txt").exists() and (out / "Dockerfile").is_file()
    assert leftovers(tmp_path) == []


def test_the_current_folder_is_never_the_output(churn: Registered, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument, match="folder of its own"):
        build_context(churn.uri, ".", force=True)


@pytest.mark.parametrize(("uri", "error", "message"), [
    ("models:/missing@champion", NotFound, "missing"),
    ("models:/churn@challenger", NotFound, "challenger"),
    ("models:/churn", InvalidArgument, "names no version or alias"),
    ("churn-model/", InvalidArgument, "is not a model URI"),
])
def test_a_bad_uri_is_a_clear_error(churn: Registered, tmp_path: Path, uri: str,
                                    error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build_context(uri, tmp_path / "build")
    result = cli("build", uri, "-o", str(tmp_path / "build"))
    assert result.exit_code == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "build").exists() and leftovers(tmp_path) == []


def test_pins_this_environment_cannot_meet_are_reported(tmp_path: Path) -> None:
    import importlib.metadata

    pinned = register(LogisticRegression(max_iter=500), name="pinned",
                      extra_requirements=["scikit-learn==0.0.1", "no-such-dist==1.0",
                                          "pywin32==306; sys_platform == 'win32'"])
    installed = importlib.metadata.version("scikit-learn")
    with pytest.raises(Conflict) as caught:
        build_context(pinned.uri, tmp_path / "build")
    message = caught.value.message
    assert f"the model package needs scikit-learn==0.0.1, but scikit-learn {installed}" in message
    assert "Dockyard itself needs scikit-learn>=" in message  # the flavor extra's floor
    assert "the model package needs no-such-dist==1.0, which is not installed here" in message
    assert "pywin32" not in message  # its marker does not hold here
    assert caught.value.details["problems"][0].startswith("the model package needs")
    assert "dockyard models check-env" in message
    assert not (tmp_path / "build").exists() and leftovers(tmp_path) == []


def test_image_tags_are_valid_docker_references() -> None:
    assert image_tag("churn", "3") == "churn:3"
    assert image_tag("Churn Model v2", "12") == "churn-model-v2:12"
    assert image_tag("???", "abc123") == "model:abc123"


# ---------------------------------------------------------------- the image, without Docker


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_fresh_environment_from_the_lock_serves_the_model(
        churn: Registered, tmp_path: Path) -> None:
    """What `docker build` and `docker run` do, in a virtual environment: install the lock
    (nothing else gets installed), run the entry point, predict, stop with SIGTERM."""
    started = time.monotonic()
    context = tmp_path / "build"
    build_context(churn.uri, context)
    built = time.monotonic()

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    environ = {key: value for key, value in os.environ.items()
               if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
         "-r", "requirements.lock", "--find-links", "wheels/"],
        cwd=context, env=environ, capture_output=True, text=True, timeout=800, check=False)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    installed_at = time.monotonic()

    probe = subprocess.run(
        [str(python), "-c", "import dockyard, importlib.metadata as m, json; print(json.dumps("
         "[dockyard.__file__, sorted(d.metadata['Name'] for d in m.distributions())]))"],
        cwd=tmp_path, env=environ, capture_output=True, text=True, check=True)
    where, names = json.loads(probe.stdout)
    assert Path(where).is_relative_to(env_dir), where  # the wheel, not this checkout
    installed = {canonicalize_name(name) for name in names} - {"pip", "setuptools"}
    assert installed == set(lock_pins(context)), "the lock is not exactly what pip installed"

    (entrypoint,) = dockerfile(context)["ENTRYPOINT"]
    command = json.loads(entrypoint)
    port = free_port()
    command = [str(env_dir / "bin" / command[0]), *command[1:]]
    command[command.index(MODEL_PATH)] = str(context / "model")
    command[command.index("0.0.0.0")] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    log = tmp_path / "serve.log"
    serve_env = {**environ, "DOCKYARD_HOME": str(tmp_path / "container-home")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=serve_env,
                                cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(proc, f"{url}/v2/health/ready", log, timeout=120)
        rows = churn.X.iloc[[0, 60, 120, 7, 77]]
        body = {"inputs": [{"name": column, "shape": [len(rows)], "datatype": "FP64",
                            "data": rows[column].tolist()} for column in rows.columns]}
        answer = httpx.post(f"{url}/v2/models/churn/infer", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        (output,) = answer.json()["outputs"]
        expected = churn.model.predict(rows)
        assert output["data"] == expected.tolist()
        assert answer.json()["model_version"] == str(churn.version)
        loaded = dockyard.load_model(churn.uri).predict(rows)
        np.testing.assert_array_equal(np.asarray(output["data"]), loaded)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]  # drained, then a clean exit
    assert "Application shutdown complete" in log.read_text()
    served = time.monotonic()
    sys.stderr.write(f"\nbuild {built - started:.1f}s, pip install {installed_at - built:.1f}s, "
                     f"serve and predict {served - installed_at:.1f}s\n")
