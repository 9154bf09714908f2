"""Exercises of section 3.2 (metric-based meta-learning): a checker with hidden cases, its
reference solution, and a multiple-choice question.

* :func:`check_nearest_prototype` — classify query embeddings by their nearest prototype
  (squared Euclidean distance to the class means of the embedded support set), returning the
  predicted labels.
* :data:`ATTENTION_VOTE_QUESTION` — goes with the section's attention widget: a Matching
  Network predicts the class with the most *total* attention, not the class of the tallest bar.

The reference solution (``nearest_prototype_reference``) is here so that the tests can check
that the checker accepts it and that it agrees with :class:`metalearn_lite.metric.ProtoNet`;
the notebook shows it only in a collapsed "Solution" block.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from . import Case, CheckResult, MultipleChoice, check

__all__ = [
    "ATTENTION_VOTE_QUESTION", "check_nearest_prototype", "nearest_neighbour_labels", "nearest_prototype_reference",
]


# -- Exercise 3.2.1: classify by the nearest prototype -------------------------------------------


def nearest_prototype_reference(support_emb: Tensor, support_y: Tensor, query_emb: Tensor, n_way: int) -> Tensor:
    """Predicted labels ``(Q,)`` (int64): argmin_k ‖f(x) − c_k‖², c_k the mean of class k's support embeddings."""
    one_hot = F.one_hot(support_y, n_way).to(support_emb.dtype)  # (S, N)
    prototypes = (one_hot.T @ support_emb) / one_hot.sum(0)[:, None]  # (N, D)
    distances = ((query_emb[:, None, :] - prototypes[None, :, :]) ** 2).sum(-1)  # (Q, N)
    return distances.argmin(1)


def nearest_neighbour_labels(support_emb: Tensor, support_y: Tensor, query_emb: Tensor, n_way: int) -> Tensor:
    """The typical slip: the label of the nearest support *example* (1-NN), not of the nearest class mean."""
    return support_y[torch.cdist(query_emb, support_emb).argmin(1)]


def _case(seed: int, n_way: int, k_shot: int | list[int], queries: int, dim: int, shuffle: bool, outlier: bool = False):
    g = torch.Generator().manual_seed(seed)
    shots = [k_shot] * n_way if isinstance(k_shot, int) else list(k_shot)
    centres = 3 * torch.randn(n_way, dim, generator=g, dtype=torch.float64)
    support_y = torch.cat([torch.full((k,), c, dtype=torch.long) for c, k in enumerate(shots)])
    support = centres[support_y] + torch.randn(len(support_y), dim, generator=g, dtype=torch.float64)
    query_y = torch.randint(0, n_way, (queries,), generator=g)
    query = centres[query_y] + 1.5 * torch.randn(queries, dim, generator=g, dtype=torch.float64)
    if outlier:  # class 0's first support example sits among the queries of class 1: 1-NN and prototypes disagree
        support[0] = query[query_y == 1][0] + 0.05
    if shuffle:
        perm = torch.randperm(len(support_y), generator=g)
        support, support_y = support[perm], support_y[perm]
    return support, support_y, query, n_way


def _cases() -> list[Case]:
    return [
        Case(_case(0, 3, 2, 12, 4, shuffle=False), "3-way 2-shot, support sorted by class, 4-d embeddings",
             "c_k = mean of the support embeddings of class k; predict argmin_k of ‖query − c_k‖²"),
        Case(_case(1, 5, 3, 20, 8, shuffle=True), "5-way 3-shot, support labels in random order",
             "select class k's rows with support_y == k (or a one-hot matrix); do not assume the support set is sorted"),
        Case(_case(2, 4, [1, 2, 3, 4], 20, 6, shuffle=True), "4-way with 1, 2, 3 and 4 shots per class",
             "divide each class sum by that class's own count"),
        Case(_case(3, 3, 4, 30, 2, shuffle=True, outlier=True),
             "3-way 4-shot where one support example of class 0 lies among class 1's queries",
             "compare each query with the class *means*, not with the individual support examples (that would be 1-nearest-neighbour)"),
        Case(_case(4, 20, 1, 40, 16, shuffle=True), "20-way 1-shot (each prototype is the single support embedding)",
             "return a tensor of int64 labels of shape (Q,), e.g. distances.argmin(1)"),
    ]


def check_nearest_prototype(nearest_prototype: Callable) -> CheckResult:
    """Check ``nearest_prototype(support_emb, support_y, query_emb, n_way) -> (Q,) int64 labels``."""
    cases = _cases()  # compared as returned: an int64 tensor of shape (Q,); float labels or a list are a ✗
    result = check("nearest_prototype", nearest_prototype, nearest_prototype_reference, cases)
    if not result and result.returned:  # the failing case: how many labels are wrong, and is it 1-NN?
        case = cases[result.case - 1]
        got, expected = result.got, nearest_prototype_reference(*case.args)
        if (isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype
                and not torch.equal(got, expected)):
            result.message += f" ({int((got != expected).sum())} of {len(expected)} labels differ.)"
            if torch.equal(got, nearest_neighbour_labels(*case.args)):
                result.message += (" Your labels are those of the nearest support example (1-nearest-neighbour): "
                                   "a Prototypical Network first averages each class's support embeddings.")
    return result


# -- Multiple-choice question -----------------------------------------------------------------------

ATTENTION_VOTE_QUESTION = MultipleChoice(
    "In the attention widget (5-way 2-shot), a query gives its two class-3 support images attention 0.30 "
    "and 0.25, one class-1 image 0.35, and the remaining 0.10 is spread over the other seven images. "
    "Which class does the Matching Network predict?",
    [
        "Class 1: the support image with the tallest bar decides, as in nearest-neighbour.",
        "Class 3: ŷ₃ = 0.30 + 0.25 = 0.55 is the largest total attention of a class.",
        "Neither: no class gets more than half of the attention, so the prediction is undefined.",
        "It depends on the order of the support images.",
    ],
    answer=1,
    explanation=(
        "ŷ = Σᵢ a(x̂, xᵢ) yᵢ adds up the attention of each class's support examples: ŷ₃ = 0.55, ŷ₁ ≤ 0.35 + 0.10. "
        "The tallest bar only decides when the attention is one-hot (a very sharp kernel: 1-nearest-neighbour). "
        "Without full context embeddings the sum does not depend on the order of the support set."
    ),
)
