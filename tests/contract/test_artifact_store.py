"""The artifact store contract, run against every backend.

``ArtifactStoreContract`` holds the tests; each backend subclasses it and
provides a ``store`` fixture. S3 runs against moto's real server over HTTP.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.client import Client
from dockyard.errors import InvalidArgument, MissingExtra, NotFound
from dockyard.store.artifacts import (
    ArtifactStore,
    LocalArtifactStore,
    S3ArtifactStore,
    artifact_store_for,
)
from dockyard.store.artifacts import s3 as s3_module
from dockyard.store.artifacts.base import CHUNK_SIZE, ScopedArtifactStore
from tests.services.server import ServerProcess

MiB = 1024 * 1024
LARGE_SIZE = 20 * MiB  # above the 8 MiB multipart threshold: three parts on S3
# S3 buffers one multipart part at a time; no backend may read more at once.
MAX_READ = 8 * MiB

BAD_PATHS = ["../x", "/etc/passwd", "a/../../b", "C:\\x", "C:x", "a\\b", "..", "a/\x00b"]


def put_bytes(store: ArtifactStore, path: str, data: bytes) -> None:
    store.put_stream(io.BytesIO(data), path)


def get_bytes(store: ArtifactStore, path: str) -> bytes:
    return b"".join(store.iter_bytes(path))


class ChunkRecordingStream(io.RawIOBase):
    """A non-seekable source of ``size`` bytes that records how it is read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.max_read = 0
        self.unbounded_reads = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            self.unbounded_reads += 1
            n = self.size - self.position
        self.max_read = max(self.max_read, n)
        n = min(n, self.size - self.position)
        # Content depends on position so that misplaced parts would show up.
        block = (self.position // 4096).to_bytes(8, "big") * (n // 8 + 1)
        data = block[:n]
        self.position += n
        self.digest.update(data)
        return data


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("large") / "large.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(LARGE_SIZE // MiB):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            f.write(chunk)
    return path, digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStoreContract:
    """Behaviour every ArtifactStore must show. Subclasses provide ``store``."""

    @pytest.fixture
    def store(self) -> ArtifactStore:
        raise NotImplementedError

    # -- writing and reading -------------------------------------------------

    def test_put_stream_get_round_trip(self, store: ArtifactStore) -> None:
        data = b"\x00\x01binary\xffdata" * 100
        put_bytes(store, "model/weights.bin", data)
        assert get_bytes(store, "model/weights.bin") == data

    def test_put_file_and_get_file(self, store: ArtifactStore, tmp_path: Path) -> None:
        source = tmp_path / "source.txt"
        source.write_bytes(b"hello artifacts\n")
        store.put_file(source, "docs/readme.txt")
        target = store.get_file("docs/readme.txt", tmp_path / "out" / "readme.txt")
        assert target == tmp_path / "out" / "readme.txt"
        assert target.read_bytes() == b"hello artifacts\n"
        assert sorted(p.name for p in target.parent.iterdir()) == ["readme.txt"]

    def test_empty_file(self, store: ArtifactStore) -> None:
        put_bytes(store, "empty", b"")
        assert store.exists("empty")
        assert store.size("empty") == 0
        assert get_bytes(store, "empty") == b""

    def test_overwrite_replaces(self, store: ArtifactStore) -> None:
        put_bytes(store, "a.txt", b"first version, longer")
        put_bytes(store, "a.txt", b"second")
        assert get_bytes(store, "a.txt") == b"second"
        assert store.size("a.txt") == 6
        assert [i.path for i in store.list()] == ["a.txt"]

    def test_iter_bytes_yields_chunks(self, store: ArtifactStore) -> None:
        data = os.urandom(3 * 64 * 1024 + 5)
        put_bytes(store, "chunky.bin", data)
        chunks = list(store.iter_bytes("chunky.bin", chunk_size=64 * 1024))
        assert len(chunks) >= 4
        assert all(0 < len(c) <= 64 * 1024 for c in chunks)
        assert b"".join(chunks) == data

    def test_paths_are_normalised(self, store: ArtifactStore) -> None:
        put_bytes(store, "./a//b/./c.txt", b"x")
        assert store.exists("a/b/c.txt")
        assert [i.path for i in store.walk()] == ["a/b/c.txt"]

    # -- listing -------------------------------------------------------------

    def test_list_children(self, store: ArtifactStore) -> None:
        put_bytes(store, "b.txt", b"bb")
        put_bytes(store, "a.txt", b"a")
        put_bytes(store, "model/MLmodel", b"flavors")
        put_bytes(store, "model/data/weights.bin", b"w" * 10)
        put_bytes(store, "plots/roc.png", b"png")

        root = store.list()
        assert [(i.path, i.is_dir, i.size) for i in root] == [
            ("a.txt", False, 1),
            ("b.txt", False, 2),
            ("model", True, None),
            ("plots", True, None),
        ]
        model = store.list("model")
        assert [(i.path, i.is_dir, i.size) for i in model] == [
            ("model/MLmodel", False, 7),
            ("model/data", True, None),
        ]
        assert [(i.path, i.size) for i in store.list("model/data/")] == [
            ("model/data/weights.bin", 10)
        ]
        assert store.list("no/such/folder") == []

    def test_list_does_not_mix_siblings_with_common_prefix(self, store: ArtifactStore) -> None:
        put_bytes(store, "run/x", b"1")
        put_bytes(store, "run2/y", b"2")
        assert [i.path for i in store.list("run")] == ["run/x"]

    def test_walk(self, store: ArtifactStore) -> None:
        for path in ["z.txt", "a/1.txt", "a/b/2.txt", "a/b/c/3.txt", "d/4.txt"]:
            put_bytes(store, path, path.encode())
        assert sorted(i.path for i in store.walk()) == [
            "a/1.txt",
            "a/b/2.txt",
            "a/b/c/3.txt",
            "d/4.txt",
            "z.txt",
        ]
        below_a = {i.path: i.size for i in store.walk("a")}
        assert below_a == {"a/1.txt": 7, "a/b/2.txt": 9, "a/b/c/3.txt": 11}
        assert all(not i.is_dir for i in store.walk())
        assert list(store.walk("missing")) == []

    # -- exists, size, delete ------------------------------------------------

    def test_exists_and_size(self, store: ArtifactStore) -> None:
        put_bytes(store, "dir/file.bin", b"12345")
        assert store.exists("dir/file.bin")
        assert not store.exists("dir/other.bin")
        assert not store.exists("dir")  # a folder is not a file
        assert store.size("dir/file.bin") == 5

    def test_delete_file(self, store: ArtifactStore) -> None:
        put_bytes(store, "keep.txt", b"k")
        put_bytes(store, "dir/gone.txt", b"g")
        store.delete("dir/gone.txt")
        assert not store.exists("dir/gone.txt")
        assert [i.path for i in store.list()] == ["keep.txt"]
        store.delete("dir/gone.txt")  # missing is fine

    def test_delete_folder(self, store: ArtifactStore) -> None:
        put_bytes(store, "keep/x.txt", b"x")
        put_bytes(store, "keepsake.txt", b"k")
        for i in range(5):
            put_bytes(store, f"tmp/{i}.txt", b"t")
            put_bytes(store, f"tmp/sub/{i}.txt", b"t")
        store.delete("tmp")
        assert sorted(i.path for i in store.walk()) == ["keep/x.txt", "keepsake.txt"]
        store.delete("keep")
        assert [i.path for i in store.walk()] == ["keepsake.txt"]
        store.delete("")
        assert store.list() == []

    # -- errors --------------------------------------------------------------

    def test_missing_file_is_not_found(self, store: ArtifactStore, tmp_path: Path) -> None:
        with pytest.raises(NotFound, match="nope/missing.bin"):
            store.iter_bytes("nope/missing.bin")
        with pytest.raises(NotFound, match="missing.bin"):
            store.size("missing.bin")
        target = tmp_path / "dl" / "missing.bin"
        with pytest.raises(NotFound):
            store.get_file("missing.bin", target)
        assert not target.exists()
        assert list(target.parent.iterdir()) == []  # no .part left behind

    def test_folder_is_not_a_file(self, store: ArtifactStore) -> None:
        put_bytes(store, "folder/inner.txt", b"i")
        with pytest.raises(NotFound):
            store.iter_bytes("folder")
        with pytest.raises(NotFound):
            store.size("folder")

    @pytest.mark.parametrize("bad", BAD_PATHS)
    def test_path_escapes_are_refused(self, store: ArtifactStore, bad: str) -> None:
        with pytest.raises(InvalidArgument):
            put_bytes(store, bad, b"evil")
        for op in (store.iter_bytes, store.exists, store.size, store.delete, store.list):
            with pytest.raises(InvalidArgument):
                op(bad)
        with pytest.raises(InvalidArgument):
            list(store.walk(bad))
        assert list(store.walk()) == []

    def test_empty_path_is_refused_for_files(self, store: ArtifactStore) -> None:
        with pytest.raises(InvalidArgument):
            put_bytes(store, "", b"x")
        with pytest.raises(InvalidArgument):
            store.size("")

    # -- large files and streaming -------------------------------------------

    def test_large_file_round_trip(
        self, store: ArtifactStore, large_file: tuple[Path, str], tmp_path: Path
    ) -> None:
        source, digest = large_file
        uploaded: list[int] = []
        store.put_file(source, "big/large.bin", progress=uploaded.append)
        assert sum(uploaded) == LARGE_SIZE
        assert store.size("big/large.bin") == LARGE_SIZE

        downloaded: list[int] = []
        out = tmp_path / "downloads"
        target = store.get_file("big/large.bin", out / "large.bin", progress=downloaded.append)
        assert sum(downloaded) == LARGE_SIZE
        assert max(downloaded) <= CHUNK_SIZE
        assert sha256_of(target) == digest
        assert [p.name for p in out.iterdir()] == ["large.bin"]  # no .part left

    def test_upload_reads_the_source_in_chunks(self, store: ArtifactStore) -> None:
        source = ChunkRecordingStream(LARGE_SIZE)
        store.put_stream(source, "streamed.bin")  # type: ignore[arg-type]
        assert source.unbounded_reads == 0
        assert 0 < source.max_read <= MAX_READ < LARGE_SIZE
        assert store.size("streamed.bin") == LARGE_SIZE
        digest = hashlib.sha256()
        for chunk in store.iter_bytes("streamed.bin"):
            digest.update(chunk)
        assert digest.hexdigest() == source.digest.hexdigest()


class TestLocalArtifactStore(ArtifactStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ArtifactStore:
        return LocalArtifactStore(tmp_path / "artifacts")

    def test_escapes_write_nothing_outside_root(self, store: ArtifactStore, tmp_path: Path) -> None:
        for bad in BAD_PATHS:
            with pytest.raises(InvalidArgument):
                put_bytes(store, bad, b"evil")
        assert sorted(p.name for p in tmp_path.iterdir()) == []

    def test_symlink_out_of_root_is_refused(self, tmp_path: Path) -> None:
        root = tmp_path / "artifacts"
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_bytes(b"secret")
        root.mkdir()
        (root / "link").symlink_to(outside, target_is_directory=True)
        store = LocalArtifactStore(root)
        with pytest.raises(InvalidArgument, match="symlink"):
            put_bytes(store, "link/new.txt", b"evil")
        with pytest.raises(InvalidArgument, match="symlink"):
            store.iter_bytes("link/secret.txt")
        assert store.list() == []  # the link leads out, so it is not listed
        store.delete("link")  # removes the link, never what it points at
        assert not (root / "link").exists()
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]

    def test_write_leaves_no_temporary_files(self, store: LocalArtifactStore) -> None:
        put_bytes(store, "x/y.bin", b"data")
        put_bytes(store, "x/y.bin", b"more data")
        assert sorted(p.name for p in (store.root / "x").iterdir()) == ["y.bin"]

    def test_failed_stream_keeps_old_file(self, store: LocalArtifactStore) -> None:
        class Broken(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def read(self, n: int | None = -1) -> bytes:
                raise RuntimeError("source died")

        put_bytes(store, "f.bin", b"old")
        with pytest.raises(RuntimeError, match="source died"):
            store.put_stream(Broken(), "f.bin")  # type: ignore[arg-type]
        assert get_bytes(store, "f.bin") == b"old"
        assert sorted(p.name for p in store.root.iterdir()) == ["f.bin"]


@pytest.mark.s3
class TestS3ArtifactStore(ArtifactStoreContract):
    @pytest.fixture
    def store(self, s3_bucket: str, s3_endpoint: str) -> ArtifactStore:
        return S3ArtifactStore(f"s3://{s3_bucket}/some/prefix", endpoint_url=s3_endpoint)

    def test_keys_live_under_the_prefix(self, store: S3ArtifactStore) -> None:
        put_bytes(store, "a/b.txt", b"x")
        keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=store.bucket)["Contents"]]
        assert keys == ["some/prefix/a/b.txt"]

    def test_large_upload_is_multipart(
        self, store: S3ArtifactStore, large_file: tuple[Path, str]
    ) -> None:
        store.put_file(large_file[0], "big.bin")
        head = store.client.head_object(Bucket=store.bucket, Key="some/prefix/big.bin")
        assert head["ETag"].strip('"').endswith("-3")  # 20 MiB in 8 MiB parts

    def test_missing_bucket_is_not_found(self, s3_endpoint: str, s3_bucket: str) -> None:
        store = S3ArtifactStore("s3://no-such-bucket-dockyard/p", endpoint_url=s3_endpoint)
        with pytest.raises(NotFound, match="no-such-bucket-dockyard"):
            store.iter_bytes("x")
        with pytest.raises(NotFound, match="no-such-bucket-dockyard"):
            store.list()
        with pytest.raises(NotFound, match="no-such-bucket-dockyard"):
            put_bytes(store, "x", b"x")
        with pytest.raises(NotFound, match="no-such-bucket-dockyard"):
            store.exists("x")

    def test_delete_in_batches(
        self, store: S3ArtifactStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # moto answers a few hundred requests a second, so 1001 real keys would
        # dominate this file's runtime; a smaller batch exercises the same loop.
        monkeypatch.setattr(s3_module, "DELETE_BATCH", 10)
        for i in range(25):
            put_bytes(store, f"many/{i}", b"")
        put_bytes(store, "kept", b"k")
        store.delete("many")
        assert [i.path for i in store.walk()] == ["kept"]


class TestS3IsOptional:
    def test_importing_the_stores_does_not_import_boto3(self) -> None:
        code = "import sys, dockyard.store.artifacts; print('boto3' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
        assert out.stdout.strip() == b"False"

    def test_missing_boto3_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "boto3", None)  # makes "import boto3" fail
        with pytest.raises(MissingExtra, match=r"dockyard\[s3\]"):
            S3ArtifactStore("s3://bucket/prefix")


