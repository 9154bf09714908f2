"""Matching Networks (Vinyals, Blundell, Lillicrap, Kavukcuoglu & Wierstra 2016, NeurIPS).

A query x̂ is labelled by an attention-weighted vote of the support set S = {(xᵢ, yᵢ)} (eq. 1)::

    ŷ = Σᵢ a(x̂, xᵢ) yᵢ            with yᵢ one-hot, so ŷ is a distribution over the N classes

where the attention is a softmax over the support set of cosine similarities between the
embedded query f(x̂) and the embedded support examples g(xᵢ) (eq. 2)::

    a(x̂, xᵢ) = exp(s · c(f(x̂), g(xᵢ))) / Σⱼ exp(s · c(f(x̂), g(xⱼ))),    c = cosine similarity

``s`` (``scale``) is an inverse temperature. The paper has s = 1 (``scale=1.0``, the default,
is the paper's formula); since cosines lie in [−1, 1], with s = 1 the attention can never be
sharp: in 5-way 1-shot a perfectly matched query gets at most e/(e + 4/e) ≈ 0.65, and only
e/(e + 4) ≈ 0.40 with ``ConvNet4`` embeddings, which are non-negative (after a ReLU) so their
cosines are ≥ 0. A larger s (e.g. 10) trains faster (on Omniglot small1, 100 steps: 67% vs 50%
5-way 1-shot accuracy on unseen alphabets). Many re-implementations get the same effect implicitly by
normalising only g.

**Scores and loss.** The predictor returns ``log ŷ`` (shape ``(Q, N)``), computed stably as
``log ŷ_k = logsumexp_{i: yᵢ=k} s·cᵢ − logsumexp_i s·cᵢ`` (the same as ``log(ŷ + ε)`` without
the ε). Since ŷ sums to 1, ``softmax(log ŷ) = ŷ``, and ``F.cross_entropy`` on these scores is
−log ŷ_y, the paper's training objective (maximum log-likelihood of the true label).

**Full context embeddings** (``fce=True``, Appendix A.2). The embeddings then depend on the
whole support set:

* g — a bidirectional LSTM reads the support embeddings g'(x₁) … g'(x_{NK}) in the order given,
  and g(xᵢ) = g'(xᵢ) + h→ᵢ + h←ᵢ (skip connection plus both directions' hidden states);
* f — an LSTM with read-attention over g(S), run for ``processing_steps`` = K steps on the
  query embedding f'(x̂) (eqs. 3–6)::

      r_{k−1}   = Σᵢ a(h_{k−1}, g(xᵢ)) g(xᵢ),   a(h, g(xᵢ)) = softmax_i(hᵀ g(xᵢ))
      ĥ_k, c_k  = LSTM(f'(x̂), [h_{k−1}, r_{k−1}], c_{k−1})
      h_k       = ĥ_k + f'(x̂)                 and f(x̂, S) = h_K

  The LSTM's gates see [f'(x̂), h_{k−1}, r_{k−1}]; since gates are linear in that concatenation
  this is ``nn.LSTMCell`` with input ``[f'(x̂), r_{k−1}]`` and hidden state ``h_{k−1}``. We start
  from h₀ = f'(x̂) (ĥ₀ = 0) and c₀ = 0, which the paper leaves unspecified.

f' and g' are the same network (``encoder``, default ``ConvNet4()``), as in the paper.

**Order of the support set.** Without FCE the attention weights are a softmax over the support
set and ŷ a sum over it, so the predictions are invariant to reordering the support set. With
FCE the bidirectional LSTM reads the support set as a *sequence*: its embeddings — and so the
predictions — change when the support set is reordered or changed, as the paper notes.

**Batch normalisation**: as for :class:`~metalearn_lite.metric.ProtoNet`, the default encoder
normalises support and query batches with their own statistics.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import ConvNet4
from ..protocol import MetaLearner, Predictor, check_query, check_support
from ..utils import is_integer


def cosine_similarity_matrix(query_emb: Tensor, support_emb: Tensor, eps: float = 1e-8) -> Tensor:
    """``c[q, i] = cos(query_emb[q], support_emb[i])``, shape ``(Q, S)``."""
    return F.normalize(query_emb, dim=-1, eps=eps) @ F.normalize(support_emb, dim=-1, eps=eps).T


def cosine_attention(query_emb: Tensor, support_emb: Tensor, scale: float | Tensor = 1.0) -> Tensor:
    """The attention kernel of eq. 2: ``a[q, i] = softmax_i(scale · cos(query_emb[q], support_emb[i]))``, ``(Q, S)``.

    Each row is a probability distribution over the support set (non-negative, sums to 1).
    """
    return torch.softmax(scale * cosine_similarity_matrix(query_emb, support_emb), dim=-1)


def label_distribution(attention: Tensor, support_y: Tensor, n_way: int) -> Tensor:
    """ŷ = Σᵢ a(x̂, xᵢ) yᵢ with one-hot yᵢ (eq. 1): ``attention @ one_hot(support_y)``, shape ``(Q, N)``."""
    return attention @ F.one_hot(support_y, n_way).to(attention.dtype)


def log_label_distribution(logits: Tensor, support_y: Tensor, n_way: int) -> Tensor:
    """``log ŷ`` from the attention logits ``s · c`` ``(Q, S)``, computed stably with logsumexp, ``(Q, N)``.

    ``log ŷ_k = logsumexp_{i: yᵢ = k} logits_i − logsumexp_i logits_i``.
    """
    mask = F.one_hot(support_y, n_way).T.bool()  # (N, S): mask[k, i] = (yᵢ == k)
    per_class = logits[:, None, :].masked_fill(~mask[None], float("-inf"))  # (Q, N, S)
    return torch.logsumexp(per_class, dim=-1) - torch.logsumexp(logits, dim=-1, keepdim=True)


def _embedding_dim(encoder: nn.Module, embedding_dim: int | None) -> int:
    if embedding_dim is not None:
        return embedding_dim
    if isinstance(encoder, ConvNet4):
        return encoder.head.out_features if encoder.head is not None else encoder.feature_dim
    raise ValueError(
        f"full context embeddings need the embedding size of the {type(encoder).__name__} encoder: "
        "pass embedding_dim=<size of encoder(x).flatten(1)>"
    )


class FullContextEmbedding(nn.Module):
    """The FCE of Vinyals et al. (2016), Appendix A.2: g = bidirectional LSTM, f = attention LSTM."""

    def __init__(self, dim: int, processing_steps: int = 5) -> None:
        super().__init__()
        if not is_integer(processing_steps) or processing_steps < 0:
            raise ValueError(f"processing_steps must be an integer >= 0, got {processing_steps!r}")
        self.dim, self.processing_steps = dim, int(processing_steps)
        self.support_lstm = nn.LSTM(dim, dim, bidirectional=True, batch_first=True)
        self.query_cell = nn.LSTMCell(2 * dim, dim)

    def embed_support(self, support_emb: Tensor) -> Tensor:
        """g(xᵢ, S) = g'(xᵢ) + h→ᵢ + h←ᵢ, reading the support set in the given order: ``(S, D) -> (S, D)``."""
        outputs, _ = self.support_lstm(support_emb[None])  # (1, S, 2D): [forward, backward]
        forward, backward = outputs[0].split(self.dim, dim=-1)
        return support_emb + forward + backward

    def embed_query(self, query_emb: Tensor, support_g: Tensor) -> Tensor:
        """f(x̂, S) = attLSTM(f'(x̂), g(S), K), eqs. 3–6: ``(Q, D), (S, D) -> (Q, D)``."""
        h, c = query_emb, torch.zeros_like(query_emb)
        for _ in range(self.processing_steps):
            read = torch.softmax(h @ support_g.T, dim=-1) @ support_g  # r_{k-1}
            h_hat, c = self.query_cell(torch.cat([query_emb, read], dim=-1), (h, c))
            h = h_hat + query_emb
        return h


