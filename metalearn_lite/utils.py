"""Small helpers shared by the whole library: argument checks, seeding, devices, confidence intervals."""
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


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as a Python int if it is a Python or NumPy integer >= ``minimum``, else a ValueError
    that names the argument (bools, floats such as 2.0 and strings are refused, never rounded)."""
    if not is_integer(value) or value < minimum:
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def check_number(name: str, value: object, low: float = 0.0, high: float = math.inf,
                 low_open: bool = True, high_open: bool = True) -> float:
    """``value`` as a Python float if it is a Python or NumPy real number in the interval from
    ``low`` to ``high`` (open at each end where ``*_open``; the default is ``(0, inf)``: positive and
    finite), else a ValueError that names the argument and the interval. NaN is always refused."""
    ok = is_real(value) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        if (low, high, low_open, high_open) == (0.0, math.inf, True, True):
            what = "a positive finite number"
        else:
            what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def check_seed(name: str, seed: object) -> int | None:
    """``None`` or a Python or NumPy integer >= 0, returned as a Python int (``None`` stays ``None``)."""
    if seed is None:
        return None
    if not is_integer(seed) or seed < 0:
        raise ValueError(f"{name} must be an integer >= 0 or None, got {seed!r}")
    return int(seed)


def first_line(error: BaseException) -> str:
    """``"TypeName: first line of the message"`` (just the type name for an empty message), for
    quoting an error inside another error's message."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def first_non_finite(tensors) -> str | None:
    """The name of the first floating-point tensor of a mapping (e.g. a state dict) holding NaN or
    ±inf, or None; the finiteness of all tensors is read back from the device once."""
    floats = {k: v for k, v in tensors.items() if isinstance(v, Tensor) and v.is_floating_point()}
    if not floats:
        return None
    finite = torch.stack([torch.isfinite(v.detach()).all() for v in floats.values()])
    if bool(finite.all()):
        return None
    return list(floats)[int((~finite).nonzero()[0])]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch so that CPU runs repeat exactly; returns a seeded generator."""
    if not is_integer(seed):
        raise ValueError(f"seed must be an integer (Python or NumPy), got {seed!r}")
    seed = int(seed)
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
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be a torch.device or a string such as 'cpu', 'cuda' or 'cuda:0', got {device!r}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r}, but CUDA is not available on this machine: pass device='cpu' "
                         f"(or device=None, which picks CUDA only where it exists)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device={str(device)!r}, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def mean_ci95(values: Tensor | list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval, ``1.96 · s / √n``.

    ``s`` is the sample standard deviation (``n - 1`` in the denominator), the convention of
    few-shot papers that report "accuracy ± 95% CI over 600 episodes".
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise ValueError("need at least one value for a mean")
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{int((~torch.isfinite(v)).sum())} of the {v.numel()} values are NaN or ±inf (the first at "
                         f"index {int((~torch.isfinite(v)).nonzero()[0])}): a mean and interval of them would be NaN; "
                         f"find where the non-finite values come from")
    if v.numel() == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(1.96 * v.std(unbiased=True) / math.sqrt(v.numel()))
