"""Validations in the UI: the reports of a model version, and a report itself.

A validation of a logged or registered model is a run tagged
``dockyard.validation.*`` (see :mod:`dockyard.validation.record`). A version's
page lists its validation runs, newest first; ``/runs/<run id>/validation``
serves the run's HTML report.

The report is served as a sandboxed document (``Content-Security-Policy:
sandbox``, no scripts, no requests, only inline styles and images): whoever can
write a run's artifacts could upload any HTML as ``validation/report.html``,
and it must not run in the UI's origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from dockyard.client import Client
from dockyard.entities import ModelVersion, RegisteredModel, Run
from dockyard.errors import InvalidState, NotFound
from dockyard.store.artifacts.base import ArtifactStore
from dockyard.server.deps import client_of

router = APIRouter(include_in_schema=False)

REPORT = "validation/report.html"
TAG = "dockyard.validation."
SHOWN = 10
MAX_REPORT_BYTES = 32 << 20
SANDBOX = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           "frame-ancestors 'self'")


@dataclass
class Gate:
    """A gated model's policy, and whether this version may be promoted under it."""

    policy: str
    protected: list[str]
    passed: bool | None  # the latest validation under the policy; None: none yet
    summary: str


def gate_of(client: Client, model: RegisteredModel, mv: ModelVersion) -> Gate | None:
    """The promotion gate as it stands for ``mv`` (None when the model has no policy)."""
    if not model.policy or not model.policy_digest:
        return None
    latest = next((val for val in client.list_validations(mv.name, mv.version)
                   if val.policy_digest == model.policy_digest), None)
    name = model.policy.get("name") or f"digest {model.policy_digest[:12]}"
    return Gate(policy=str(name), protected=list(model.protected_aliases),
                passed=None if latest is None else latest.passed,
                summary="" if latest is None else latest.summary)


@dataclass
class ValidationRun:
    """One validation of a version, as its run records it."""

    run: Run
    passed: bool | None
    policy: str
    checks: list[str]

    @property
    def report_url(self) -> str:
        return f"/runs/{quote(self.run.id, safe='')}/validation"


def validations_of(client: Client, mv: ModelVersion, source: Run | None) -> list[ValidationRun]:
    """The validation runs of ``mv`` in its source run's experiment, newest first."""
    if source is None or "'" in mv.name:
        return []
    found = client.search_runs(
        source.experiment_id,
        f"tags.`{TAG}model` = '{mv.name}' and tags.`{TAG}version` = '{mv.version}'",
        order_by=["attributes.start_time DESC"], max_results=SHOWN).items
    verdict = {"true": True, "false": False}
    return [ValidationRun(run=r, passed=verdict.get(r.tags.get(f"{TAG}passed", "")),
                          policy=r.tags.get(f"{TAG}policy", ""),
                          checks=[c for c in r.tags.get(f"{TAG}checks", "").split(",") if c])
            for r in found]


def _read(store: ArtifactStore, run_id: str) -> bytes:
    body = bytearray()
    for chunk in store.iter_bytes(REPORT):
        body.extend(chunk)
        if len(body) > MAX_REPORT_BYTES:
            raise InvalidState(f"the validation report of run {run_id} is over "
                               f"{MAX_REPORT_BYTES >> 20} MiB; download it from the run's files")
    return bytes(body)


@router.get("/runs/{run_id}/validation")
async def report(request: Request, run_id: str) -> Response:
    """The validation report a run holds, as a sandboxed page."""
    client = client_of(request)
    run = await run_in_threadpool(client.get_run, run_id)
    store = client.run_artifacts(run)
    if not await run_in_threadpool(store.exists, REPORT):
        raise NotFound(f"run {run_id} holds no validation report ({REPORT})")
    body = await run_in_threadpool(_read, store, run_id)
    return HTMLResponse(bytes(body), headers={"Content-Security-Policy": SANDBOX,
                                              "X-Content-Type-Options": "nosniff"})