class MatchingNetwork(MetaLearner):
    """Matching Networks: ŷ = Σᵢ softmax_i(scale · cos(f(x̂), g(xᵢ))) yᵢ; scores are ``log ŷ`` ``(Q, N)``.

    ``encoder`` (default ``ConvNet4()``) is f' = g'. ``fce=True`` adds full context embeddings
    (``processing_steps`` attention-LSTM steps; ``embedding_dim`` is needed for encoders other
    than ``ConvNet4``). ``scale`` multiplies the cosines (1 = the paper).
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        fce: bool = False,
        scale: float = 1.0,
        processing_steps: int = 5,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__("classification")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.encoder = encoder if encoder is not None else ConvNet4()
        self.scale = scale
        self.fce = FullContextEmbedding(_embedding_dim(self.encoder, embedding_dim), processing_steps) if fce else None

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x).flatten(1)

    def embed_support(self, support_x: Tensor) -> Tensor:
        """g(xᵢ) (or g(xᵢ, S) with FCE), ``(N*K, D)``."""
        g = self.embed(support_x)
        return self.fce.embed_support(g) if self.fce is not None else g

    def embed_query(self, query_x: Tensor, support_g: Tensor) -> Tensor:
        """f(x̂) (or f(x̂, S) with FCE), ``(Q, D)``."""
        f = self.embed(query_x)
        return self.fce.embed_query(f, support_g) if self.fce is not None else f

    def attention(self, support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        """The attention a(x̂, xᵢ) of every query over the support set, ``(Q, N*K)`` (rows sum to 1)."""
        check_support(support_x, support_y)
        check_query(query_x, support_x)
        support_g = self.embed_support(support_x)
        return cosine_attention(self.embed_query(query_x, support_g), support_g, self.scale)

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        n_way = check_support(support_x, support_y)
        support_g = self.embed_support(support_x)

        def predictor(query_x: Tensor) -> Tensor:
            check_query(query_x, support_x)
            logits = self.scale * cosine_similarity_matrix(self.embed_query(query_x, support_g), support_g)
            return log_label_distribution(logits, support_y, n_way)  # log ŷ

        return predictor


__all__ = [
    "FullContextEmbedding", "MatchingNetwork", "cosine_attention", "cosine_similarity_matrix", "label_distribution",
    "log_label_distribution",
]
