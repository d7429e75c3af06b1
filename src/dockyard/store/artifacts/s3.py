"""Artifacts in an S3-compatible object store (AWS S3, MinIO, Ceph, moto ...).

boto3 is an optional engine (``pip install 'dockyard[s3]'``): it is imported
when a store is made, never when this module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO
from urllib.parse import urlparse

from dockyard.config import get_settings
from dockyard.entities import FileInfo
from dockyard.entities.validation import validate_artifact_path
from dockyard.errors import InvalidArgument, MissingExtra, NotFound, StoreError
from dockyard.store.artifacts.base import CHUNK_SIZE, ArtifactStore, Progress, listing

MULTIPART_THRESHOLD = 8 * 1024 * 1024
MULTIPART_CHUNK_SIZE = 8 * 1024 * 1024
DELETE_BATCH = 1000  # the most keys S3 accepts in one DeleteObjects call

_MISSING_KEY_CODES = {"NoSuchKey", "404", "NotFound"}


class S3ArtifactStore(ArtifactStore):
    """Files under ``s3://bucket/prefix``; a file's key is ``prefix/<path>``.

    ``endpoint_url`` (for S3-compatible servers) defaults to the
    ``DOCKYARD_S3_ENDPOINT_URL`` setting, then ``AWS_ENDPOINT_URL``; credentials
    and region come from boto3's usual chain. ``client`` lets a caller pass a
    configured boto3 S3 client.

    Errors: a bad path raises ``InvalidArgument`` before any request; a
    missing key raises ``NotFound``; a missing bucket raises ``NotFound`` naming
    the bucket; any other S3 or network failure raises ``StoreError`` from the
    botocore exception. Constructing the store without boto3 installed raises
    ``MissingExtra``.

    Folders do not exist on S3: a folder is the common prefix of its files, so
    it lists only while it holds at least one file.
    """

    def __init__(self, uri: str, endpoint_url: str | None = None, client: Any = None) -> None:
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            raise MissingExtra(
                "the S3 artifact store needs boto3: pip install 'dockyard[s3]'"
            ) from None
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidArgument(f"S3 artifact URI {uri!r} must look like s3://bucket/prefix")
        if parsed.query or parsed.fragment:
            raise InvalidArgument(f"S3 artifact URI {uri!r} must not have a query or fragment")
        self.bucket = parsed.netloc
        self.prefix = validate_artifact_path(parsed.path.lstrip("/"), allow_root=True)
        self.uri = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if client is None:
            endpoint_url = (
                endpoint_url
                or get_settings().s3_endpoint_url
                or os.environ.get("AWS_ENDPOINT_URL")
                or None
            )
            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client
        self._client_error = ClientError
        self._botocore_errors = (BotoCoreError, ClientError)
        self._transfer_config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNK_SIZE,
            # The CRT transfer client, when installed, reports progress and
            # reads streams differently; keep one predictable behaviour.
            preferred_transfer_client="classic",
        )
        # HEAD answers 404 for a missing bucket as well as a missing key; the
        # bucket is checked once, on the first 404, to tell the two apart.
        self._bucket_checked = False

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.uri!r})"

    # -- keys and errors -----------------------------------------------------

    def _key(self, path: str, *, allow_root: bool = False) -> tuple[str, str]:
        normal = validate_artifact_path(path, allow_root=allow_root)
        if not self.prefix:
            return normal, normal
        return normal, f"{self.prefix}/{normal}" if normal else self.prefix

    def _folder_prefix(self, key: str) -> str:
        return f"{key}/" if key else ""

    def _relative(self, key: str) -> str | None:
        """The store path of ``key``, or None for keys no path can name.

        Keys written by other tools may hold empty segments or ``..``; they
        are skipped rather than returned as paths that would then be refused
        (or, for ``a//b``, make ``walk`` list the same folder forever).
        """
        rel = key[len(self.prefix) + 1 :] if self.prefix else key
        try:
            normal = validate_artifact_path(rel)
        except InvalidArgument:
            return None
        return normal if normal == rel else None

    def _translate(self, err: Exception, what: str) -> Exception:
        target = repr(what) if what else "the store root"
        if isinstance(err, self._client_error):
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket":
                return NotFound(f"S3 bucket {self.bucket!r} does not exist", bucket=self.bucket)
            if code in _MISSING_KEY_CODES:
                return NotFound(f"artifact {what!r} is missing (in {self.uri})", path=what)
            message = error.get("Message") or str(err)
            return StoreError(f"S3 request for {target} in {self.uri} failed ({code}): {message}")
        return StoreError(f"S3 request for {target} in {self.uri} failed: {err}")

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._botocore_errors as e:
            raise self._translate(e, what) from e

    def _missing(self, normal: str) -> NotFound:
        """NotFound for a 404 on a key, naming the bucket if that is what is missing."""
        if not self._bucket_checked:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except self._client_error as e:
                if str(e.response.get("Error", {}).get("Code")) in {"404", "NoSuchBucket"}:
                    return NotFound(
                        f"S3 bucket {self.bucket!r} does not exist", bucket=self.bucket
                    )
                raise self._translate(e, normal) from e
            except self._botocore_errors as e:
                raise self._translate(e, normal) from e
            self._bucket_checked = True
        return NotFound(f"artifact {normal!r} is missing (in {self.uri})", path=normal)

    def _head(self, path: str) -> tuple[str, dict[str, Any] | None]:
        normal, key = self._key(path)
        try:
            return normal, self.client.head_object(Bucket=self.bucket, Key=key)
        except self._client_error as e:
            if str(e.response.get("Error", {}).get("Code")) in _MISSING_KEY_CODES:
                return normal, None
            raise self._translate(e, normal) from e
        except self._botocore_errors as e:
            raise self._translate(e, normal) from e

    # -- writes --------------------------------------------------------------

    def put_stream(self, stream: BinaryIO, path: str, progress: Progress | None = None) -> None:
        """Upload ``stream`` to ``path``; multipart above 8 MiB.

        The stream is read in parts of at most 8 MiB, never whole. S3 makes
        the object visible only once the upload completes, so a reader sees
        the old object or the whole new one; a failed multipart upload is
        aborted. ``progress`` may be called from worker threads. Raises
        InvalidArgument for a bad path, NotFound for a missing bucket,
        StoreError for other S3 failures.
        """
        normal, key = self._key(path)
        with self._errors(normal):
            self.client.upload_fileobj(
                stream, self.bucket, key, Config=self._transfer_config, Callback=progress
            )

    def delete(self, path: str) -> None:
        """Delete the file ``path`` and every file below the folder ``path``.

        Missing is fine. Keys are deleted in batches of 1000. Raises
        InvalidArgument for a bad path, NotFound for a missing bucket,
        StoreError if S3 refuses any key.
        """
        normal, key = self._key(path, allow_root=True)
        with self._errors(normal):
            if normal:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            batch: list[dict[str, str]] = []
            for obj in self._objects(self._folder_prefix(key)):
                batch.append({"Key": obj["Key"]})
                if len(batch) == DELETE_BATCH:
                    self._delete_batch(batch, normal)
                    batch = []
            if batch:
                self._delete_batch(batch, normal)

    def _delete_batch(self, batch: list[dict[str, str]], normal: str) -> None:
        response = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StoreError(
                f"S3 refused to delete {len(errors)} object(s) below {normal!r} in {self.uri}; "
                f"first: {first.get('Key')!r} ({first.get('Code')}: {first.get('Message')})"
            )

    # -- reads ---------------------------------------------------------------

    def iter_bytes(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream an object in chunks of at most ``chunk_size`` bytes.

        Raises NotFound (before the first chunk) for a missing key or bucket,
        InvalidArgument for a bad path; a failure mid-stream raises StoreError.
        """
        normal, key = self._key(path)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self._botocore_errors as e:
            raise self._translate(e, normal) from e
        return self._chunks(response["Body"], chunk_size, normal)

    def _chunks(self, body: Any, chunk_size: int, normal: str) -> Iterator[bytes]:
        try:
            with self._errors(normal):
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def list(self, path: str = "") -> list[FileInfo]:
        """Direct children of a folder: files (with sizes) then folders, each by path.

        A missing folder lists as empty. Raises InvalidArgument for a bad
        path, NotFound for a missing bucket, StoreError for other failures.
        """
        normal, key = self._key(path, allow_root=True)
        files: list[FileInfo] = []
        folders: list[FileInfo] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors(normal):
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=self._folder_prefix(key), Delimiter="/"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    rel = self._relative(obj["Key"])
                    if rel is not None:
                        files.append(FileInfo(path=rel, is_dir=False, size=obj["Size"]))
                for common in page.get("CommonPrefixes", []):
                    rel = self._relative(common["Prefix"].rstrip("/"))
                    if rel is not None:
                        folders.append(FileInfo(path=rel, is_dir=True))
        # Keys come back in UTF-8 byte order, which can differ from str order.
        return listing(files, folders)

    def walk(self, path: str = "") -> Iterator[FileInfo]:
        """Every file below ``path``, from one flat listing (not one per folder)."""
        normal, key = self._key(path, allow_root=True)
        with self._errors(normal):
            for obj in self._objects(self._folder_prefix(key)):
                rel = self._relative(obj["Key"])
                if rel is not None:
                    yield FileInfo(path=rel, is_dir=False, size=obj["Size"])

    def exists(self, path: str) -> bool:
        """True if ``path`` is a file. Raises NotFound for a missing bucket."""
        normal, head = self._head(path)
        if head is None:
            missing = self._missing(normal)
            if "bucket" in missing.details:
                raise missing
            return False
        return True

    def size(self, path: str) -> int:
        """Size in bytes. Raises NotFound for a missing key or bucket."""
        normal, head = self._head(path)
        if head is None:
            raise self._missing(normal)
        return int(head["ContentLength"])
