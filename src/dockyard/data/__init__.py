"""Data preparation: dataset versions, data checks, feature steps and feature tables.

- :mod:`dockyard.data.datasets`: log, read and resolve dataset versions
  (``dockyard.log_dataset`` and ``dockyard.load_dataset`` are the short way);
- :mod:`dockyard.data.diff`: compare two versions from their profiles;
- :mod:`dockyard.data.checks`: declarative data checks run by DuckDB;
- :mod:`dockyard.data.feature_store`: feature tables, point-in-time training
  frames and the online store (:mod:`dockyard.data.online`).

Feature steps packaged with a model are in :mod:`dockyard.models.features`.
"""
