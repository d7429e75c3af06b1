"""Readable generated run names, like ``brisk-heron-417``."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber brave brisk calm clever crisp dapper eager fierce gentle glossy golden "
    "hardy jolly keen lively lucid merry mellow nimble noble polished quiet rapid "
    "rustic serene sharp silent sleek smooth snappy steady sunny swift tidy vivid"
).split()
_NOUNS = (
    "albatross badger beacon bison cedar comet condor cove crane delta dune falcon "
    "fjord gull harbor heron hull jetty keel kestrel lagoon lantern marlin mast "
    "orca otter pelican pier puffin reef schooner seal skiff tern tide walrus wharf"
).split()


def generate_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"
