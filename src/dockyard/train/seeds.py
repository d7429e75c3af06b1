"""Random seeds: set them once, and record them on the run so it can run again.

    import dockyard

    seed = dockyard.set_seed()      # picks one (or reads DOCKYARD_SEED) and records it
    dockyard.set_seed(42)           # or a fixed one

:func:`set_seed` seeds Python's ``random``, NumPy's global generator and,
when they are imported, PyTorch (every device) and TensorFlow, and exports
``PYTHONHASHSEED`` to the processes this one starts (worker processes). The
seed becomes the tag ``dockyard.seed`` of the active run and of every run
the process starts afterwards. A run started after Lightning's
``seed_everything`` records that seed too (``PL_GLOBAL_SEED``).

``dockyard runs reproduce`` exports the recorded seed as ``DOCKYARD_SEED``
and ``PL_GLOBAL_SEED`` in ``run.sh``, so a script that called ``set_seed()``
(or ``seed_everything()``) without a seed gets the same one again. Estimators' own ``random_state`` arguments are params and need nothing
more.
"""

from __future__ import annotations

import os
import random
import sys

from dockyard.errors import InvalidArgument

ENV = "DOCKYARD_SEED"
TAG = "dockyard.seed"
_MAX = 2**32 - 1  # NumPy's legacy seeding takes 0 .. 2**32 - 1

_seed: int | None = None


def _check(seed: object, what: str) -> int:
    try:
        value = int(str(seed).strip()) if isinstance(seed, str) else seed
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX:
        raise InvalidArgument(f"{what} must be an integer from 0 to {_MAX}, got {seed!r}")
    return value


def set_seed(seed: int | None = None) -> int:
    """Seed ``random``, NumPy and (when imported) PyTorch and TensorFlow; record the seed.

    Without ``seed``, uses ``DOCKYARD_SEED`` when it is set, else picks one at
    random. Returns the seed. See the module docstring for what is recorded.
    """
    if seed is None:
        env = os.environ.get(ENV)
        seed = _check(env, ENV) if env else random.SystemRandom().randrange(_MAX)
    else:
        seed = _check(seed, "seed")
    global _seed
    _seed = seed
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for the processes this one starts
    import numpy as np

    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)  # every device, GPUs included
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        tensorflow.random.set_seed(seed)
    from dockyard.train import fluent

    if fluent.active_run() is not None:
        fluent.set_tags({TAG: seed})
    return seed


def current_seed() -> str | None:
    """The seed a new run records: :func:`set_seed`'s, else Lightning's ``PL_GLOBAL_SEED``."""
    if _seed is not None:
        return str(_seed)
    return os.environ.get("PL_GLOBAL_SEED") or None
