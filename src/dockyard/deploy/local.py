"""The local target: a supervised deployment on this machine.

``dockyard deploy ... --target local`` records the deployment and starts
its supervisor, a background process (``python -m dockyard.deploy.local
NAME``) that:

* runs the deployment's endpoint, a :class:`~dockyard.deploy.router.Router`
  on ``config["host"]:config["port"]``;
* runs one ``dockyard serve`` process per routed version on a free loopback
  port, restarting one that dies;
* follows the record: when the deployment's revision moves, it starts the
  versions the new routes need, waits until they are ready, switches the
  router, then drains and stops the versions no longer routed (no request
  is dropped), and reports ``healthy`` with the revision it runs;
* steps a canary forward on the rollout's schedule, and rolls it back by
  itself when the canary breaks a rule (see :func:`judge_canary`).

Its files are under ``$DOCKYARD_HOME/deployments/<name>/``: ``supervisor.pid``,
``supervisor.log`` and one log per model server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.config import get_settings
from dockyard.deploy import deployments as ops
from dockyard.deploy.router import Backend, Router, Stats, route_key, stats_of
from dockyard.entities.deployment import Deployment, Rollout, Route
from dockyard.errors import Conflict, DockyardError, InvalidState, NotFound

if TYPE_CHECKING:
    from dockyard.client import Client

log = logging.getLogger("dockyard.deploy")

START_TIMEOUT = 180.0
"""Seconds a model server has to become ready before the revision fails."""
_TICK = 0.25


def state_dir(name: str) -> Path:
    """Where a local deployment's pid file and logs live."""
    return get_settings().home / "deployments" / name


