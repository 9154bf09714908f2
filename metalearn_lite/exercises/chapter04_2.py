"""Exercises of section 4.2 (the mathematics of Matching Networks): two checkers with hidden
cases, their reference solutions, and multiple-choice questions.

* :func:`check_matching_prediction` — from query and support embeddings, compute the Matching
  Networks prediction ŷ = Σᵢ softmax_i(s · cos(f(x̂), g(xᵢ))) yᵢ.
* :func:`check_prototypes` — compute the class prototypes c_k (class means) of an embedded
  support set whose labels come in any order and any number per class.
* :data:`SCALE_QUESTION` — goes with the attention-scale slider of the section.
* :data:`ORDER_QUESTION` — which predictors depend on the order of the support set?

The reference solutions are here so that the tests can check that the checkers accept them and
that they agree with :mod:`metalearn_lite.metric`; the notebook shows them only in collapsed
"Solution" blocks.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from . import Case, CheckResult, MultipleChoice, check

__all__ = [
    "ORDER_QUESTION", "SCALE_QUESTION", "check_matching_prediction", "check_prototypes",
    "dot_product_prediction", "matching_prediction_reference", "prototypes_reference", "sorted_prototypes",
]


# -- Exercise 4.2.1: the Matching Networks prediction ŷ ------------------------------------------


def matching_prediction_reference(
    query_emb: Tensor, support_emb: Tensor, support_y: Tensor, n_way: int, scale: float
) -> Tensor:
    """ŷ = a @ one_hot(y) with a = softmax over the support set of scale · cosine similarities.

    Shapes: ``query_emb`` (Q, D), ``support_emb`` (S, D), ``support_y`` (S,) in 0..n_way−1;
    returns (Q, n_way), rows summing to 1.
    """
    cosines = F.normalize(query_emb, dim=-1) @ F.normalize(support_emb, dim=-1).T  # (Q, S)
    attention = torch.softmax(scale * cosines, dim=-1)  # over the support set
    return attention @ F.one_hot(support_y, n_way).to(attention.dtype)


def dot_product_prediction(query_emb: Tensor, support_emb: Tensor, support_y: Tensor, n_way: int, scale: float) -> Tensor:
    """The typical wrong answer: dot products instead of cosine similarities (no normalisation)."""
    attention = torch.softmax(scale * query_emb @ support_emb.T, dim=-1)
    return attention @ F.one_hot(support_y, n_way).to(attention.dtype)


def _matching_cases() -> list[Case]:
    g = torch.Generator().manual_seed(42)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    small = (torch.tensor([[2.0, 0.0]], dtype=torch.float64), torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64),
             torch.tensor([0, 1]), 2, 1.0)
    return [
        Case(small, "one query (2, 0), support (1, 0) of class 0 and (0, 3) of class 1, scale 1",
             "c is the cosine similarity: normalise both embeddings (length does not count), so the cosines are 1 and 0"),
        Case((randn(4, 3), randn(6, 3) * 5, torch.tensor([0, 0, 1, 1, 2, 2]), 3, 1.0),
             "4 queries, 3-way 2-shot, support embeddings of length about 9",
             "normalise the embeddings: a dot product grows with their length, a cosine does not"),
        Case((randn(3, 4), randn(5, 4), torch.tensor([2, 0, 1, 0, 0]), 3, 10.0),
             "labels in any order, classes of different sizes, scale 10",
             "the softmax runs over the support set (dim=-1 of the (Q, S) matrix), then ŷ_k sums the attention on class k"),
        Case((randn(2, 5), randn(4, 5), torch.tensor([0, 1, 2, 3]), 5, 3.0),
             "5 ways but one class (4) with no support example",
             "ŷ has n_way columns even if a class has no support example: one_hot(support_y, n_way)"),
        Case((randn(2, 3), randn(6, 3), torch.tensor([1, 1, 0, 0, 2, 2]), 3, 0.5),
             "a flat kernel, scale 0.5", "multiply the cosines by scale before the softmax"),
    ]


def check_matching_prediction(matching_prediction: Callable) -> CheckResult:
    """Check ``matching_prediction(query_emb, support_emb, support_y, n_way, scale) -> (Q, n_way)`` tensor."""
    cases = _matching_cases()
    slips = ((dot_product_prediction,
              "this attends with dot products f(x̂)ᵀg(xᵢ). Matching Networks use the cosine similarity "
              "c(f(x̂), g(xᵢ)) = f(x̂)ᵀg(xᵢ) / (‖f(x̂)‖ ‖g(xᵢ)‖): normalise both embeddings first (F.normalize)."),)
    return check("matching_prediction", matching_prediction, matching_prediction_reference, cases, atol=1e-8, slips=slips)


# -- Exercise 4.2.2: prototypes --------------------------------------------------------------------


def prototypes_reference(embeddings: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """c_k = mean of the rows of ``embeddings`` (S, D) with label k, for k = 0..n_way−1: (n_way, D)."""
    return torch.stack([embeddings[labels == k].mean(0) for k in range(n_way)])


def sorted_prototypes(embeddings: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """The typical wrong answer: assumes the support set is sorted by class with K examples each."""
    return embeddings.reshape(n_way, -1, embeddings.shape[-1]).mean(1)


def _prototype_cases() -> list[Case]:
    g = torch.Generator().manual_seed(43)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [
        Case((torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]], dtype=torch.float64),
              torch.tensor([0, 0, 1, 1]), 2), "2-way 2-shot, sorted labels, 2-d",
             "c_k is the mean of the embeddings of class k"),
        Case((randn(6, 3), torch.tensor([1, 0, 2, 0, 2, 1]), 3), "3-way 2-shot, labels shuffled",
             "do not assume the support set is sorted by class: select the rows with labels == k"),
        Case((randn(6, 4), torch.tensor([0, 1, 1, 2, 2, 2]), 3), "classes of 1, 2 and 3 examples",
             "each class is averaged over its own number of examples"),
        Case((randn(5, 2), torch.tensor([0, 1, 2, 3, 4]), 5), "5-way 1-shot: the prototypes are the points themselves",
             "with one example per class, c_k is that example's embedding"),
    ]


def check_prototypes(prototypes: Callable) -> CheckResult:
    """Check ``prototypes(embeddings, labels, n_way) -> (n_way, D)`` tensor."""
    result = check("prototypes", prototypes, prototypes_reference, _prototype_cases(), atol=1e-8)
    return result


# -- Multiple-choice questions ----------------------------------------------------------------

SCALE_QUESTION = MultipleChoice(
    "In the slider's episode, the support set has 1, 2 and 3 examples of classes 0, 1 and 2. "
    "What does the query's ŷ tend to as the scale s goes to 0?",
    [
        "The one-hot label of the query's nearest support example, as in 1-nearest-neighbour.",
        "The uniform distribution (1/3, 1/3, 1/3): every class counts the same, whatever its size.",
        "The class frequencies (1/6, 2/6, 3/6): each support example gets attention 1/6.",
        "It is not defined: the softmax of all-zero logits is 0/0, so ŷ becomes NaN.",
    ],
    answer=2,
    explanation=(
        "With s = 0 every logit s·cᵢ is 0 and the softmax gives each of the 6 support examples attention 1/6; "
        "ŷ_k adds up the attention on class k, so it is |S_k| / 6, the class frequencies — a flat kernel is a "
        "prior, not a classifier. As s grows, ŷ moves towards the one-hot label of the nearest neighbour."
    ),
)

ORDER_QUESTION = MultipleChoice(
    "Which predictor's output changes when the support set is fed in a different order "
    "(same examples, same labels)?",
    [
        "A Matching Network without full context embeddings (fce=False).",
        "A Matching Network with full context embeddings (fce=True).",
        "A Prototypical Network with squared Euclidean distance.",
        "A Prototypical Network with cosine distance instead of Euclidean.",
    ],
    answer=1,
    explanation=(
        "Sums over the support set (attention-weighted votes, class means) do not depend on the order of their "
        "terms. Full context embeddings read the support set with a bidirectional LSTM, a sequence model: each "
        "g(xᵢ, S) depends on what comes before and after xᵢ, so reordering S changes the embeddings and ŷ."
    ),
)
