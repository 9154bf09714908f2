"""A small synthetic family of classification tasks, for fast tests and quick demonstrations.

Every class is a Gaussian blob in ``dim`` dimensions. Only the first ``informative``
coordinates separate the classes; the remaining ones are loud noise shared by all classes. Raw
nearest neighbour is therefore poor, while a learner that *meta-learns* which coordinates
matter (e.g. a linear embedding trained on episodes) becomes nearly perfect on new classes —
a miniature of what meta-learning does on images, in a second of CPU time.
"""
from __future__ import annotations

import math

import torch

from ..utils import check_int, check_number, check_seed
from .dataset import FewShotDataset


def make_blob_classes(
    num_classes: int = 64,
    per_class: int = 20,
    dim: int = 32,
    informative: int = 4,
    spread: float = 0.3,
    noise: float = 3.0,
    groups: int = 4,
    seed: int = 0,
) -> FewShotDataset:
    """``num_classes`` classes of ``per_class`` points; class means ~ N(0, I) on the informative
    coordinates, within-class std ``spread`` there; std ``noise`` on the other coordinates.
    Classes are dealt round-robin into ``groups`` "alphabets" named ``group0``, ``group1``, … so
    that splits by alphabet work as on Omniglot."""
    sizes = {"num_classes": num_classes, "per_class": per_class, "dim": dim, "informative": informative, "groups": groups}
    num_classes, per_class, dim, informative, groups = (check_int(name, value) for name, value in sizes.items())
    if informative > dim:
        raise ValueError(f"informative={informative} coordinates cannot exceed dim={dim}")
    spread = check_number("spread", spread, 0, math.inf, low_open=False)
    noise = check_number("noise", noise, 0, math.inf, low_open=False)
    g = torch.Generator()
    g.manual_seed(check_seed("seed", seed) or 0)
    means = torch.zeros(num_classes, dim)
    means[:, :informative] = torch.randn(num_classes, informative, generator=g)
    scale = torch.full((dim,), noise)
    scale[:informative] = spread
    y = torch.arange(num_classes).repeat_interleave(per_class)
    x = means[y] + scale * torch.randn(len(y), dim, generator=g)
    return FewShotDataset(
        x=x,
        y=y,
        class_names=[f"group{c % groups}/blob{c:03d}" for c in range(num_classes)],
        alphabets=[f"group{c % groups}" for c in range(num_classes)],
        name="blobs",
    )
