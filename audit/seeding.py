"""Explicit seeds, never global state.

Library code receives a seed (int) and derives what it needs from it. Torch layer
constructors draw their initial weights from torch's global generator; so that
building a model neither depends on nor disturbs the caller's global state, models
are built inside :func:`isolated_torch_seed`, which forks the generator, seeds the
fork and restores the caller's state on exit.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator

import numpy as np

from .errors import bad_value


def check_seed(seed: object, param: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
        raise bad_value(param, "an integer in [0, 2**63)", seed)
    return int(seed)


def derive_seed(seed: int, *labels: object) -> int:
    """A stable child seed for a named sub-task (same inputs, same output, any platform)."""
    text = ":".join([str(int(seed))] + [str(x) for x in labels]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def rng(seed: int, *labels: object) -> np.random.Generator:
    """A numpy Generator for ``seed`` and an optional sub-task label."""
    return np.random.default_rng(derive_seed(seed, *labels) if labels else check_seed(seed))


@contextlib.contextmanager
def isolated_torch_seed(seed: int) -> Iterator[None]:
    """Run a block with torch's CPU generator seeded, restoring the caller's state after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(check_seed(seed))
        yield
