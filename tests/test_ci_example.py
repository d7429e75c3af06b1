"""The CI/CD example runs as written: each step of the workflow, in order, in a shell.

The workflow's ``run`` steps are executed as GitHub Actions would (bash, with
``$GITHUB_ENV`` read back between steps) against an embedded store, with the
deployments on the local target. The pipeline runs twice: the first release
creates the deployments, the second rolls out as a canary in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dockyard.client import Client
from dockyard.deploy.local import LocalTarget

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "ci" / ".github" / "workflows" / "release.yml"


def _run_pipeline(env: dict[str, str], workdir: Path) -> list[str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["release"]["steps"]
    github_env = workdir / "github_env"
    ran = []
    for step in steps:
        if "run" not in step or step["name"] == "Install":
            continue  # checkout and setup-python; the package is installed here already
        github_env.write_text("")
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=ROOT,
                              env={**env, "GITHUB_ENV": str(github_env)},
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{step['name']}:\n{done.stdout}\n{done.stderr}"
        for line in github_env.read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        ran.append(step["name"])
    return ran


@pytest.mark.timeout(600)
def test_the_release_workflow_runs_end_to_end(tmp_path: Path) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # DOCKYARD_HOME is this test's own (tests/conftest.py); the pipeline shares it.
    env = {**os.environ, **{k: v for k, v in workflow["env"].items() if "${{" not in v},
           "TARGET": "local", "DOCKYARD_URI": f"sqlite:///{tmp_path}/record.db",
           "RUNNER_TEMP": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    client = Client(env["DOCKYARD_URI"])
    try:
        ran = _run_pipeline(dict(env), tmp_path)
        assert ran == ["Train", "Validate", "Register", "Deploy to staging", "Smoke test",
                       "Promote"]
        staging = client.store.get_deployment("churn-staging")
        prod = client.store.get_deployment("churn-prod")
        assert (staging.environment, staging.status, staging.versions()) == (
            "staging", "healthy", ["churn/1"])
        assert (prod.environment, prod.versions()) == ("prod", ["churn/1"])
        # The second release: staging is updated, production gets a 10% canary.
        _run_pipeline(dict(env), tmp_path)
        assert client.store.get_deployment("churn-staging").versions() == ["churn/2"]
        prod = client.store.get_deployment("churn-prod")
        assert [(r.version, r.role, r.weight) for r in prod.routes] == [
            ("1", "stable", 90), ("2", "canary", 10)]
        assert client.get_model_version_by_alias("churn", "champion").version == 2
    finally:
        for deployment in client.store.list_deployments():
            LocalTarget(client).stop(deployment.name)
        client.close()
