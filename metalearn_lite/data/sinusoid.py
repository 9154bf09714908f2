"""Sinusoid regression tasks, exactly as in the MAML paper (Finn et al. 2017, §5.1).

Each task is a function ``y = A · sin(x − φ)`` with amplitude ``A ~ U[0.1, 5.0]`` and phase
``φ ~ U[0, π]``; inputs are drawn ``x ~ U[−5, 5]``. A K-shot task gives K (x, y) pairs to adapt
on (support) and more pairs of the same function to be scored on (query).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .episodes import Episode, TaskSource, _check_positive, _generator


class SinusoidTasks(TaskSource):
    """K-shot sinusoid regression tasks; the same ``seed`` gives the same tasks.

    Episodes carry ``task["amplitude"]`` and ``task["phase"]``; inputs and targets have shape
    ``(K, 1)`` so that they feed an :class:`~metalearn_lite.models.MLP` directly.
    """

    task_type = "regression"

    def __init__(
        self,
        k_shot: int = 10,
        q_queries: int = 10,
        amplitude: tuple[float, float] = (0.1, 5.0),
        phase: tuple[float, float] = (0.0, math.pi),
        x_range: tuple[float, float] = (-5.0, 5.0),
        seed: int | None = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        _check_positive(k_shot=k_shot, q_queries=q_queries)
        for name, (lo, hi) in {"amplitude": amplitude, "phase": phase, "x_range": x_range}.items():
            if not lo <= hi:
                raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {(lo, hi)}")
        self.k_shot, self.q_queries = k_shot, q_queries
        self.amplitude, self.phase, self.x_range = amplitude, phase, x_range
        self.generator = _generator(seed, generator)

    def __repr__(self) -> str:
        return f"SinusoidTasks({self.k_shot}-shot, {self.q_queries} queries)"

    @staticmethod
    def curve(x: Tensor, amplitude: Tensor | float, phase: Tensor | float) -> Tensor:
        """The task's function ``A · sin(x − φ)``."""
        return amplitude * torch.sin(x - phase)

    def _uniform(self, low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=self.generator)

    def episode(self) -> Episode:
        amplitude = self._uniform(*self.amplitude, 1)[0]
        phase = self._uniform(*self.phase, 1)[0]
        x = self._uniform(*self.x_range, self.k_shot + self.q_queries, 1)
        y = self.curve(x, amplitude, phase)
        k = self.k_shot
        return Episode(x[:k], y[:k], x[k:], y[k:], task={"amplitude": amplitude, "phase": phase})
