"""Data preparation: dataset versions, data checks, feature steps and feature tables."""
