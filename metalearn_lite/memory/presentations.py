"""How a memory-based learner's accuracy grows with the presentations of a class (Santoro et al.
2016, Figure 2 and Table 1): the 1st presentation of a class in an episode can only be guessed,
later ones can be read from memory.

* :func:`presentation_numbers` — for a sequence of labels, how many times each has appeared so far;
* :func:`accuracy_by_presentation` — a :class:`~metalearn_lite.memory.MANN`'s accuracy at the 1st,
  2nd, … presentation, mean and 95% CI over episodes (a :class:`PresentationCurve`).

Split from :mod:`metalearn_lite.memory.mann` (which re-exports all three), so that the learner's
module holds the learner only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..data.episodes import TaskSource
from ..protocol import check_tensor
from ..utils import is_integer, mean_ci95

if TYPE_CHECKING:
    from .mann import MANN


def presentation_numbers(labels: Tensor) -> Tensor:
    """For a sequence of labels ``(…, T)``: how many times each label has appeared so far, counting this one."""
    check_tensor("labels", labels, labels=True)
    if labels.dim() == 0:
        raise ValueError("labels must be a sequence (…, T) of labels, got a 0-d tensor")
    same = labels[..., :, None] == labels[..., None, :]  # [t, s]: same label
    return torch.tril(same).sum(-1)


@dataclass
class PresentationCurve:
    """Accuracy at the p-th presentation of a class (p = 1, 2, …), mean and 95% CI over episodes."""

    accuracy: list[float]
    ci95: list[float]
    episodes: int

    def __getitem__(self, presentation: int) -> float:
        """``curve[p]``: accuracy at the p-th presentation (1-based, as in the paper)."""
        if not 1 <= presentation <= len(self.accuracy):
            raise IndexError(f"presentations are numbered 1..{len(self.accuracy)}, got {presentation}")
        return self.accuracy[presentation - 1]

    def __str__(self) -> str:
        return "  ".join(f"{p + 1}: {100 * a:.1f}%" for p, a in enumerate(self.accuracy)) + f"  ({self.episodes} episodes)"

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "ci95": self.ci95, "episodes": self.episodes}


@torch.no_grad()
def accuracy_by_presentation(
    learner: "MANN", tasks: TaskSource, episodes: int = 100, seed: int = 0, device=None, batch_size: int = 50,
) -> PresentationCurve:
    """Accuracy at the 1st, 2nd, … presentation of a class in MANN's episode sequences.

    Each of ``episodes`` episodes from ``tasks`` (support and query together: a class with K + Q
    examples is presented K + Q times) is shuffled into one sequence (order drawn from ``seed``)
    and run through the learner (label k in slot k, as at test time). The score of an episode at
    presentation p is its accuracy over the classes' p-th presentations; mean and 95% CI over
    episodes. Guessing among the N labels scores 1/N at every presentation; at the 1st, a model
    can still beat 1/N by preferring labels it has not seen yet in the episode (at best
    (1 + 1/2 + … + 1/N)/N, 46% for N = 5), but only memory lifts the later presentations.
    """
    from .mann import MANN  # here, not at the top: mann.py imports this module

    if not isinstance(learner, MANN):
        raise TypeError(f"accuracy_by_presentation needs a MANN, got {type(learner).__name__}")
    if not is_integer(episodes) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if device is None:
        device = next(learner.parameters()).device
    g = torch.Generator().manual_seed(seed)
    was_training = learner.training
    learner.eval()
    per_episode = []
    try:
        remaining = episodes
        while remaining > 0:
            chunk = [tasks.episode().to(device) for _ in range(min(batch_size, remaining))]
            remaining -= len(chunk)
            xs, ys = zip(*(learner.episode_sequence(e, g) for e in chunk))
            y = torch.stack(ys)
            scores, _ = learner.sequence_scores(torch.stack(xs), y, random_slots=False)
            correct, number = (scores.argmax(-1) == y).float(), presentation_numbers(y)
            for i in range(len(chunk)):
                top = int(number[i].max())
                per_episode.append([float(correct[i][number[i] == p].mean()) for p in range(1, top + 1)])
    finally:
        learner.train(was_training)
    longest = max(len(e) for e in per_episode)
    accuracy, ci95 = [], []
    for p in range(longest):
        values = [e[p] for e in per_episode if len(e) > p]
        mean, ci = mean_ci95(values)
        accuracy.append(mean)
        ci95.append(ci)
    return PresentationCurve(accuracy, ci95, len(per_episode))


__all__ = ["PresentationCurve", "accuracy_by_presentation", "presentation_numbers"]