class TestArtifactStoreFor:
    def test_plain_path_and_file_uri_are_local(self, tmp_path: Path) -> None:
        plain = artifact_store_for(str(tmp_path / "a"))
        assert isinstance(plain, LocalArtifactStore)
        assert plain.root == (tmp_path / "a").resolve()
        uri = artifact_store_for((tmp_path / "b c").as_uri())
        assert isinstance(uri, LocalArtifactStore)
        assert uri.root == (tmp_path / "b c").resolve()

    def test_s3_uri(self, s3_bucket: str) -> None:
        store = artifact_store_for(f"s3://{s3_bucket}/pre/fix/")
        assert isinstance(store, S3ArtifactStore)
        assert (store.bucket, store.prefix) == (s3_bucket, "pre/fix")

    @pytest.mark.parametrize(
        "uri", ["", "http://host/artifacts", "https://host/a", "gs://bucket/x", "file://otherhost/x"]
    )
    def test_other_uris_are_refused(self, uri: str) -> None:
        with pytest.raises(InvalidArgument):
            artifact_store_for(uri)


class TestScopedArtifactStore(ArtifactStoreContract):
    """How a run sees its own folder of a local or S3 store."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> ArtifactStore:
        return ScopedArtifactStore(LocalArtifactStore(tmp_path / "root"), "exp/run/artifacts")


class TestHttpArtifactStore(ArtifactStoreContract):
    """A run's artifacts proxied by a live Dockyard server."""

    @pytest.fixture
    def store(self, dockyard_server: ServerProcess) -> Iterator[ArtifactStore]:
        with Client(dockyard_server.url) as client:
            exp = client.create_experiment(f"artifacts-{uuid.uuid4().hex}")
            yield client.run_artifacts(client.create_run(exp.id).id)
