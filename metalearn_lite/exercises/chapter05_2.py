"""Exercises of section 5.2 (Matching Networks in code): two checkers with hidden cases, their
reference solutions, and multiple-choice questions.

* :func:`check_episode_loss` — the episodic loss of a Matching Network, −(1/Q) Σ_q log ŷ_{q, y_q},
  from the attention logits s · c(f(x̂_q), g(xᵢ)); finite even where some attention weights
  underflow to zero.
* :func:`check_full_context_support` — the full-context support embedding
  g(xᵢ, S) = g'(xᵢ) + h→ᵢ + h←ᵢ, with a given bidirectional LSTM reading the support set as one
  sequence.
* :data:`LEARNED_QUESTION` — goes with the section's widget: what meta-training changes in the
  attention.
* :data:`ANY_WAY_QUESTION` — why a Matching Network trained on 5-way episodes can take the
  20-way Lake runs.

The reference solutions are here so that the tests can check that the checkers accept them and
that they agree with :mod:`metalearn_lite.metric`; the notebook shows them only in collapsed
"Solution" blocks.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import Case, CheckResult, MultipleChoice, check

__all__ = [
    "ANY_WAY_QUESTION", "LEARNED_QUESTION", "check_episode_loss", "check_full_context_support",
    "double_softmax_loss", "each_alone_support", "episode_loss_reference", "forward_only_support",
    "full_context_support_reference", "naive_log_loss", "no_skip_support", "support_index_loss",
]


# -- Exercise 5.2.1: the episodic loss ---------------------------------------------------------


def episode_loss_reference(logits: Tensor, support_y: Tensor, query_y: Tensor, n_way: int) -> Tensor:
    """−(1/Q) Σ_q log ŷ_{q, y_q}, with ŷ = softmax_i(logits) @ one_hot(support_y), computed stably.

    ``logits`` ``(Q, S)`` are the attention logits s · c(f(x̂_q), g(xᵢ)); ``support_y`` ``(S,)`` and
    ``query_y`` ``(Q,)`` are labels in 0..n_way−1. ``log ŷ_k = logsumexp_{i: yᵢ = k} logits_i −
    logsumexp_i logits_i`` never takes the log of an attention weight that has underflowed to 0.
    Returns a scalar tensor.
    """
    log_y_hat = torch.stack([torch.logsumexp(logits[:, support_y == k], dim=1) for k in range(n_way)], dim=1)
    log_y_hat = log_y_hat - torch.logsumexp(logits, dim=1, keepdim=True)
    return F.nll_loss(log_y_hat, query_y)


def naive_log_loss(logits: Tensor, support_y: Tensor, query_y: Tensor, n_way: int) -> Tensor:
    """A wrong answer: log of ŷ computed from the attention, which is −inf where the attention underflows."""
    y_hat = torch.softmax(logits, dim=1) @ F.one_hot(support_y, n_way).to(logits.dtype)
    return F.nll_loss(torch.log(y_hat), query_y)


def double_softmax_loss(logits: Tensor, support_y: Tensor, query_y: Tensor, n_way: int) -> Tensor:
    """The classic slip: ``F.cross_entropy`` on the probabilities ŷ, which applies a second softmax."""
    y_hat = torch.softmax(logits, dim=1) @ F.one_hot(support_y, n_way).to(logits.dtype)
    return F.cross_entropy(y_hat, query_y)


def support_index_loss(logits: Tensor, support_y: Tensor, query_y: Tensor, n_way: int) -> Tensor:
    """A wrong answer: cross-entropy over the support examples, as if example i were class i."""
    return F.cross_entropy(logits, query_y)


def _loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(52)

    def cosines(q, s):
        return 2 * torch.rand(q, s, generator=g, dtype=torch.float64) - 1

    def far_from_true_class(c, query_y):  # cosine −0.8 with the true class, 0.9 with the next one
        c = c.clone()
        rows = torch.arange(len(query_y))
        c[rows, query_y], c[rows, (query_y + 1) % c.shape[1]] = -0.8, 0.9
        return c

    return [
        Case((3.0 * cosines(4, 3), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2, 1]), 3),
             "3-way 1-shot, support labels 0, 1, 2 in order, s = 3",
             "ŷ = softmax over the support set of the logits, then summed per class; the loss is the mean of −log ŷ of the true class "
             "over the queries: one number, a tensor of shape ()"),
        Case((5.0 * cosines(6, 6), torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 2, 2, 1, 0]), 3),
             "3-way 2-shot, s = 5",
             "ŷ_k adds up the attention of all the support examples of class k (here two each)"),
        Case((10.0 * cosines(5, 7), torch.tensor([2, 0, 1, 0, 3, 1, 2]), torch.tensor([3, 0, 1, 2, 0]), 4),
             "4-way, labels in any order, classes of 1 or 2 examples, s = 10",
             "select each class's support examples with support_y == k; do not assume the support set is sorted"),
        Case((500.0 * far_from_true_class(cosines(4, 5), torch.tensor([4, 3, 2, 1])), torch.tensor([0, 1, 2, 3, 4]),
              torch.tensor([4, 3, 2, 1]), 5),
             "5-way 1-shot with a very sharp kernel, s = 500: some attention weights underflow to exactly 0",
             "log 0 = −inf: compute log ŷ_k = logsumexp over class k's logits − logsumexp over all logits (torch.logsumexp), "
             "never the log of the attention itself"),
    ]


def check_episode_loss(episode_loss: Callable) -> CheckResult:
    """Check ``episode_loss(logits, support_y, query_y, n_way)`` -> scalar tensor, the mean of −log ŷ_{q, y_q}."""
    slips = (
        (double_softmax_loss,
         "this is F.cross_entropy applied to the probabilities ŷ: cross_entropy takes logits and applies a softmax of "
         "its own, so ŷ is squashed a second time. Take the log yourself and use F.nll_loss, or pass log ŷ to cross_entropy."),
        (support_index_loss,
         "this is the cross-entropy of the (Q, S) logits over the support examples, as if example i were class i. It "
         "happens to coincide when the support set is 1-shot and sorted; in general first add up the attention per class."),
        (naive_log_loss,
         "the loss is infinite or NaN where an attention weight underflows to 0 and its log is −inf. Compute log ŷ with "
         "torch.logsumexp over each class's logits minus torch.logsumexp over all logits."),
    )
    return check("episode_loss", episode_loss, episode_loss_reference, _loss_cases(), atol=1e-8, slips=slips)


# -- Exercise 5.2.3: full context embeddings of the support set -------------------------------------


def full_context_support_reference(support_emb: Tensor, lstm: nn.LSTM) -> Tensor:
    """g(xᵢ, S) = g'(xᵢ) + h→ᵢ + h←ᵢ: ``lstm`` (bidirectional, ``batch_first=True``, hidden size D) reads
    the support embeddings ``(S, D)`` as **one** sequence, in the order given; returns ``(S, D)``."""
    outputs, _ = lstm(support_emb[None])  # a batch of one sequence: (1, S, 2D), forward then backward states
    forward, backward = outputs[0].split(support_emb.shape[-1], dim=-1)
    return support_emb + forward + backward


def no_skip_support(support_emb: Tensor, lstm: nn.LSTM) -> Tensor:
    """A wrong answer: the LSTM's states without the skip connection g'(xᵢ)."""
    outputs, _ = lstm(support_emb[None])
    forward, backward = outputs[0].split(support_emb.shape[-1], dim=-1)
    return forward + backward


def forward_only_support(support_emb: Tensor, lstm: nn.LSTM) -> Tensor:
    """A wrong answer: only the forward direction's states."""
    outputs, _ = lstm(support_emb[None])
    return support_emb + outputs[0, :, : support_emb.shape[-1]]


