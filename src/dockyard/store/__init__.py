"""Persistence behind interfaces; a URI picks the backend."""

from __future__ import annotations

from dockyard.config import is_http_uri
from dockyard.store.base import MetadataStore


def open_metadata_store(uri: str, user: str | None = None, timeout: float = 30.0,
                        token: str | None = None) -> MetadataStore:
    """``sqlite:///...`` / ``postgresql://...`` in process, ``http(s)://...`` through a server.

    ``token`` is the API token a server is sent (see ``DOCKYARD_TOKEN``).
    """
    if is_http_uri(uri):
        from dockyard.store.rest import RestMetadataStore

        return RestMetadataStore(uri, user=user, timeout=timeout, token=token)
    from dockyard.store.sql import SqlMetadataStore

    return SqlMetadataStore(uri)


__all__ = ["MetadataStore", "open_metadata_store"]
