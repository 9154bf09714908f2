"""Exercises of chapter 1 (Background · 背景介绍): checkers, hidden cases and reference solutions.

* :func:`check_images_per_episode` — how many images an N-way K-shot episode with Q queries per
  class uses, and so whether a dataset with 20 drawings per character can supply it.
* :func:`check_nearest_neighbour_predict` — the labels that 1-nearest-neighbour in pixel space
  predicts for a query set; the reference agrees with :class:`metalearn_lite.NearestNeighbour`.
* :data:`NEW_ALPHABETS_QUESTION` — a multiple-choice question (a widget) on why section 1.2 tests
  on new alphabets.

In the notebook each exercise is a stub raising ``NotImplementedError`` and a cell calling the
checker, which answers "not attempted yet" until the stub is filled in.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from . import Case, CheckResult, MultipleChoice, check

# --- Exercise 1.1: images per episode ------------------------------------------------------


def images_per_episode(n_way: int, k_shot: int, q_queries: int) -> int:
    """Reference: every one of the N classes contributes K support and Q query images."""
    return n_way * (k_shot + q_queries)


IMAGES_CASES = [
    Case((5, 1, 5), "5-way 1-shot, 5 queries per class", "count the query images too, for every class"),
    Case((20, 1, 1), "20-way 1-shot, 1 query per class (like one of Lake's runs)", "N classes, each with K + Q images"),
    Case((5, 15, 5), "5-way 15-shot, 5 queries per class", "queries are drawn per class: Q for each of the N classes"),
    Case((1, 3, 2), "1-way 3-shot, 2 queries", "one class: K + Q images"),
    Case((64, 5, 15), "64-way 5-shot, 15 queries per class", "N × (K + Q)"),
]


def check_images_per_episode(func: Callable[[int, int, int], int]) -> CheckResult:
    """✓ if ``func(n_way, k_shot, q_queries)`` counts the images of an episode correctly."""
    return check("images_per_episode", func, images_per_episode, IMAGES_CASES)


# --- Exercise 1.2: pixel nearest neighbour --------------------------------------------------


def nearest_neighbour_predict(support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
    """Reference: each query takes the label of the support example nearest in Euclidean distance."""
    distances = torch.cdist(query_x.flatten(1), support_x.flatten(1))  # (Q, N*K)
    return support_y[distances.argmin(dim=1)]


def _images(generator: torch.Generator, count: int, size: int = 5) -> Tensor:
    return torch.rand(count, 1, size, size, generator=generator)


def _nn_cases() -> list[Case]:
    g = torch.Generator().manual_seed(101)
    cases = []
    # 1. 3-way 1-shot, support in label order, queries = noisy copies of the support.
    support = _images(g, 3)
    query = support[[2, 0, 1, 1]] + 0.05 * _images(g, 4)
    cases.append(Case((support, torch.arange(3), query), "3-way 1-shot, queries close to their support image"))
    # 2. Support shuffled: the index of the nearest support example is not its label.
    support = _images(g, 4)
    labels = torch.tensor([2, 0, 3, 1])
    query = support[[0, 1, 2, 3, 0]] + 0.05 * _images(g, 5)
    cases.append(Case((support, labels, query), "4-way 1-shot, support not in label order",
                      "return the *label* of the nearest support example, not its position"))
    # 3. 2-shot: two examples per class, labels laid out class by class.
    support = _images(g, 6)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    query = support[[1, 3, 4, 0, 5]] + 0.05 * _images(g, 5)
    cases.append(Case((support, labels, query), "3-way 2-shot, queries near the second example of a class",
                      "with K > 1 the nearest of all N·K support examples decides"))
    # 4. Random queries, far from everything: only the arithmetic decides.
    support, labels = _images(g, 10), torch.arange(5).repeat_interleave(2)
    query = _images(g, 7)
    cases.append(Case((support, labels, query), "5-way 2-shot, random queries",
                      "nearest = smallest distance (argmin), over flattened pixels"))
    return cases


NN_CASES = _nn_cases()


def check_nearest_neighbour_predict(func: Callable[[Tensor, Tensor, Tensor], Tensor]) -> CheckResult:
    """✓ if ``func(support_x, support_y, query_x)`` returns 1-NN predicted labels: an int64 tensor ``(Q,)``
    (the dtype of ``support_y``). Float labels, a list, another shape: ✗, saying so; nothing is converted."""
    return check("nearest_neighbour_predict", func, nearest_neighbour_predict, NN_CASES)


# --- Exercise 1.3: multiple choice ----------------------------------------------------------

NEW_ALPHABETS_QUESTION = MultipleChoice(
    "In section 1.2 the embedding is meta-trained on small1's alphabets and tested on alphabets "
    "that small1 does not contain. Why test on new alphabets?",
    [
        "Because the test alphabets have more characters per alphabet, so the confidence interval is "
        "narrower.",
        "To see whether the embedding learned how to learn: only characters it has never seen tell that apart"
        " from memorising.",
        "Because nearest neighbour cannot classify characters it was trained on: their embeddings collapse "
        "onto the support.",
        "Because the images of the test alphabets are larger and drawn with thicker strokes, so they are "
        "easier.",
    ],
    answer=1,
    explanation="Meta-training and meta-testing tasks must be disjoint; splitting by alphabet (as Lake et al. "
    "2015 do) also keeps similar-looking characters of one script on the same side of the split.",
)

__all__ = [
    "IMAGES_CASES", "NEW_ALPHABETS_QUESTION", "NN_CASES", "check_images_per_episode",
    "check_nearest_neighbour_predict", "images_per_episode", "nearest_neighbour_predict",
]
