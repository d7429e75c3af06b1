"""Manage: model URIs and lineage over the metadata store (the registry itself is in the store)."""
