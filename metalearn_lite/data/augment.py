"""Data augmentation for image episodes: a small random affine distortion of each image.

Lake et al. (2015) allowed one-shot learners to use small affine distortions of the training
images. :func:`random_affine` draws one for every image of a batch — a rotation, a scale, a
shear and a shift — and resamples the image bilinearly. Its signature ``(x, generator) -> x``
fits the episode sampler's ``transform=`` hook, so distortions come from the sampler's own seeded
generator and a run is reproducible::

    sampler = EpisodeSampler(train_set, 5, 1, 5, seed=0, transform=random_affine)

Other strengths: ``functools.partial(random_affine, degrees=15.0, shift_px=3.0)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["random_affine"]


def random_affine(x: Tensor, generator: torch.Generator, degrees: float = 10.0, scale: float = 0.1,
                  shear: float = 0.1, shift_px: float = 2.0) -> Tensor:
    """Each image of ``x`` ``(B, C, H, W)`` (ink = 1, background 0) under its own small random affine map.

    Per image, independently and uniformly: a rotation in ±``degrees``, a zoom in
    ``1 ± scale``, a shear in ±``shear`` and a shift in ±``shift_px`` pixels along each axis.
    Pixels mapped from outside the image are background (0). The numbers come from
    ``generator`` only, so a seeded generator gives the same distortions every time.
    ``degrees = scale = shear = shift_px = 0`` is the identity map.
    """
    b, _, h, w = x.shape

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(b, generator=generator)

    # the draws' order (angle, zoom, shear, x shift, y shift) fixes which image gets which map
    angle = uniform(-degrees, degrees) * math.pi / 180
    zoom = uniform(1 - scale, 1 + scale)
    sh = uniform(-shear, shear)
    tx, ty = uniform(-shift_px, shift_px) * 2 / w, uniform(-shift_px, shift_px) * 2 / h  # in [-1, 1] grid units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # theta maps output coordinates to input ones: (B, 2, 3)
    theta = torch.stack([torch.stack([cos, -sin + sh, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