def supervisor_pid(name: str) -> int | None:
    """The pid of the deployment's running supervisor, or None."""
    try:
        pid = int((state_dir(name) / "supervisor.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


class LocalTarget:
    """Runs deployments as supervised processes on this machine."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def apply(self, deployment: Deployment) -> int:
        """Make sure the deployment's supervisor runs (it follows the record); its pid."""
        pid = supervisor_pid(deployment.name)
        if pid is not None:
            return pid
        folder = state_dir(deployment.name)
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "dockyard.deploy.local", deployment.name,
                   "--uri", self.client.uri]
        if self.client._artifact_root:
            command += ["--artifacts", self.client._artifact_root]
        with open(folder / "supervisor.log", "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        # Reap it when it ends, should this process outlive it (a notebook, a test run).
        threading.Thread(target=process.wait, daemon=True).start()
        return process.pid

    def stop(self, name: str, timeout: float = 90.0) -> bool:
        """Stop the supervisor (it drains and stops its servers); False if none ran.

        Raises InvalidState when it is still running after ``timeout`` seconds.
        """
        pid = supervisor_pid(name)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while supervisor_pid(name) == pid:
            if time.monotonic() > deadline:
                raise InvalidState(f"the supervisor of {name} (pid {pid}) is still stopping "
                                   f"after {timeout:g} s; see {state_dir(name)}")
            time.sleep(0.1)
        return True


# -- canary analysis ------------------------------------------------------------------------

def judge_canary(rollout: Rollout, stable: Stats, canary: Stats) -> str | None:
    """Why the canary must be rolled back, or None while it keeps to the rules.

    Judged once the canary answered ``rollout.min_requests`` requests: its
    error rate against the stable version's, and its p90 and p99 latency
    against the stable version's times the allowed ratio. A percentile is
    compared only once both versions answered enough requests for it to mean
    something (ten above it: 100 for p90, 1,000 for p99); latencies under
    ``latency_floor_ms`` never count as a regression.
    """
    if canary.requests < rollout.min_requests:
        return None
    increase = canary.error_rate - stable.error_rate
    if canary.errors and increase > rollout.max_error_rate_increase:
        return (f"canary error rate {canary.error_rate:.1%} ({canary.errors} of "
                f"{canary.requests}) exceeds the stable version's {stable.error_rate:.1%} by "
                f"more than {rollout.max_error_rate_increase:.1%}")
    for label, needed, ratio, mine, theirs in (
            ("p90", 100, rollout.max_p90_ratio, canary.p90_ms, stable.p90_ms),
            ("p99", 1000, rollout.max_p99_ratio, canary.p99_ms, stable.p99_ms)):
        if ratio is None or mine is None or theirs is None \
                or min(canary.requests, stable.requests) < needed:
            continue
        if mine > rollout.latency_floor_ms and mine > theirs * ratio:
            return (f"canary {label} latency {mine:.1f} ms is over {ratio:g} times the stable "
                    f"version's {theirs:.1f} ms")
    return None


def next_step(rollout: Rollout, weight: int) -> int:
    """The canary's next share of traffic after ``weight`` (100 promotes it)."""
    return next((s for s in rollout.steps if s > weight), 100)


# -- the supervisor ---------------------------------------------------------------------------

@dataclass
class _Server:
    backend: Backend
    process: subprocess.Popen[bytes]


class Supervisor:
    """Keeps one deployment's endpoint and model servers running as the record says."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self.folder = state_dir(name)
        self.router = Router(name)
        self.servers: dict[tuple[str, str, bool], _Server] = {}
        self.current: Deployment | None = None
        """The revision the endpoint serves."""
        self.failed_revision = 0
        self.step_started = time.monotonic()
        self.judged = 0.0
        self.restarts: dict[tuple[str, str, bool], tuple[int, float]] = {}
        """Per server that died: how often in a row, and when to try again."""
        self.stopping = False
        self.endpoint = ""

    async def run(self) -> None:
        import uvicorn

        deployment = await self._read()
        host, port = _listen(deployment)
        server = uvicorn.Server(uvicorn.Config(
            self.router, host=host, port=port, lifespan="on", access_log=False,
            log_level="warning", timeout_graceful_shutdown=30, server_header=False,
            date_header=False))
        self.endpoint = f"http://{host}:{port}"
        control = asyncio.get_running_loop().create_task(self._control())
        try:
            await server.serve()
        finally:
            self.stopping = True
            control.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await control
            servers, self.servers = list(self.servers.values()), {}
            await asyncio.gather(*(asyncio.to_thread(self._terminate, s) for s in servers))
            if server.started:
                await self._status("stopped", "the supervisor stopped")
            else:
                await self._status("failed", f"cannot listen on {host}:{port} (in use by "
                                             "another process?); see " +
                                   str(self.folder / "supervisor.log"))

    async def _read(self) -> Deployment:
        return await asyncio.to_thread(self.client.store.get_deployment, self.name)

    async def _status(self, status: str, message: str = "", **fields: Any) -> None:
        try:
            await asyncio.to_thread(self.client.store.set_deployment_status, self.name, status,
                                    message, **fields)
        except DockyardError as exc:
            log.warning("cannot record the status of %s: %s", self.name, exc)

    async def _control(self) -> None:
        """Follow the record: apply new revisions, keep servers up, drive the canary.

        A failure of one round (the store away, a server that cannot start) is
        logged and the next round tries again: the endpoint keeps serving.
        """
        while not self.stopping:
            try:
                await self._round()
            except NotFound:
                log.info("deployment %s was deleted; stopping", self.name)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("supervising %s failed; trying again", self.name)
                await asyncio.sleep(1)
            await asyncio.sleep(_TICK)

    async def _round(self) -> None:
        deployment = await self._read()
        applied = self.current.revision if self.current else 0
        if deployment.revision not in (applied, self.failed_revision):
            await self._apply(deployment)
        if self.current is None:
            return
        await self._supervise(self.current)
        now = time.monotonic()
        if self.current.route("canary") and self.current.rollout.auto and \
                self.current.revision == deployment.revision and now - self.judged >= 1.0:
            self.judged = now
            await self._drive_canary(self.current)

    async def _apply(self, deployment: Deployment) -> None:
        await self._status("deploying", f"starting revision {deployment.revision}: "
                                        f"{', '.join(deployment.versions())}")
        wanted = {route_key(r): r for r in deployment.routes}
        name = deployment.stable.model_name
        results = await asyncio.gather(*(self._start(route, name) for key, route in wanted.items()
                                         if key not in self.servers), return_exceptions=True)
        started = [r for r in results if isinstance(r, _Server)]
        failed = [r for r in results if not isinstance(r, _Server)]
        if failed:
            await asyncio.gather(*(asyncio.to_thread(self._terminate, s) for s in started))
            self.failed_revision = deployment.revision
            error = failed[0]
            await self._status("failed", f"revision {deployment.revision}: " + (
                error.message if isinstance(error, DockyardError)
                else f"{type(error).__name__}: {error}"))
            return
        for server in started:
            self.servers[server.backend.key] = server
        for key, route in wanted.items():  # weights (and a canary's role) change in place
            self.servers[key].backend.route = route
        self.router.switch([s.backend for s in self.servers.values()], deployment.routes)
        self.current = deployment
        self.step_started = time.monotonic()
        for key in [k for k in self.servers if k not in wanted]:
            server = self.servers.pop(key)
            server.backend.ready = False
            await self.router.drain(server.backend)
            await asyncio.to_thread(self._terminate, server)
        message = f"serving {', '.join(deployment.versions())}"
        if f"http://{':'.join(map(str, _listen(deployment)))}" != self.endpoint:
            message += (f" at {self.endpoint}; the new host and port apply at the next start "
                        f"(dockyard deploy stop {self.name}, then start)")
        await self._status("healthy", message, observed_revision=deployment.revision,
                           endpoint=self.endpoint)

    async def _start(self, route: Route, name: str) -> _Server:
        """Start a model server for ``route`` and wait until it is ready.

        Every server answers under ``name`` (``/v2/models/<name>``), the stable
        model's, so a canary of another model takes the same requests. A
        shadow's predictions and metrics are labelled ``<deployment>:shadow``:
        they never count as the deployment's.
        """
        import httpx

        port = free_port()
        shadow = route.role == "shadow"
        label = f"{route.model_name}-{route.version}" + ("-shadow" if shadow else "")
        command = [sys.executable, "-m", "dockyard", "serve", route.uri, "--host", "127.0.0.1",
                   "--port", str(port), "--name", name,
                   "--deployment", f"{self.name}:shadow" if shadow else self.name,
                   "--uri", self.client.uri, "--no-access-log", "--log-level", "warning"]
        env = dict(os.environ)
        if self.client._artifact_root:
            env["DOCKYARD_ARTIFACTS"] = self.client._artifact_root
        log_path = self.folder / f"server-{label}.log"
        with open(log_path, "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env,
                                       preexec_fn=_die_with_parent)
        backend = Backend(route, f"http://127.0.0.1:{port}")
        server = _Server(backend, process)
        deadline = time.monotonic() + float(START_TIMEOUT)
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if process.poll() is not None:
                    raise ops.DeploymentFailed(
                        f"the server of {backend.label} exited ({process.returncode}) before it "
                        f"was ready: {_tail(log_path)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(backend.url + "/v2/health/ready")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    await asyncio.to_thread(self._terminate, server)
                    raise ops.DeploymentFailed(
                        f"the server of {backend.label} was not ready within {START_TIMEOUT:g} s: "
                        f"{_tail(log_path)}")
                await asyncio.sleep(0.2)
        backend.ready = True
        log.info("%s is ready on port %d", backend.label, port)
        return server

    async def _supervise(self, deployment: Deployment) -> None:
        """Restart a model server that died (backing off while it keeps dying); the router
        routes around it meanwhile."""
        for key, server in list(self.servers.items()):
            if server.process.poll() is None:
                continue
            failures, retry_at = self.restarts.get(key, (0, 0.0))
            if time.monotonic() < retry_at:
                continue
            server.backend.ready = False
            label = server.backend.label
            await self._status("degraded", f"the server of {label} exited "
                                           f"({server.process.returncode}); restarting it")
            try:
                fresh = await self._start(server.backend.route, deployment.stable.model_name)
            except DockyardError as exc:
                delay = min(2.0 ** failures, 60.0)
                self.restarts[key] = (failures + 1, time.monotonic() + delay)
                await self._status("degraded", f"{exc.message}; trying again in {delay:g} s")
                continue
            self.restarts.pop(key, None)
            fresh.backend.samples = server.backend.samples
            self.servers[key] = fresh
            self.router.switch([s.backend for s in self.servers.values()], deployment.routes)
            await self._status("healthy", f"serving {', '.join(deployment.versions())}",
                               observed_revision=deployment.revision)

    async def _drive_canary(self, deployment: Deployment) -> None:
        canary_route = deployment.route("canary")
        assert canary_route is not None
        stable = self.servers[route_key(deployment.stable)].backend
        canary = self.servers[route_key(canary_route)].backend
        since = self.step_started
        stable_stats, canary_stats = await asyncio.gather(
            asyncio.to_thread(stats_of, stable.snapshot(), since),
            asyncio.to_thread(stats_of, canary.snapshot(), since))
        rollout = deployment.rollout
        reason = judge_canary(rollout, stable_stats, canary_stats)
        try:
            if reason is not None:
                await asyncio.to_thread(ops.rollback, self.client, self.name,
                                        message=f"automatic rollback: {reason}",
                                        expected=deployment)
            elif time.monotonic() - since >= rollout.interval_seconds and \
                    canary_stats.requests >= rollout.min_requests:
                weight = next_step(rollout, canary_route.weight)
                await asyncio.to_thread(
                    ops.set_canary_weight, self.client, deployment, weight,
                    message=f"canary step to {weight}%: {canary_stats.requests} requests, "
                            f"error rate {canary_stats.error_rate:.1%}, p99 "
                            f"{canary_stats.p99_ms or 0:.1f} ms (stable "
                            f"{stable_stats.p99_ms or 0:.1f} ms)")
        except Conflict:
            pass  # someone changed the deployment meanwhile: judge the new revision next

    def _terminate(self, server: _Server) -> None:
        process = server.process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _loop_factory() -> Any:
    """uvloop's event loop when installed (with uvicorn's standard extra), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _listen(deployment: Deployment) -> tuple[str, int]:
    """The host and port a local deployment's endpoint binds."""
    return str(deployment.config.get("host", "127.0.0.1")), int(deployment.config.get("port",
                                                                                      8000))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the supervisor dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"see {path}"
    return " | ".join(text[-lines:]) + f" (log: {path})"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the supervisor process."""
    parser = argparse.ArgumentParser(prog="python -m dockyard.deploy.local",
                                     description="Supervise one local deployment.")
    parser.add_argument("name")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--artifacts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from dockyard.client import Client

    folder = state_dir(args.name)
    folder.mkdir(parents=True, exist_ok=True)
    # One supervisor per deployment: a second one started meanwhile leaves without a trace.
    lock = open(folder / "supervisor.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log.info("deployment %s has a supervisor already", args.name)
        return
    pid_file = folder / "supervisor.pid"
    pid_file.write_text(str(os.getpid()))
    client = Client(args.uri, args.artifacts)
    # The endpoint's server turns SIGTERM and SIGINT into a graceful stop, then raises the
    # signal again once it has stopped; this handler takes that second one, so that the
    # model servers are stopped and the pid file removed before the process exits.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(Supervisor(client, args.name).run())
    finally:
        with contextlib.suppress(OSError):
            if pid_file.read_text() == str(os.getpid()):
                pid_file.unlink()
        client.close()


if __name__ == "__main__":
    main()
