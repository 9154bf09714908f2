"""Prototypical Networks (Snell, Swersky & Zemel 2017, NeurIPS).

Embed every example with a network f_φ. Each class k of the support set S is summarised by its
**prototype**, the mean of its embedded support points (eq. 1)::

    c_k = (1 / |S_k|) Σ_{(xᵢ, yᵢ) ∈ S_k} f_φ(xᵢ)

and a query x is classified by a softmax over minus its distances to the prototypes (eq. 2)::

    p_φ(y = k | x) = exp(−d(f_φ(x), c_k)) / Σ_k' exp(−d(f_φ(x), c_k'))

with d the **squared** Euclidean distance (the paper's choice: it makes the model a Bregman
divergence mixture density estimator, and gives a linear classifier, eq. 8, below). The
predictor returns the scores ``−d(f_φ(x), c_k)`` of shape ``(Q, N)``; ``F.cross_entropy`` on them
is exactly the paper's loss J(φ) = −log p_φ(y = k | x). ``distance="cosine"`` uses
``scale · cos(f_φ(x), c_k)`` instead (the paper found it worse; ``scale`` is an inverse
temperature, without which the softmax over values in [−1, 1] can never be confident).

**Equivalent linear model** (eq. 8). Expanding the squared distance,
−‖f − c_k‖² = −fᵀf + 2c_kᵀf − c_kᵀc_k; the first term is the same for every class, so the
scores are those of a linear classifier with ``w_k = 2c_k`` and ``b_k = −c_kᵀc_k`` up to a
per-query constant — same argmax, same softmax. :func:`prototype_linear_classifier` returns
``(W, b)``.

**Nothing here depends on N.** The paper trains Omniglot with more ways (60) than it tests
(5 or 20); any sampler can be used for training and another for testing.

**Order of the support set.** A mean does not depend on the order of its terms, so the
predictions are invariant to permutations of the support set (up to floating-point rounding).

**Batch normalisation.** The default encoder ``ConvNet4()`` uses BatchNorm without running
statistics (see :mod:`metalearn_lite.models`): the support set and the query set are each
normalised with their own batch statistics, in training and at test time alike, so a query's
embedding depends on the other queries of its batch (transductive evaluation, as in MAML). That
is not a small effect: scored one query at a time (``evaluate(..., query_batch=1)``), a query
is normalised with its own statistics alone, and a network trained with batch statistics can
lose tens of points of accuracy. Where queries arrive one at a time, pass
``ConvNet4(norm="layer")`` (or ``"group"``): embeddings computed one example at a time, the same
either way.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..models import ConvNet4
from ..protocol import MetaLearner, Predictor, check_query, check_support  # check_query: re-exported, it lived here

DISTANCES = ("euclidean", "cosine")


def class_means(embeddings: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """Mean of the rows of ``embeddings`` (``(N*K, D)``) of each class ``0..n_way-1``: ``(N, D)``."""
    one_hot = F.one_hot(labels, n_way).to(embeddings.dtype)  # (N*K, N)
    return (one_hot.T @ embeddings) / one_hot.sum(0)[:, None]


def squared_euclidean(a: Tensor, b: Tensor) -> Tensor:
    """``d[q, k] = ‖a_q − b_k‖²`` for ``a`` ``(Q, D)`` and ``b`` ``(N, D)`` (computed by differences, exact at 0)."""
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def prototype_linear_classifier(prototypes: Tensor) -> tuple[Tensor, Tensor]:
    """The linear classifier of Snell et al. (2017), eq. 8: ``W = 2 c`` (``(N, D)``), ``b_k = −‖c_k‖²`` (``(N,)``).

    ``f @ W.T + b`` equals the Euclidean ProtoNet scores ``−‖f − c_k‖²`` plus ``‖f‖²``, a constant
    per query, so it has the same argmax and the same softmax.
    """
    return 2 * prototypes, -(prototypes**2).sum(-1)


class ProtoNet(MetaLearner):
    """Prototypical Networks: scores ``−‖f(x) − c_k‖²`` to the class means ``c_k`` of the embedded support set.

    ``encoder`` maps a batch of inputs to embeddings ``(B, D)`` (default ``ConvNet4()``, 64-d on
    28×28 images). ``distance``: ``"euclidean"`` (squared, the paper's) or ``"cosine"``
    (``scale · cos``).
    """

    def __init__(self, encoder: nn.Module | None = None, distance: str = "euclidean", scale: float = 10.0) -> None:
        super().__init__("classification")
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.encoder = encoder if encoder is not None else ConvNet4()
        self.distance, self.scale = distance, scale

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x).flatten(1)

    def prototypes(self, support_x: Tensor, support_y: Tensor) -> Tensor:
        """The class prototypes ``c_k`` (eq. 1), shape ``(N, D)``: row k is the mean embedding of class k."""
        n_way = check_support(support_x, support_y)
        return class_means(self.embed(support_x), support_y, n_way)

    def scores(self, query_embeddings: Tensor, prototypes: Tensor) -> Tensor:
        """``−‖f − c_k‖²`` (Euclidean) or ``scale · cos(f, c_k)`` (cosine), shape ``(Q, N)``."""
        if self.distance == "euclidean":
            return -squared_euclidean(query_embeddings, prototypes)
        return self.scale * F.normalize(query_embeddings, dim=-1) @ F.normalize(prototypes, dim=-1).T

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        prototypes = self.prototypes(support_x, support_y)

        def predictor(query_x: Tensor) -> Tensor:
            check_query(query_x, support_x)
            return self.scores(self.embed(query_x), prototypes)

        predictor.prototypes = prototypes  # inspectable, e.g. for plots
        return predictor


__all__ = ["ProtoNet", "check_query", "class_means", "prototype_linear_classifier", "squared_euclidean"]
