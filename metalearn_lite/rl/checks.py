"""Argument and divergence checks shared by :mod:`metalearn_lite.rl` (the general ones, such as
:func:`metalearn_lite.utils.check_number`, live in :mod:`metalearn_lite.utils`).

Training loops stop at the first non-finite loss or weight and name the step, as
:func:`metalearn_lite.meta_train` does: the helpers below raise :class:`NonFiniteError`, and
:func:`at_step` rewrites it with the step number and the training loop's own advice.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Mapping

import numpy as np
import torch
from torch import Tensor

from ..utils import check_number, first_non_finite, is_real

FLOAT32_MAX = float(torch.finfo(torch.float32).max)


class NonFiniteError(FloatingPointError):
    """A value became NaN or ±inf: ``what`` says which, ``hint`` what to try."""

    def __init__(self, what: str, hint: str) -> None:
        self.what, self.hint = what, hint
        super().__init__(f"{what}; {hint}")


@contextmanager
def at_step(place: str, hint: str) -> Iterator[None]:
    """Re-raise a :class:`NonFiniteError` from inside as ``"<what> <place>; <hint>"``, e.g. with
    ``place = "at step 3"`` and the training loop's own ``hint``."""
    try:
        yield
    except NonFiniteError as error:
        raise NonFiniteError(f"{error.what} {place}", hint) from None


def check_finite_loss(name: str, value: Tensor, hint: str, step: int | None = None) -> None:
    """A :class:`NonFiniteError` "<name> became nan [at step <step>]; <hint>" if the scalar ``value``
    is NaN or ±inf."""
    number = float(value.detach())
    if not math.isfinite(number):
        raise NonFiniteError(f"{name} became {number}" + ("" if step is None else f" at step {step}"), hint)


def check_finite_weights(name: str, tensors: Mapping[str, Tensor], hint: str, step: int | None = None) -> None:
    """A :class:`NonFiniteError` naming the first tensor of ``tensors`` that holds NaN or ±inf."""
    bad = first_non_finite(tensors)
    if bad is not None:
        at = "" if step is None else f" at step {step}"
        raise NonFiniteError(f"{name} became NaN or ±inf{at} (first: {bad})", hint)


def check_gamma(gamma: object) -> float:
    """The discount γ as a float in [0, 1]."""
    return check_number("gamma (the discount)", gamma, 0.0, 1.0, low_open=False, high_open=False)


def check_lr(lr: object, dtype: torch.dtype = torch.float32) -> float:
    """A learning rate: positive, and below the largest number of the weights' ``dtype`` (an
    optimiser cannot apply a step size that the weights' type cannot hold)."""
    high = float(torch.finfo(dtype).max)
    if not is_real(lr) or not 0 < lr < high:  # NaN fails too
        raise ValueError(f"lr (the learning rate) must be a positive number below {high:.3g} (the largest "
                         f"{str(dtype).removeprefix('torch.')}, the weights' type), got {lr!r}")
    return float(lr)


def check_non_negative(name: str, value: object) -> float:
    """A finite number >= 0 (e.g. a step size or coefficient where 0 switches the term off)."""
    return check_number(name, value, 0.0, math.inf, low_open=False)


def check_cpu_seconds(cpu_seconds: object) -> float | None:
    """None, or a positive finite number of CPU seconds."""
    return None if cpu_seconds is None else check_number("cpu_seconds", cpu_seconds)


def check_bool(name: str, value: object) -> bool:
    """A Python or NumPy bool (not an int or a string, which would be read as True or False silently)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_arms(name: str, actions: object, k: int, shape: tuple[int, ...] | None = None) -> Tensor:
    """``actions`` as a long tensor of arm indices in 0 … k − 1 (of ``shape`` when given); the
    errors begin with ``name`` (who produced the actions)."""
    if not isinstance(actions, Tensor):
        raise ValueError(f"{name} must be a torch tensor of arm indices, got {type(actions).__name__}")
    if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of arm indices (e.g. torch.long), got dtype {actions.dtype}")
    if shape is not None and tuple(actions.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(actions.shape)}")
    if actions.numel() and (bool((actions < 0).any()) or bool((actions >= k).any())):
        bad = actions[(actions < 0) | (actions >= k)].flatten()[:5].tolist()
        raise ValueError(f"{name} must be arm indices in 0 … {k - 1} (k = {k} arms), got {bad}")
    return actions.long()


__all__ = [
    "FLOAT32_MAX", "NonFiniteError", "at_step", "check_arms", "check_bool", "check_cpu_seconds", "check_finite_loss",
    "check_finite_weights", "check_gamma", "check_lr", "check_non_negative", "first_non_finite",
]
