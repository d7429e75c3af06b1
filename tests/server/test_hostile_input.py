"""Hostile input gets a clean 4xx with {error_code, message}: never a 500, never a write
outside the artifact root, never code run from a package, never a secret in a log.

The server runs in this process (uvicorn in a thread, over loopback), so that its log
records reach ``caplog`` and the body limit can be made small for a test. Requests go
through ``http.client``, which sends a path exactly as given (``../`` included).
"""

from __future__ import annotations

import http.client
import json
import logging
import pickle
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

import dockyard
from dockyard.errors import UntrustedModel
from dockyard.models import package
from dockyard.server import deps
from dockyard.server.app import create_app
from dockyard.store.search import MAX_NESTING, MAX_ORDER_BY
from tests.services.server import free_port

API = "/api/v1"
JSON = {"Content-Type": "application/json"}


@dataclass
class Reply:
    status: int
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def error(self, status: int, code: str | None = None) -> str:
        """The message of an error reply, after checking its status and shape."""
        assert self.status == status, (self.status, self.body[:500])
        doc = self.json
        assert set(doc) >= {"error_code", "message"}, doc
        if code is not None:
            assert doc["error_code"] == code, doc
        assert isinstance(doc["message"], str) and doc["message"]
        return str(doc["message"])


class Live:
    """A Dockyard server in a thread over one SQLite (or PostgreSQL) store."""

    def __init__(self, workdir: Path, uri: str | None = None) -> None:
        self.workdir = workdir
        self.artifacts = workdir / "store" / "artifacts"
        self.uri = uri or f"sqlite:///{workdir / 'server.db'}"
        self.port = free_port()
        app = create_app(self.uri, str(self.artifacts))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                log_level="debug", access_log=True, ws="none",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Live:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            assert self.thread.is_alive(), "the server thread exited"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def request(self, method: str, target: str, body: bytes | Iterable[bytes] | None = None,
                headers: dict[str, str] | None = None, chunked: bool = False) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, target, body=body, headers=headers or {},
                         encode_chunked=chunked)
            response = conn.getresponse()
            return Reply(response.status, response.read())
        finally:
            conn.close()

    def call(self, method: str, path: str, doc: Any = None,
             headers: dict[str, str] | None = None) -> Reply:
        body = None if doc is None else json.dumps(doc).encode()
        return self.request(method, API + path, body, {**JSON, **(headers or {})})

    def alive(self) -> bool:
        return self.request("GET", "/health").status == 200

    def new_run(self) -> str:
        exp = self.call("POST", "/experiments", {"name": f"h-{uuid.uuid4().hex}"}).json
        return str(self.call("POST", "/runs", {"experiment_id": exp["id"]}).json["id"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = Live(tmp_path_factory.mktemp("hostile")).start()
    yield server
    server.stop()


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# --- 1. request size limits ------------------------------------------------------------


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """The JSON body limit, read at request time, made small so that the tests stay cheap."""
    monkeypatch.setattr(deps, "MAX_JSON_BODY", 1024)
    return 1024


def _metrics(count: int) -> bytes:
    return json.dumps({"metrics": [{"key": "m", "value": 1.0, "step": i}
                                   for i in range(count)]}).encode()


def test_a_body_over_the_limit_is_413(live: Live, small_limit: int) -> None:
    run_id = live.new_run()
    body = _metrics(100)
    assert len(body) > small_limit
    reply = live.request("POST", f"{API}/runs/{run_id}/batch", body, JSON)
    assert str(small_limit) in reply.error(413, "TOO_LARGE")
    assert live.call("GET", f"/runs/{run_id}").json["metrics"] == {}


def test_a_chunked_body_without_length_is_counted(live: Live, small_limit: int) -> None:
    run_id = live.new_run()
    body = _metrics(100)
    chunks = [body[i:i + 100] for i in range(0, len(body), 100)]
    reply = live.request("POST", f"{API}/runs/{run_id}/batch", iter(chunks),
                         {**JSON, "Transfer-Encoding": "chunked"}, chunked=True)
    assert "over 1024 bytes" in reply.error(413, "TOO_LARGE")
    assert live.call("GET", f"/runs/{run_id}").json["metrics"] == {}
    # the same body under the limit goes through: the count is of bytes, not of chunks
    small = _metrics(3)
    reply = live.request("POST", f"{API}/runs/{run_id}/batch",
                         iter([small[:10], small[10:]]), JSON, chunked=True)
    assert reply.status == 200, reply.body


def test_a_content_length_that_lies(live: Live, small_limit: int) -> None:
    run_id = live.new_run()
    # a large claim is refused before the body is read
    reply = live.request("POST", f"{API}/runs/{run_id}/batch", b"{}",
                         {**JSON, "Content-Length": str(10 * small_limit)})
    reply.error(413, "TOO_LARGE")
    # a small claim: the server reads what was claimed, no more, and parses only that
    body = _metrics(100)
    reply = live.request("POST", f"{API}/runs/{run_id}/batch", body[:40],
                         {**JSON, "Content-Length": "40"})
    assert "not valid JSON" in reply.error(400, "INVALID_ARGUMENT")
    # the bytes past the claim are a malformed next request, refused by the HTTP layer
    reply = live.request("POST", f"{API}/runs/{run_id}/batch", body,
                         {**JSON, "Content-Length": "40"})
    assert reply.status == 400, reply.body
    assert live.call("GET", f"/runs/{run_id}").json["metrics"] == {}
    assert live.alive()


# --- 2. artifact path traversal ----------------------------------------------------------


ESCAPES = [
    "../escape.txt",
    "../../../escape.txt",
    "a/../../escape.txt",
    "%2e%2e%2fescape.txt",
    "%2E%2E/%2E%2E/escape.txt",
    "a/%2e%2e/%2e%2e/%2e%2e/escape.txt",
    "/etc/escape.txt",
    "%2Fetc%2Fescape.txt",
    "C:/escape.txt",
    "..%5C..%5Cescape.txt",
    "a%5Cescape.txt",
    "escape%00.txt",
    "a/%00/escape.txt",
    "escape.txt%0a",
]


@pytest.fixture
def sentinel(live: Live) -> Path:
    """A file beside the artifact root that no request may touch."""
    victim = live.workdir / "store" / "victim.txt"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text("keep")
    return victim


def _no_escape(live: Live, before: set[Path], sentinel: Path, inside: Path | None = None) -> None:
    """Nothing new outside the artifact root (nor outside ``inside``, if given)."""
    new = _files(live.workdir) - before - {live.workdir / "server.db-journal"}
    assert not {p for p in new if not p.is_relative_to(inside or live.artifacts)}, new
    assert sentinel.read_text() == "keep"


@pytest.mark.parametrize("path", ESCAPES)
def test_run_artifact_paths_that_escape(live: Live, sentinel: Path, path: str) -> None:
    run_id = live.new_run()
    before = _files(live.workdir)
    base = f"{API}/runs/{run_id}/artifacts/"
    live.request("PUT", base + "kept.txt", b"kept")
    message = live.request("PUT", base + path, b"x").error(400, "INVALID_ARGUMENT")
    assert "artifact path" in message
    live.request("GET", base + path).error(400, "INVALID_ARGUMENT")
    live.request("HEAD", base + path)  # no body to check; the store must not be touched
    live.request("DELETE", base + path).error(400, "INVALID_ARGUMENT")
    items = live.call("GET", f"/runs/{run_id}/artifacts").json["items"]
    assert [item["path"] for item in items] == ["kept.txt"]
    listed = live.request("GET", f"{base[:-1]}?path={path}")
    assert listed.status == 400, listed.body
    _no_escape(live, before, sentinel)


@pytest.mark.parametrize("path", ESCAPES)
def test_dataset_file_paths_that_escape(live: Live, sentinel: Path, path: str) -> None:
    digest = uuid.uuid4().hex * 2
    base = f"{API}/datasets/hostile/files/"
    before = _files(live.workdir)
    live.request("PUT", base + path, b"x").error(400)
    live.request("GET", base + path).error(400)
    live.request("DELETE", base + path).error(400)
    # below the digest folder, '//etc' or 'C:' are folder names: the file stays inside it
    put = live.request("PUT", f"{base}{digest}/{path}", b"x")
    assert put.status == 204 or put.error(400)
    _no_escape(live, before, sentinel, live.artifacts / "datasets" / "hostile" / digest)


@pytest.mark.parametrize("owner", ["..", "%2e%2e", "..%2F..%2Fetc", "a%00b", "%2Fetc"])
def test_owner_ids_that_escape(live: Live, sentinel: Path, owner: str) -> None:
    before = _files(live.workdir)
    digest = uuid.uuid4().hex * 2
    for target in (f"/runs/{owner}/artifacts/escape.txt",
                   f"/datasets/{owner}/files/{digest}/escape.txt"):
        reply = live.request("PUT", API + target, b"x")
        assert 400 <= reply.status < 500, reply.body
        if reply.status != 404 or reply.body:
            reply.error(reply.status)
        deleted = live.request("DELETE", API + target)
        assert 400 <= deleted.status < 500, deleted.body
    _no_escape(live, before, sentinel)


def test_a_double_encoded_path_is_a_file_name_inside_the_run(live: Live, sentinel: Path) -> None:
    run_id = live.new_run()
    before = _files(live.workdir)
    target = f"{API}/runs/{run_id}/artifacts/%252e%252e%252fescaped-name.txt"
    assert live.request("PUT", target, b"inside").status == 204
    assert live.request("GET", target).body == b"inside"
    written = _files(live.workdir) - before
    assert len(written) == 1
    (path,) = written
    assert path.is_relative_to(live.artifacts) and path.name == "%2e%2e%2fescaped-name.txt"
    assert sentinel.read_text() == "keep"


def test_a_symlink_inside_the_run_leads_nowhere(live: Live, sentinel: Path) -> None:
    run_id = live.new_run()
    base = f"{API}/runs/{run_id}/artifacts"
    assert live.request("PUT", f"{base}/first.txt", b"1").status == 204
    (folder,) = {p.parent for p in _files(live.artifacts) if p.name == "first.txt"
                 and run_id in str(p)}
    (folder / "link").symlink_to(sentinel.parent)
    assert "symlink" in live.request("PUT", f"{base}/link/escape.txt", b"x").error(400)
    assert "symlink" in live.request("GET", f"{base}/link/victim.txt").error(400)
    assert live.request("DELETE", f"{base}/link").status == 204
    assert not (folder / "link").exists() and sentinel.read_text() == "keep"
    assert not (sentinel.parent / "escape.txt").exists()


# --- 3. search-grammar injection ---------------------------------------------------------


INJECTIONS = [
    "params.x = 'a' OR 1=1 --",
    "params.x = 'a'; DROP TABLE runs; --",
    "params.x = 'a' UNION SELECT * FROM runs",
    "params.x = 'it''s' or '1'='1'",
    "params.x = \"a",
    "params.x = 'a",
    "params.`x = 'a'",
    "metrics.m > 0)",
    "(metrics.m > 0",
    "metrics.m > 0 /* comment */",
    "status = 'RUNNING\x00'",
    "params.x = '" + "a" * 10_001 + "'",
    "(" * 5000 + "metrics.m > 0" + ")" * 5000,
    "(" * (MAX_NESTING + 1) + "metrics.m > 0" + ")" * (MAX_NESTING + 1),
    "(metrics.m > 0 and " * 300 + "metrics.m > 0" + ")" * 300,
]
HARMLESS = [
    'metrics."; DROP TABLE runs; --" > 0',
    "params.`'); DELETE FROM runs; --` = 'x'",
    "tags.x like '%'' OR 1=1 --'",
    "params.x in ('a', 'b''); DROP TABLE params; --')",
    "metrics.m > 1e999",
    "metrics.m > " + "9" * 5000,
    "(metrics.m > 0 and " * MAX_NESTING + "metrics.m >= 1" + ")" * MAX_NESTING,
    " or ".join(["metrics.m > 100"] * 500),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, live: Live,
            tmp_path: Path) -> Iterator[Live]:
    if request.param == "sqlite":
        yield live
        return
    server = Live(tmp_path, request.getfixturevalue("postgres_uri")).start()
    yield server
    server.stop()


def _search(server: Live, exp_id: str, filter: str | None = None, **more: Any) -> Reply:
    return server.call("POST", "/runs:search", {"experiment_ids": [exp_id], "filter": filter,
                                                **more})


def test_search_injections(backend: Live) -> None:
    exp_id = backend.call("POST", "/experiments", {"name": f"s-{uuid.uuid4().hex}"}).json["id"]
    run_ids = set()
    for value in (0.5, 2.0):
        run_id = backend.call("POST", "/runs", {"experiment_id": exp_id}).json["id"]
        batch = {"metrics": [{"key": "m", "value": value}], "params": [{"key": "x", "value": "a"}]}
        assert backend.call("POST", f"/runs/{run_id}/batch", batch).status == 200
        run_ids.add(run_id)
    for text in INJECTIONS:
        message = _search(backend, exp_id, text).error(400, "INVALID_FILTER")
        assert "position" in message or "longer than" in message, (text[:80], message)
    for text in HARMLESS:
        reply = _search(backend, exp_id, text)
        assert reply.status == 200, (text[:80], reply.body[:300])
        assert {r["id"] for r in reply.json["items"]} <= run_ids
    deep = "(metrics.m > 0 and " * MAX_NESTING + "metrics.m >= 1" + ")" * MAX_NESTING
    assert len(_search(backend, exp_id, deep).json["items"]) == 1
    orders = [f"metrics.k{i} desc" for i in range(MAX_ORDER_BY + 1)]
    assert str(MAX_ORDER_BY) in _search(backend, exp_id, order_by=orders).error(400)
    assert _search(backend, exp_id, order_by=orders[:MAX_ORDER_BY]).status == 200
    _search(backend, exp_id, order_by=["metrics.m; DROP TABLE runs"]).error(400, "INVALID_FILTER")
    _search(backend, exp_id, max_results=10**30).error(400, "INVALID_ARGUMENT")
    # the tables are intact: every run is still there, with its params
    found = _search(backend, exp_id, "params.x = 'a'").json["items"]
    assert {r["id"] for r in found} == run_ids
    assert all(r["params"] == {"x": "a"} for r in found)
    assert backend.alive()


# --- 4. malformed JSON --------------------------------------------------------------------


NESTED = b"[" * 100_000 + b"]" * 100_000
MALFORMED = [
    (b'{"name": ', "not valid JSON"),
    (NESTED, "not valid JSON"),
    (b'{"name": ' + NESTED + b"}", "not valid JSON"),
    (b"\xff\xfe{\x00", "not valid JSON"),
    (b'{"name": "a", "description": NaN}', "description"),
    (b'{"name": "a", "description": Infinity}', "description"),
    (b'{"name": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b'{"name": 1e999}', "name"),
    (b"null", "body"),
    (b"[]", "body"),
    (b"", "body"),
    (b'{"name": "\\ud800"}', "surrogate"),
    (b'{"name": "\\u0000"}', "control"),
]


@pytest.mark.parametrize("body, fragment", MALFORMED,
                         ids=[str(i) for i in range(len(MALFORMED))])
def test_malformed_json_for_a_model_body(live: Live, body: bytes, fragment: str) -> None:
    assert fragment in live.request("POST", f"{API}/experiments", body, JSON).error(400)
    assert live.alive()


@pytest.mark.parametrize("body, fragment", [
    (NESTED, "recursion"),
    (b'{"metrics": ' + NESTED + b"}", "recursion"),
    (b'{"metrics": [{"key": "m", "value": NaN}]}', "finite"),
    (b'{"metrics": [{"key": "m", "value": -Infinity}]}', "finite"),
    (b'{"metrics": [{"key": "m", "value": 1e999}]}', "finite"),
    (b'{"metrics": [{"key": "m", "value": 1, "step": ' + b"9" * 5000 + b"}]}", "number"),
    (b'{"params": [{"key": "p", "value": "\\ud800"}]}', "JSON"),
    (b"\xff\xfe{\x00", "JSON"),
], ids=str)
def test_malformed_json_for_a_batch(live: Live, body: bytes, fragment: str) -> None:
    run_id = live.new_run()
    assert fragment in live.request("POST", f"{API}/runs/{run_id}/batch", body, JSON).error(400)
    run = live.call("GET", f"/runs/{run_id}").json
    assert run["metrics"] == {} and run["params"] == {}


def test_duplicate_keys_take_the_last_value_everywhere(live: Live) -> None:
    name = f"dup-{uuid.uuid4().hex}"
    body = f'{{"name": "{name}-first", "name": "{name}"}}'.encode()
    made = live.request("POST", f"{API}/experiments", body, JSON)
    assert made.status == 201 and made.json["name"] == name
    run_id = live.new_run()
    body = b'{"params": [{"key": "p", "value": "1"}], "params": [{"key": "q", "value": "2"}]}'
    assert live.request("POST", f"{API}/runs/{run_id}/batch", body, JSON).status == 200
    assert live.call("GET", f"/runs/{run_id}").json["params"] == {"q": "2"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_wrong_content_types(live: Live, content_type: str) -> None:
    reply = live.request("POST", f"{API}/experiments", b'{"name": "typed"}',
                         {"Content-Type": content_type})
    reply.error(400, "INVALID_ARGUMENT")
    listed = live.call("GET", "/experiments").json["items"]
    assert "typed" not in {e["name"] for e in listed}


def test_the_server_stays_responsive_after_deep_nesting(live: Live) -> None:
    started = time.monotonic()
    for _ in range(5):
        live.request("POST", f"{API}/runs:search", NESTED, JSON).error(400)
    assert time.monotonic() - started < 10
    assert live.alive()


# --- 5. model packages that run code on load ---------------------------------------------


class _Payload:
    """Pickled, it would create ``marker`` when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _crafted_package(folder: Path, marker: Path, flavor: str, fmt: str, file: str,
                     claims_safe: bool = True) -> Path:
    folder.mkdir()
    (folder / file).write_bytes(pickle.dumps(_Payload(marker)))
    (folder / "requirements.txt").write_text("")
    manifest = {
        "format_version": 1, "flavor": flavor,
        "loader": {"module": f"dockyard.models.flavors.{flavor}", "format": fmt},
        "model_files": [file], "python_version": "3.11", "requirements": [],
        "executes_code_on_load": not claims_safe, "dockyard_version": dockyard.__version__,
        "created_at": "2024-01-01T00:00:00Z",
        "files": {name: package._sha256(folder / name) for name in (file, "requirements.txt")},
    }
    (folder / package.MANIFEST_NAME).write_text(yaml.safe_dump(manifest))
    return folder


@pytest.mark.parametrize("flavor, fmt, file, claims_safe", [
    ("sklearn", "joblib", "model.joblib", True),
    ("sklearn", "joblib", "model.joblib", False),
    ("python_model", "cloudpickle", "model.pkl", True),
])
def test_a_pickle_package_is_refused_without_trust(tmp_path: Path, flavor: str, fmt: str,
                                                    file: str, claims_safe: bool) -> None:
    marker = tmp_path / "marker"
    folder = _crafted_package(tmp_path / "pkg", marker, flavor, fmt, file, claims_safe)
    with pytest.raises(UntrustedModel, match="trust=True") as info:
        package.load(folder)
    assert info.value.http_status == 403
    with dockyard.Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a")) as client:
        with pytest.raises(UntrustedModel):
            client.load_model(folder)
    assert not marker.exists()


def test_a_pickle_disguised_as_skops_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    folder = _crafted_package(tmp_path / "pkg", marker, "sklearn", "skops", "model.skops")
    with pytest.raises(Exception) as info:  # noqa: PT011 - what matters is that nothing ran
        package.load(folder)
    assert not isinstance(info.value, AssertionError)
    assert not marker.exists()


# --- 6. secrets never in logs -------------------------------------------------------------


def test_a_token_secret_is_never_logged(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = f"svc-{uuid.uuid4().hex[:8]}"
    assert live.call("POST", "/users", {"name": name, "kind": "service"}).status == 201
    made = live.call("POST", "/tokens", {"user": name, "name": "ci"})
    assert made.status == 201, made.body
    secret, token_id = made.json["secret"], made.json["id"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert live.call("GET", "/whoami", headers=bearer).json["name"] == name
    assert live.call("POST", "/experiments", {"name": f"t-{uuid.uuid4().hex}"},
                     headers=bearer).status == 201
    unknown = live.call("GET", "/whoami", headers={"Authorization": f"Bearer {secret}x"})
    assert secret not in unknown.error(401, "UNAUTHENTICATED")
    assert live.call("POST", f"/tokens/{token_id}/revoke").status == 200
    revoked = live.call("GET", "/whoami", headers=bearer)
    assert secret not in revoked.error(401, "UNAUTHENTICATED")
    failed = live.call("POST", "/runs", {"experiment_id": "nope"}, headers=bearer)
    assert failed.status == 404 and secret not in failed.body.decode()

    # the capture works: the access log saw the requests
    assert "/api/v1/whoami" in caplog.text
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.args) and secret not in repr(record.__dict__)
    # nor in the audit trail, read straight from the table
    with sqlite3.connect(live.uri.removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT * FROM audit_events").fetchall()
    assert any(token_id in map(str, row) for row in rows)
    assert secret not in repr(rows)


def test_audit_events_never_show_a_secret(live: Live) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    assert live.call("POST", "/users", {"name": name, "kind": "service"}).status == 201
    made = live.call("POST", "/tokens", {"user": name, "name": "ci"}).json
    live.call("GET", "/whoami", headers={"Authorization": f"Bearer {made['secret']}"})
    listed = live.call("GET", "/audit-events")
    assert listed.status == 200, listed.body
    assert made["id"] in listed.body.decode() and made["secret"] not in listed.body.decode()


def test_every_json_route_has_the_body_limit(live: Live) -> None:
    """Routes whose bodies FastAPI reads (not only the batch route) refuse oversized ones:
    by the declared length before reading, and a chunked body as it arrives."""
    url = f"http://127.0.0.1:{live.port}/api/v1/experiments"
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    conn.putrequest("POST", "/api/v1/experiments")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(deps.MAX_JSON_BODY + 1))
    conn.endheaders()
    declared = conn.getresponse()
    assert declared.status == 413 and b"limit" in declared.read()
    conn.close()

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(deps.MAX_JSON_BODY // (1 << 20) + 1):
            yield b"x" * (1 << 20)
        yield b'"}'

    streamed = httpx.post(url, content=chunks(), headers={"Content-Type": "application/json"},
                          timeout=60)
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["error_code"] == "TOO_LARGE"
