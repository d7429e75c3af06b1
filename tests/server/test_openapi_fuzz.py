"""Schemathesis against the server's own OpenAPI spec, in-process over ASGI.

Every operation gets a small, derandomized number of generated requests, once against
an empty store and once with the path naming resources that exist. None may answer with
a 5xx, and status code, content type and body must be the ones the spec declares.
No operation is excluded: uploads are streamed but the generated bodies are small.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dockyard.server.app import create_app

# Kept small so the suite stays fast; DOCKYARD_FUZZ_EXAMPLES runs a deeper search locally.
MAX_EXAMPLES = int(os.environ.get("DOCKYARD_FUZZ_EXAMPLES", "5"))
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance,
          content_type_conformance, response_schema_conformance]


# The server is built at import, since the operations are parametrized from its spec;
# its store lives in a folder removed when the module's tests are done.
FOLDER = Path(tempfile.mkdtemp(prefix="dockyard-fuzz-"))
APP = create_app(f"sqlite:///{FOLDER / 'store.db'}", str(FOLDER / "artifacts"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    APP.state.client.close()
    shutil.rmtree(FOLDER, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


def _seed() -> dict[str, str]:
    """An experiment, a run with an artifact, a model with a version and a monitor, so
    that generated requests also reach the code behind a found resource."""
    client = APP.state.client
    experiment = client.create_experiment("fuzz")
    run = client.create_run(experiment.id)
    client.writable_artifacts(run.id).put_stream(io.BytesIO(b"x"), "model/MLmodel")
    client.create_registered_model("fuzz")
    client.create_model_version("fuzz", f"runs:/{run.id}/model")
    monitor = client.create_monitor({"name": "fuzz", "model_name": "fuzz"})
    return {"project_id": experiment.project_id, "experiment_id": experiment.id,
            "run_id": run.id, "name": "fuzz", "version": "1", "monitor_id": monitor.id}


@pytest.fixture(scope="module")
def seeded() -> dict[str, str]:
    return _seed()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_on_found_resources(case: schemathesis.Case,
                                             seeded: dict[str, str]) -> None:
    """The same, with the path naming resources that exist (bodies and queries still vary)."""
    for key in case.path_parameters or {}:
        if key in seeded:
            case.path_parameters[key] = seeded[key]
    case.call_and_validate(checks=CHECKS)


def test_the_spec_says_what_the_server_answers() -> None:
    spec = APP.openapi()
    for path in ("/api/v1/runs/{run_id}/artifacts/{path}", "/api/v1/datasets/{name}/files"):
        for operation in spec["paths"][path].values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}
    for item in spec["paths"].values():
        for operation in item.values():
            assert "422" not in operation["responses"]  # a failed validation is a 400
            assert operation["responses"]["4XX"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