def each_alone_support(support_emb: Tensor, lstm: nn.LSTM) -> Tensor:
    """The classic slip: each support example as a sequence of its own (a batch of S sequences of length 1)."""
    outputs, _ = lstm(support_emb[:, None])  # (S, 1, 2D): no example sees another
    forward, backward = outputs[:, 0].split(support_emb.shape[-1], dim=-1)
    return support_emb + forward + backward


def _lstm(dim: int, seed: int) -> nn.LSTM:
    torch.manual_seed(seed)
    return nn.LSTM(dim, dim, bidirectional=True, batch_first=True).double()


def _fce_cases() -> list[Case]:
    g = torch.Generator().manual_seed(53)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [
        Case((randn(4, 3), _lstm(3, 1)), "4 support examples, D = 3",
             "g(xᵢ, S) = g'(xᵢ) + h→ᵢ + h←ᵢ: the skip connection plus both directions' hidden states"),
        Case((randn(5, 4), _lstm(4, 2)), "5 support examples, D = 4",
             "feed the whole support set as one sequence, lstm(support_emb[None]), and split the (S, 2D) output in two halves"),
        Case((randn(1, 2), _lstm(2, 3)), "a single support example, D = 2",
             "the output has the shape of the input, (S, D)"),
        Case((randn(7, 6), _lstm(6, 4)), "7 support examples, D = 6",
             "the first D output features are the forward direction, the last D the backward one"),
    ]


