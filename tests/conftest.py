"""Shared fixtures. Real services (PostgreSQL, an S3 server, a Dockyard server)
are started by the fixtures in ``tests/services`` on loopback."""

pytest_plugins = [
    "tests.services.postgres",
    "tests.services.s3",
]
