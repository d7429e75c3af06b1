"""Dockyard: track, package, deploy and monitor machine-learning models."""

__version__ = "0.1.0"
