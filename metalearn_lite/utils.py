"""Small helpers shared by the whole library: seeding, devices, confidence intervals."""
from __future__ import annotations

import math
import numbers
import random

import numpy as np
import torch
from torch import Tensor


def is_integer(value: object) -> bool:
    """True for a Python or NumPy integer (any :class:`numbers.Integral`), False for a bool and anything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """True for a Python or NumPy real number (int or float, any :class:`numbers.Real`), False for a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch so that CPU runs repeat exactly; returns a seeded generator."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def spawned_seed(seed: int, key: int) -> int:
    """The 64-bit seed of child stream ``key`` of ``seed``: ``SeedSequence(seed, spawn_key=(key,))``.

    The same as ``numpy.random.SeedSequence(seed).spawn(n)[key]``: SeedSequence hashes the pair
    (seed, key), so distinct pairs give unrelated seeds and independent random streams (used for
    the train/test task streams of the RL tasks and for the task streams of distributed ranks).
    """
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(key),)).generate_state(1, np.uint64)[0])


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`; ``None`` means CUDA when present, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def mean_ci95(values: Tensor | list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval, ``1.96 · s / √n``.

    ``s`` is the sample standard deviation (``n - 1`` in the denominator), the convention of
    few-shot papers that report "accuracy ± 95% CI over 600 episodes".
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise ValueError("need at least one value for a mean")
    if v.numel() == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(1.96 * v.std(unbiased=True) / math.sqrt(v.numel()))
