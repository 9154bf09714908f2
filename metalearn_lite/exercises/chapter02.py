"""Exercises of chapter 2 (core concepts): checkers with hidden cases, and their reference solutions.

* :func:`check_relabel` — renumber the classes of an episode ``0..N-1`` in order of first
  appearance, as :class:`~metalearn_lite.EpisodeSampler` does.
* :func:`check_split_support_query` — cut ``N`` classes of ``K + Q`` examples into a support
  and a query set, laid out exactly as the sampler lays out an :class:`~metalearn_lite.Episode`.
* :data:`EPISODE_LABELS_QUESTION`, :data:`BANDIT_SUPPORT_QUESTION` — multiple-choice questions
  (the first goes with the episode explorer widget of the chapter).

The reference solutions (``relabel_reference`` …) are here so that the tests can check that
every checker accepts them; the notebook shows them only in a collapsed "Solution" block.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from . import Case, CheckResult, MultipleChoice, check

__all__ = [
    "BANDIT_SUPPORT_QUESTION", "EPISODE_LABELS_QUESTION", "check_relabel", "check_split_support_query",
    "relabel_reference", "split_support_query_reference",
]


# -- Exercise 2.1: relabel --------------------------------------------------------------------


def relabel_reference(labels: Tensor) -> Tensor:
    """Map class ids to ``0..N-1`` in order of first appearance: ``[17, 17, 3, 42, 3] → [0, 0, 1, 2, 1]``."""
    new_ids: dict[int, int] = {}
    return torch.tensor([new_ids.setdefault(int(c), len(new_ids)) for c in labels.tolist()], dtype=torch.long)


def _relabel_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2)
    drawn = torch.randperm(964, generator=g)[:5]  # five "Omniglot class ids", 3 examples each, shuffled
    shuffled = drawn.repeat_interleave(3)[torch.randperm(15, generator=g)]
    return [
        Case((torch.tensor([17, 17, 3, 42, 3]),), "labels [17, 17, 3, 42, 3]",
             "number the classes in the order they first appear (17 → 0, 3 → 1, 42 → 2), not in sorted order"),
        Case((torch.tensor([4, 1, 0, 3, 2]),), "one example each of classes 4, 1, 0, 3, 2",
             "the first label seen becomes 0, even when the ids are already 0..N-1"),
        Case((torch.tensor([7, 7, 7]),), "a single class", "one class gets label 0"),
        Case((shuffled,), "five classes of 3 examples each, shuffled", "return an int64 tensor as long as the input"),
        Case((torch.tensor([1000, 2, 1000, 2, 55, 2]),), "repeated, interleaved ids"),
    ]


def _same_labels(got, expected: Tensor) -> bool:
    return isinstance(got, Tensor) and got.dtype == torch.long and got.shape == expected.shape and torch.equal(got, expected)


def check_relabel(relabel: Callable[[Tensor], Tensor]) -> CheckResult:
    """Check ``relabel(labels)`` (1-D int64 class ids → labels ``0..N-1`` in order of first appearance)."""
    cases = _relabel_cases()
    result = check("relabel", relabel, relabel_reference, cases, compare=_same_labels)
    if not result and result.returned and result.case == 1:  # right numbers in the wrong type deserve a precise hint
        got = result.got
        expected = relabel_reference(*cases[0].args)
        if not isinstance(got, Tensor) or got.dtype != torch.long:
            kind = f"a {got.dtype} tensor" if isinstance(got, Tensor) else f"a {type(got).__name__}"
            result.message = (f"case 1 ({cases[0].description}): return the labels as an int64 tensor "
                              f"(torch.long, as cross-entropy needs), got {kind}; expected {expected.tolist()}")
    return result


# -- Exercise 2.2: split_support_query --------------------------------------------------------


def split_support_query_reference(x_by_class: Tensor, k_shot: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``x_by_class`` has shape ``(N, K + Q, ...)``: row ``c`` holds class ``c``'s examples.

    The first ``k_shot`` of each class form the support set, the rest the query set, laid out
    class by class with labels ``[0]*K + [1]*K + …`` — the layout of :class:`~metalearn_lite.Episode`.
    """
    n_way, per_class = x_by_class.shape[:2]
    if not 1 <= k_shot < per_class:
        raise ValueError(f"need 1 <= k_shot < {per_class} (K + Q examples per class), got k_shot={k_shot}")
    q_queries = per_class - k_shot
    labels = torch.arange(n_way)
    support_x = x_by_class[:, :k_shot].reshape(n_way * k_shot, *x_by_class.shape[2:])
    query_x = x_by_class[:, k_shot:].reshape(n_way * q_queries, *x_by_class.shape[2:])
    return support_x, labels.repeat_interleave(k_shot), query_x, labels.repeat_interleave(q_queries)


