"""The on-disk spool: batches that could not reach the server wait here.

Each batch is one JSON file written atomically (temp file, fsync, rename)
and named so that a directory listing is the order they were made in. A
replay sends them oldest first and deletes each file only after the server
acknowledged it; the batch id makes a second delivery a no-op, so a crash at
any point can neither lose nor double a point.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from dockyard.entities import Batch
from dockyard.errors import Conflict, DockyardError, ServerUnavailable, StoreError
from dockyard.files import fsync_dir
from dockyard.store.base import MetadataStore

log = logging.getLogger("dockyard.spool")


RETRYABLE = (ServerUnavailable, StoreError)
"""Failures worth retrying later: the server is away, or failed on its side (5xx)."""


def _uri_key(uri: str) -> str:
    return hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]


def send_batch(store: MetadataStore, batch: Batch) -> tuple[bool, list[DockyardError]]:
    """Send a batch; if a param conflicts, send what can still be written.

    A param changed meanwhile by another process must not cost the metrics,
    tags and other params that travelled with it: the rest goes again without
    params, then each param alone. The derived batch ids are deterministic,
    so a replay of the same batch stays exactly-once. Returns (applied,
    the errors of what was refused). Raises what :data:`RETRYABLE` names.
    """
    try:
        return store.log_batch(batch).applied, []
    except Conflict:
        if not batch.params or (len(batch.params) == 1 and not _has_more_than_params(batch)):
            raise
    errors: list[DockyardError] = []
    base = batch.batch_id or uuid.uuid4().hex
    rest = batch.model_copy(update={"params": [], "batch_id": f"{base}-rest"})
    if _has_more_than_params(rest):
        try:
            store.log_batch(rest)
        except RETRYABLE:
            raise
        except DockyardError as exc:
            errors.append(exc)
    for i, param in enumerate(batch.params):
        single = Batch.model_construct(run_id=batch.run_id, params=[param], metrics=[], tags=[],
                                       batch_id=f"{base}-p{i}", create=None, end_status=None,
                                       end_time=None)
        try:
            store.log_batch(single)
        except RETRYABLE:
            raise
        except DockyardError as exc:
            errors.append(exc)
    return True, errors


def _has_more_than_params(batch: Batch) -> bool:
    return bool(batch.metrics or batch.tags or batch.create or batch.end_status)


@dataclass
class ReplayResult:
    sent: int = 0
    duplicates: int = 0
    failed: int = 0
    remaining: int = 0


class Spool:
    """Pending batches for one tracking URI, under ``root/<hash of uri>/``."""

    def __init__(self, root: Path, uri: str) -> None:
        self.uri = uri
        self.dir = Path(root) / _uri_key(uri)
        self.failed_dir = self.dir / "failed"
        self._seq = 0

    def add(self, batch: Batch) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.json"
        final = self.dir / name
        tmp = self.dir / f".{name}.tmp"
        payload = orjson.dumps({"uri": self.uri, "batch": batch.model_dump(mode="json")})
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(final)
        fsync_dir(self.dir)
        return final

    def pending(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob("*.json") if not p.name.startswith("."))

    def __len__(self) -> int:
        return len(self.pending())

    def replay(self, store: MetadataStore) -> ReplayResult:
        """Send every pending batch, oldest first; stop at the first unreachable server.

        A batch the server rejects for a reason other than reachability (the
        run was deleted, say) moves to ``failed/`` with the error beside it,
        so one bad batch cannot block the rest forever.
        """
        result = ReplayResult()
        for path in self.pending():
            try:
                doc = orjson.loads(path.read_bytes())
                batch = Batch.model_validate(doc["batch"])
            except FileNotFoundError:
                continue  # another process replaying the same spool took it
            except (OSError, ValueError, KeyError) as exc:
                self._quarantine(path, f"unreadable spool file: {exc}")
                result.failed += 1
                continue
            try:
                applied, errors = send_batch(store, batch)
            except RETRYABLE as exc:
                log.warning("replay of %s stopped: %s", self.dir, exc)
                result.remaining = len(self.pending())
                return result
            except DockyardError as exc:
                errors, applied = [exc], False
            if errors:
                log.warning("spooled batch %s was refused in part: %s", batch.batch_id, errors[0])
                self._quarantine(path, "\n".join(f"{e.error_code}: {e.message}" for e in errors))
                result.failed += 1
                continue
            path.unlink(missing_ok=True)
            if applied:
                result.sent += 1
            else:
                result.duplicates += 1
        return result

    def _quarantine(self, path: Path, reason: str) -> None:
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        target = self.failed_dir / path.name
        try:
            path.replace(target)
        except FileNotFoundError:  # another process dealt with it first
            return
        target.with_suffix(".error.txt").write_text(reason + "\n")


def spools_under(root: Path) -> list[Spool]:
    """Every spool below ``root`` (for ``dockyard sync`` with no URI given)."""
    spools = []
    if not Path(root).is_dir():
        return spools
    for sub in sorted(Path(root).iterdir()):
        files = sorted(sub.glob("*.json")) if sub.is_dir() else []
        if files:
            try:
                uri = orjson.loads(files[0].read_bytes())["uri"]
            except (OSError, ValueError, KeyError):
                continue
            spools.append(Spool(Path(root), uri))
    return spools