def check_full_context_support(full_context_support: Callable) -> CheckResult:
    """Check ``full_context_support(support_emb, lstm)`` -> ``(S, D)`` tensor g(xᵢ, S)."""
    slips = (
        (each_alone_support,
         "your LSTM read each support example as a sequence of its own, so g(xᵢ, S) does not depend on the rest of "
         "S — the point of full context embeddings. Feed the support set as one sequence: lstm(support_emb[None])."),
        (no_skip_support, "the skip connection is missing: add g'(xᵢ) (the input embedding) to the two hidden states."),
        (forward_only_support, "only the forward direction is used: add the backward hidden states h←ᵢ too "
                               "(the second half of the LSTM's output features)."),
    )
    return check("full_context_support", full_context_support, full_context_support_reference, _fce_cases(),
                 atol=1e-8, slips=slips)


# -- Multiple-choice questions ----------------------------------------------------------------

LEARNED_QUESTION = MultipleChoice(
    "The widget shows the attention of the same five queries over the same five support images at "
    "different steps of meta-training. What did meta-training change to move the attention?",
    [
        "The inverse temperature s, which training raises so that the softmax over the support gets sharper.",
        "The embedding network's weights: cosines between images of the same character grow relative to the "
        "others.",
        "The support labels yᵢ, which the network learns for each character so that the vote comes out right.",
        "Nothing in the network: the attention changes because each step shows it a different episode.",
    ],
    answer=1,
    explanation=(
        "s is a fixed number (10) here, not a parameter, and the attention formula softmax_i(s · cos) has no weights "
        "of its own: everything the network learns is in the embedding f = g. The episode and its labels are the same "
        "at every step of the widget, and its alphabets were never trained on."
    ),
)

ANY_WAY_QUESTION = MultipleChoice(
    "The Matching Network of 5.2.4 was meta-trained on 5-way episodes only, yet it answers Lake et al.'s "
    "20-way runs, where the 5-way MAML learner of 5.1 could not. Why?",
    [
        "evaluate_lake retrains it on 20-way episodes first, so it has seen 20-way tasks before it is tested.",
        "Nothing in it fixes the number of classes: it only embeds images, and ŷ is a vote over whatever "
        "support set it is given.",
        "Its last layer has 20 outputs, of which 5-way meta-training used only the first five, one per way.",
        "It cannot really: evaluate_lake pads its 5 scores with zeros up to 20 and scores what is left.",
    ],
    answer=1,
    explanation=(
        "A metric-based learner's 'classifier' is the support set itself: with 20 support images, the attention runs "
        "over 20 examples and ŷ has 20 entries. Whether it does well is another matter — 20 classes give more "
        "chances of confusion than 5, and training on episodes with more ways (as the benchmark of 5.2.5 does) "
        "usually helps."
    ),
)