def _split_cases() -> list[Case]:
    g = torch.Generator().manual_seed(3)
    return [
        Case((torch.arange(10.0).reshape(5, 2), 1), "5-way 1-shot, 1 query, scalar examples",
             "the first K examples of each class are the support set"),
        Case((torch.arange(24.0).reshape(3, 4, 2), 2), "3-way 2-shot, 2 queries, 2-D examples",
             "labels are laid out class by class: [0, 0, 1, 1, 2, 2] — repeat_interleave, not repeat"),
        Case((torch.rand(5, 3, 1, 4, 4, generator=g), 1), "5-way 1-shot, 2 queries, 1×4×4 images",
             "keep the shape of each example: support_x has shape (N*K, 1, 4, 4)"),
        Case((torch.rand(2, 6, 3, generator=g), 5), "2-way 5-shot, 1 query",
             "the query set is what is left after the first K: Q = (K + Q) − K"),
        Case((torch.rand(4, 5, 2, generator=g), 3), "4-way 3-shot, 2 queries", "labels must be int64"),
    ]


def _same_episode(got, expected) -> bool:
    if not isinstance(got, (tuple, list)) or len(got) != 4:
        return False
    return all(isinstance(g, Tensor) and g.shape == e.shape and g.dtype == e.dtype and torch.equal(g, e)
               for g, e in zip(got, expected))  # tensors as returned: a list or another dtype is a ✗


def check_split_support_query(split_support_query: Callable) -> CheckResult:
    """Check ``split_support_query(x_by_class, k_shot) -> (support_x, support_y, query_x, query_y)``."""
    return check("split_support_query", split_support_query, split_support_query_reference, _split_cases(),
                 compare=_same_episode)


# -- Multiple-choice questions ----------------------------------------------------------------

EPISODE_LABELS_QUESTION = MultipleChoice(
    "Move the seed slider of the explorer: in episode after episode, which character does label 0 stand for?",
    [
        "Always the same character: label 0 is the first class of the dataset, whatever the episode.",
        "Whichever character the episode drew first, so it changes from one episode to the next.",
        "The character with the most examples in the support set, since it is the best-known class.",
        "The character whose alphabet comes first in alphabetical order among the episode's classes.",
    ],
    answer=1,
    explanation=(
        "The sampler draws N classes at random and numbers them 0..N-1 in the order drawn. Since a label "
        "means nothing across episodes, a learner cannot memorise 'label 0 looks like this': it has to "
        "learn each task from its support set."
    ),
)

BANDIT_SUPPORT_QUESTION = MultipleChoice(
    "In the bandit experiment of 2.3, what plays the role of the support set of a task?",
    [
        "The earlier bandits, whose arms were used to estimate the prior.",
        "The true arm probabilities of the new bandit, hidden from the agent.",
        "The first pulls in the new bandit and the rewards they returned.",
        "The regret curve of the Thompson sampler over the first pulls.",
    ],
    answer=2,
    explanation=(
        "A task is one bandit (an environment). What the agent learns that task from is its own first "
        "interactions with it — the rewards of its first pulls; the many earlier bandits are the "
        "meta-training tasks, from which the prior was estimated."
    ),
)
