"""A labelled image (or vector) dataset organised by class, the raw material of episodes.

Every few-shot data source in the library (Omniglot, the synthetic tasks) becomes a
:class:`FewShotDataset`: one tensor of examples, one tensor of integer class labels, and a
name for every class (for Omniglot ``"Greek/character07"``) with the alphabet it belongs to,
so that meta-training and meta-testing can be split *by alphabet* as in Lake et al. (2015).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class FewShotDataset:
    """Examples ``x`` of shape ``(M, ...)`` with class labels ``y`` in ``0..num_classes-1``.

    ``class_names[c]`` names class ``c``; ``alphabets[c]`` (optional) is the group it belongs
    to, used by :meth:`split_by_alphabet`.
    """

    x: Tensor
    y: Tensor
    class_names: list[str]
    alphabets: list[str] | None = None
    name: str = "dataset"
    _by_class: list[Tensor] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"x has {self.x.shape[0]} examples but y has {self.y.shape[0]} labels; "
                "they must have the same length"
            )
        if self.y.dtype != torch.long or self.y.dim() != 1:
            raise ValueError(f"y must be a 1-D tensor of int64 class labels, got {self.y.dtype} {tuple(self.y.shape)}")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
            raise ValueError(
                f"labels must lie in 0..{len(self.class_names) - 1} (one per class name), "
                f"got labels in {int(self.y.min())}..{int(self.y.max())}"
            )
        if self.alphabets is not None and len(self.alphabets) != len(self.class_names):
            raise ValueError(f"{len(self.alphabets)} alphabets given for {len(self.class_names)} classes")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def indices_by_class(self) -> list[Tensor]:
        """``indices_by_class[c]`` holds the positions of class ``c``'s examples (computed once)."""
        if self._by_class is None:
            order = torch.argsort(self.y, stable=True)
            counts = torch.bincount(self.y, minlength=self.num_classes).tolist()
            self._by_class = list(torch.split(order, counts))
        return self._by_class

    def class_sizes(self) -> Tensor:
        return torch.bincount(self.y, minlength=self.num_classes)

    def subset(self, classes: list[int] | Tensor, name: str | None = None) -> "FewShotDataset":
        """The dataset restricted to ``classes``, relabelled ``0..len(classes)-1`` in that order."""
        classes = torch.as_tensor(classes, dtype=torch.long)
        if classes.numel() and (classes.min() < 0 or classes.max() >= self.num_classes):
            raise ValueError(f"class ids must lie in 0..{self.num_classes - 1}")
        remap = torch.full((self.num_classes,), -1, dtype=torch.long)
        remap[classes] = torch.arange(len(classes))
        keep = remap[self.y] >= 0
        ids = classes.tolist()
        return FewShotDataset(
            x=self.x[keep],
            y=remap[self.y[keep]],
            class_names=[self.class_names[c] for c in ids],
            alphabets=None if self.alphabets is None else [self.alphabets[c] for c in ids],
            name=name or self.name,
        )

    def alphabet_names(self) -> list[str]:
        """The distinct alphabets, in order of first appearance."""
        if self.alphabets is None:
            raise ValueError(f"{self.name} has no alphabet information to split by")
        return list(dict.fromkeys(self.alphabets))

    def split_by_alphabet(self, alphabets: list[str]) -> tuple["FewShotDataset", "FewShotDataset"]:
        """Split into (classes of ``alphabets``, all other classes): no alphabet is in both."""
        known = set(self.alphabet_names())
        unknown = sorted(set(alphabets) - known)
        if unknown:
            raise ValueError(f"unknown alphabets {unknown}; {self.name} has {sorted(known)}")
        chosen = set(alphabets)
        inside = [c for c, a in enumerate(self.alphabets) if a in chosen]
        outside = [c for c, a in enumerate(self.alphabets) if a not in chosen]
        return self.subset(inside, f"{self.name}[{'+'.join(alphabets)}]"), self.subset(outside, f"{self.name}[rest]")

    def with_rotations(self, angles: tuple[int, ...] = (0, 90, 180, 270)) -> "FewShotDataset":
        """Each class rotated by each angle becomes a class of its own (Santoro et al. 2016).

        Only for square images ``(M, C, H, H)``; class ``c`` rotated by ``angles[r]`` gets label
        ``r * num_classes + c`` and the name ``"<name>/rot<angle>"``.
        """
        if self.x.dim() != 4 or self.x.shape[-1] != self.x.shape[-2]:
            raise ValueError(f"rotations need square images (M, C, H, H), got {tuple(self.x.shape)}")
        bad = [a for a in angles if a % 90]
        if bad:
            raise ValueError(f"angles must be multiples of 90 degrees, got {bad}")
        xs = [torch.rot90(self.x, k=(a // 90) % 4, dims=(-2, -1)) for a in angles]
        ys = [self.y + r * self.num_classes for r in range(len(angles))]
        return FewShotDataset(
            x=torch.cat(xs),
            y=torch.cat(ys),
            class_names=[f"{n}/rot{a}" for a in angles for n in self.class_names],
            alphabets=None if self.alphabets is None else [al for _ in angles for al in self.alphabets],
            name=f"{self.name}+rot",
        )
