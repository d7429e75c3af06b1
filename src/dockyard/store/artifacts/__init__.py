"""Artifact stores: one interface, a backend picked by the artifact URI."""

from __future__ import annotations

import re
from urllib.parse import urlparse
from urllib.request import url2pathname

from dockyard.errors import InvalidArgument
from dockyard.store.artifacts.base import ArtifactStore
from dockyard.store.artifacts.local import LocalArtifactStore
from dockyard.store.artifacts.s3 import S3ArtifactStore

__all__ = [
    "ArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
    "artifact_store_for",
]

# A scheme needs "://" here: "C:\\data" and "C:/data" are Windows paths, not URIs.
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def artifact_store_for(uri: str) -> ArtifactStore:
    """The artifact store for ``uri``.

    A plain path or a ``file://`` URI gives a :class:`LocalArtifactStore`;
    ``s3://bucket/prefix`` gives an :class:`S3ArtifactStore` (which raises
    ``MissingExtra`` without boto3). Raises ``InvalidArgument`` for an empty
    URI, a ``file://`` URI naming another host, or any other scheme.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidArgument("artifact URI must be a non-empty string")
    match = _SCHEME_RE.match(uri)
    if match is None:
        return LocalArtifactStore(uri)
    scheme = match.group(1).lower()
    if scheme == "file":
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgument(
                f"artifact URI {uri!r} names host {parsed.netloc!r}; file:// URIs must be local"
            )
        # url2pathname percent-decodes too; decoding twice would corrupt "%25".
        return LocalArtifactStore(url2pathname(parsed.path))
    if scheme == "s3":
        return S3ArtifactStore(uri)
    raise InvalidArgument(
        f"artifact URI scheme {scheme!r} is not supported (in {uri!r}); "
        "use a folder path, file:///path or s3://bucket/prefix"
    )
