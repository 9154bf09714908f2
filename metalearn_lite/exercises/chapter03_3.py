"""Exercises of section 3.3 (memory-based meta-learning): a checker with hidden cases, its
reference solution, and multiple-choice questions.

* :func:`check_lrua_write_weights` — write MANN's least-recently-used access: pick each head's
  least-used slot from the usage u_{t−1} and mix it with the previous read weights by the write
  gate, w^w_t = σ w^r_{t−1} + (1 − σ) w^lu_{t−1}.
* :data:`METANET_MEMORY_QUESTION` — what a Meta Network keeps in its memory.
* :data:`FIRST_PRESENTATION_QUESTION` — why MANN cannot do better than a guess on a class's
  first presentation.

The reference solution (``lrua_write_weights_reference``) is here so that the tests can check
that the checker accepts it and that it agrees with :mod:`metalearn_lite.memory`; the notebook
shows it only in a collapsed "Solution" block.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from . import Case, CheckResult, MultipleChoice, check

__all__ = [
    "FIRST_PRESENTATION_QUESTION", "METANET_MEMORY_QUESTION", "check_lrua_write_weights",
    "lrua_write_weights_reference",
]


# -- Exercise 3.3.1: LRUA write weights ---------------------------------------------------------


def lrua_write_weights_reference(prev_read: Tensor, prev_usage: Tensor, gate: Tensor) -> Tensor:
    """w^w_t = σ w^r_{t−1} + (1 − σ) w^lu_{t−1}: ``(B, H, S)``, ``(B, S)``, ``(B, H)`` → ``(B, H, S)``.

    Head j's w^lu is the one-hot of the slot with the j-th smallest usage (ties: lower slot
    index first), as :func:`metalearn_lite.memory.least_used_weights` does.
    """
    heads, slots = prev_read.shape[1], prev_read.shape[2]
    order = torch.argsort(prev_usage, dim=-1, stable=True)[:, :heads]  # (B, H): j-th least used
    least_used = torch.nn.functional.one_hot(order, slots).to(prev_read.dtype)
    g = gate[..., None]
    return g * prev_read + (1 - g) * least_used


def _case(seed: int, batch: int, heads: int, slots: int, gate: float | None = None, ties: bool = False):
    g = torch.Generator().manual_seed(seed)
    read = torch.softmax(3 * torch.randn(batch, heads, slots, generator=g, dtype=torch.float64), dim=-1)
    if ties:  # usages on a coarse grid: many ties, broken by the lower slot index
        usage = torch.randint(0, 3, (batch, slots), generator=g).to(torch.float64)
    else:
        usage = 2 * torch.rand(batch, slots, generator=g, dtype=torch.float64)
    if gate is None:
        sigma = torch.rand(batch, heads, generator=g, dtype=torch.float64)
    else:
        sigma = torch.full((batch, heads), gate, dtype=torch.float64)
    return read, usage, sigma


def _cases() -> list[Case]:
    return [
        Case(_case(0, 1, 1, 6, gate=0.0), "one head, σ = 0: all the weight on the least-used slot",
             "with σ = 0 the write goes entirely to w^lu: a one-hot on the slot of *smallest* usage (argsort/argmin)"),
        Case(_case(1, 1, 1, 6, gate=1.0), "one head, σ = 1: write where the head read last step",
             "with σ = 1 the write weights are the previous read weights w^r_{t−1}"),
        Case(_case(2, 2, 1, 8), "one head, a batch of 2, random σ",
             "w^w = σ·w^r + (1 − σ)·w^lu, with σ of shape (B, H) broadcast over the slots (σ[..., None])"),
        Case(_case(3, 2, 3, 10), "three heads: head j writes to the j-th least-used slot",
             "sort the usage ascending; head 0 gets the smallest, head 1 the second smallest, …"),
        Case(_case(4, 3, 2, 7, ties=True), "usages with ties: the lower slot index comes first",
             "use a stable sort (torch.argsort(..., stable=True)) so that equal usages keep the slot order"),
    ]


def check_lrua_write_weights(lrua_write_weights: Callable) -> CheckResult:
    """Check ``lrua_write_weights(prev_read, prev_usage, gate) -> (B, H, S)`` on hidden cases."""
    result = check("lrua_write_weights", lrua_write_weights, lrua_write_weights_reference, _cases(), atol=1e-9)
    if not result and result.returned and result.case == 1:
        first = _cases()[0].args  # σ = 0 there: does the reader's function give w^r_{t−1}, i.e. swap the gate?
        got = result.got  # only a tensor of the right shape and a floating dtype can be the swapped gate
        swapped_ok = (isinstance(got, torch.Tensor) and got.shape == first[0].shape and got.dtype.is_floating_point
                      and bool(torch.allclose(got.detach().double(), first[0])))
        if swapped_ok:
            result.message += (" With σ = 0 your weights are the previous read weights: the gate is the other way "
                               "round — σ multiplies w^r_{t−1}, (1 − σ) the least-used weights.")
    return result


# -- Multiple-choice questions ----------------------------------------------------------------

METANET_MEMORY_QUESTION = MultipleChoice(
    "In a Meta Network (Munkhdalai & Yu 2017), what is stored in the memory, and how does a query use it?",
    [
        "The parameters of the networks trained on past tasks; a new task picks the closest past task's "
        "parameters and fine-tunes them.",
        "Fast weights made from each support example's loss gradient, keyed by its representation; a query "
        "adds the fast weights it attends to onto the slow ones.",
        "The images of the support set and their labels, bound together in an LSTM's cell state that a query "
        "reads out by attention.",
        "The class means of the support embeddings; a query takes the label of the nearest mean, as in a "
        "Prototypical Network.",
    ],
    answer=1,
    explanation=(
        "The memory is rebuilt in every task from the current support set: fast weights W*_i = m(∇_i) and keys "
        "r'_i = u(x'_i). A query's fast weights are Σ_i a_i W*_i with attention a over the keys, used beside the "
        "slow weights (layer augmentation). Nothing is kept from past tasks except what meta-training put into "
        "the slow weights — the article's 'store past tasks' parameters' is not what the paper does."
    ),
)

FIRST_PRESENTATION_QUESTION = MultipleChoice(
    "In a 5-way MANN episode, why can no amount of meta-training lift the accuracy on a class's "
    "1st presentation much above 46%, while the 2nd can approach 100%?",
    [
        "The memory is too small to hold five classes, so the first is overwritten before it can ever be read"
        " back.",
        "Labels are reassigned each episode and arrive a step late: at its 1st presentation a class's label "
        "is unseen, so it is a guess.",
        "The LSTM controller forgets the first steps of every sequence, before the network has seen any of "
        "its labels.",
        "The least-used slots are erased at a class's first presentation, so nothing about that class is "
        "stored yet.",
    ],
    answer=1,
    explanation=(
        "The label of x_t is given only at step t + 1, and which label a class gets is random per episode. "
        "At a 1st presentation the best strategy is to guess among the labels not yet seen in the episode: "
        "(1 + 1/2 + 1/3 + 1/4 + 1/5)/5 ≈ 46% for 5 classes. From the 2nd on, the label can be read from memory."
    ),
)
