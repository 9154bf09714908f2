"""Meta Networks (Munkhdalai & Yu 2017, ICML) — fast weights generated from loss gradients, kept in a memory.

A Meta Network has a **base learner** b that classifies, and a **meta learner** that turns the
base learner's *loss gradients* on the support set into **fast weights** — weights made for this
task in one forward pass, instead of being learned slowly by SGD across tasks (the **slow
weights**). The fast weights of every support example are stored in a memory, indexed by a
task-dependent representation of that example; each query reads the fast weights of the
support examples it resembles.

For a support set {(x'_i, y'_i)} and a query x (eqs. of §3 of the paper, our notation)::

    ∇_i   = ∇_W ℓ(b(W, x'_i), y'_i)                 per-example loss gradient (meta information)
    W*_i  = m(Z, ∇_i)                                example-level fast weights   → memory M
    Q*    = d(G, ∇_Q L_emb(u(Q, x'), y'))            task-level fast weights of u
    r'_i  = u(Q, Q*, x'_i)                           representation of each example → keys R
    a     = softmax_i(s · cos(u(Q, Q*, x), r'_i))    attention of the query over the memory
    W*    = Σ_i a_i W*_i                              the query's fast weights
    ŷ     = b(W, W*, x)                              prediction with slow *and* fast weights

**Layer augmentation** (§3.3). A layer with slow weights W and fast weights W* computes both and
sums them *after* their activations: ``ReLU(W z) + ReLU(W* z)``; the output layer, which has no
activation, sums the scores: ``W z + W* z``.

Meta-training minimises the cross-entropy of the base learner's predictions on the query sets
(:func:`metalearn_lite.meta_train`), training all slow weights — W, Q, and the meta learners'
Z and G — with the same optimiser.

**What is simplified relative to the paper**, so the method stays small and trains on a CPU:

* *Which layers are fast.* The base learner is a convolutional trunk (slow weights only) and two
  layer-augmented fully connected layers, ``hidden`` units then ``max_way`` scores; only these
  two layers get example-level fast weights, so that each memory entry stays small
  (``hidden`` × (trunk features + ``max_way``) numbers: 64 × (32 + 20) with the defaults).
  The representation learner u is a trunk and one layer-augmented layer (``representation_dim``
  units) with task-level fast weights Q*.
* *The meta learners m and d* are small MLPs applied to every gradient coordinate separately
  (weights shared across coordinates, one MLP per fast layer, as in learned optimisers), on the
  gradient preprocessed as in Andrychowicz et al. (2016) — (log|g|/p, sign g), or (−1, e^p g)
  for |g| < e^−p, with p = 10 — plus the raw gradient. m maps each support example's gradient to
  its fast weights; d maps the gradient of the whole support set's representation loss to Q*
  (the paper's d is an LSTM reading the examples' gradients one at a time).
* *The representation loss* L_emb is a prototype cross-entropy over the support set (each
  support example classified by −‖r − c_k‖² to the class means c_k of the support
  representations, computed with the slow weights Q): it pushes different classes apart and,
  with K > 1, pulls a class together — a stand-in for the paper's representation loss.
* *Gradients as inputs.* The gradients ∇_i are meta information fed *into* m and d; they are
  not differentiated again (no second-order terms), so meta-training backpropagates through m,
  d, the attention and the forward passes only.
* *Attention sharpness.* Cosines are multiplied by ``scale`` (default 10; the paper's plain
  cosine softmax is ``scale=1``), as for Matching Networks in this library.
* *Label slots.* As in :class:`~metalearn_lite.memory.MANN`, the output has ``max_way`` slots;
  in meta-training each episode's labels go to N random distinct slots (so every slot is
  trained and one model serves any N ≤ ``max_way``, e.g. Lake et al.'s 20-way runs), at test
  time label k uses slot k. Losses and scores are over the N slots in play.

Everything task-specific — the fast weights, the memory, Q* — is computed inside
:meth:`MetaNetwork.adapt` and lives in the returned predictor: nothing is carried from one task
to the next.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, vmap

from ..data.episodes import EpisodeBatch
from ..metric.protonet import class_means, squared_euclidean
from ..models import ConvNet4
from ..protocol import MetaLearner, Predictor, check_batch, check_query, check_support
from ..utils import is_integer


def preprocess_gradients(g: Tensor, p: float = 10.0) -> Tensor:
    """Andrychowicz et al.'s (2016) gradient preprocessing plus the raw gradient: ``(...) -> (..., 3)``.

    ``(log|g| / p, sign g, g)`` where ``|g| ≥ e^−p``, else ``(−1, e^p g, g)``: the magnitude on a
    log scale, so coordinates of very different sizes look alike to the meta learner.
    """
    big = g.abs() >= math.exp(-p)
    log_magnitude = torch.where(big, g.abs().clamp_min(math.exp(-p)).log() / p, torch.full_like(g, -1.0))
    sign = torch.where(big, g.sign(), math.exp(p) * g)
    return torch.stack([log_magnitude, sign, g], dim=-1)


class CoordinateMLP(nn.Module):
    """A small MLP applied to every gradient coordinate: fast weight = m(preprocess(g)), same shape as g."""

    def __init__(self, hidden: int = 20, p: float = 10.0) -> None:
        super().__init__()
        self.p = p
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, g: Tensor) -> Tensor:
        return self.net(preprocess_gradients(g, self.p))[..., 0]


def _encoder_dim(encoder: nn.Module, dim: int | None, name: str) -> int:
    if dim is not None:
        return dim
    if isinstance(encoder, ConvNet4):
        return encoder.head.out_features if encoder.head is not None else encoder.feature_dim
    raise ValueError(f"pass {name}=<size of encoder(x).flatten(1)> for a {type(encoder).__name__} encoder")


class MetaNetwork(MetaLearner):
    """Meta Networks: a base learner whose top layers get fast weights generated from support-set gradients.

    ``base_encoder`` and ``representation_encoder`` are the convolutional trunks of the base
    learner b and of the representation learner u (default ``ConvNet4(hidden=32)`` each; their
    output sizes ``base_dim``/``representation_input_dim`` are needed for other encoders).
    ``hidden`` units in b's fast hidden layer, ``representation_dim`` in u's; ``max_way``
    label slots; ``scale`` the attention's inverse temperature; ``meta_hidden`` the width of the
    coordinate-wise meta learners m and d.

    The default trunks normalise with batch statistics (``ConvNet4``'s ``norm="batch"``): the
    support set, and a predictor's query batch, are each normalised as one batch, so a query's
    scores depend on the queries scored with it (transductive; ``evaluate(..., query_batch=1)``
    measures queries alone). Pass ``ConvNet4(hidden=32, norm="layer")`` trunks for per-example
    normalisation. Episodes of a meta-batch are never normalised together: each is embedded on
    its own.

    Example::

        learner = MetaNetwork()
        meta_train(learner, EpisodeSampler(train, n_way=5, k_shot=1, q_queries=5), steps=2000)
        scores = learner.adapt(support_x, support_y)(query_x)     # (Q, N)
    """

    def __init__(
        self,
        base_encoder: nn.Module | None = None,
        representation_encoder: nn.Module | None = None,
        base_dim: int | None = None,
        representation_input_dim: int | None = None,
        hidden: int = 64,
        representation_dim: int = 64,
        max_way: int = 20,
        scale: float = 10.0,
        meta_hidden: int = 20,
    ) -> None:
        super().__init__("classification")
        sizes = {"hidden": hidden, "representation_dim": representation_dim, "max_way": max_way, "meta_hidden": meta_hidden}
        for name, value in sizes.items():
            if not is_integer(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        hidden, representation_dim, max_way, meta_hidden = (int(value) for value in sizes.values())
        if max_way < 2:
            raise ValueError(f"max_way must be at least 2, got {max_way}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.base_encoder = base_encoder if base_encoder is not None else ConvNet4(hidden=32)
        self.representation_encoder = representation_encoder if representation_encoder is not None else ConvNet4(hidden=32)
        base_dim = _encoder_dim(self.base_encoder, base_dim, "base_dim")
        rep_in = _encoder_dim(self.representation_encoder, representation_input_dim, "representation_input_dim")
        self.max_way, self.scale = max_way, float(scale)
        # base learner b: slow weights of the two layer-augmented layers (fast ones come from m)
        self.hidden_layer = nn.Linear(base_dim, hidden)
        self.output_layer = nn.Linear(hidden, max_way)
        # representation learner u: slow weights Q of its layer-augmented layer (Q* comes from d)
        self.representation_layer = nn.Linear(rep_in, representation_dim)
        # meta learners: m (one per fast layer of b) and d
        self.m_hidden, self.m_output, self.d = CoordinateMLP(meta_hidden), CoordinateMLP(meta_hidden), CoordinateMLP(meta_hidden)

    def extra_repr(self) -> str:
        return f"max_way={self.max_way}, scale={self.scale}"

    # --- the representation learner u ------------------------------------------------------------------
    def representation(self, g: Tensor, fast_q: Tensor | None) -> Tensor:
        """u(Q, Q*, x) from the trunk features g ``(B, D)``: ReLU(Q g) + ReLU(Q* g) (slow only if ``fast_q`` is None)."""
        r = F.relu(self.representation_layer(g))
        return r if fast_q is None else r + F.relu(g @ fast_q.T)

    def task_fast_weights(self, g: Tensor, y: Tensor, n_way: int) -> Tensor:
        """Q* = d(∇_Q L_emb): the prototype loss of the support representations, with slow weights, ``(E, D)``."""
        weight, bias = self.representation_layer.weight.detach(), self.representation_layer.bias.detach()

        def embedding_loss(q: Tensor) -> Tensor:
            r = F.relu(g @ q.T + bias)
            return F.cross_entropy(-squared_euclidean(r, class_means(r, y, n_way)), y)

        return self.d(grad(embedding_loss)(weight))

    # --- the base learner b ----------------------------------------------------------------------------
    def slow_scores(self, h: Tensor) -> Tensor:
        return self.output_layer(F.relu(self.hidden_layer(h)))

    def example_gradients(self, h: Tensor, slots: Tensor) -> tuple[Tensor, Tensor]:
        """∇_i: each support example's loss gradient w.r.t. b's two fast-able layers (slow weights), ``(S, ...)``.

        ``h`` ``(S, D)`` trunk features, ``slots`` ``(S,)`` the output slot of each label; the
        loss is the cross-entropy over the slots in play. Inputs, not differentiated again.
        """
        in_play = torch.zeros(self.max_way, dtype=torch.bool, device=h.device)
        in_play[slots] = True
        params = {k: v.detach() for k, v in (("w1", self.hidden_layer.weight), ("b1", self.hidden_layer.bias),
                                              ("w2", self.output_layer.weight), ("b2", self.output_layer.bias))}

        def loss(w1: Tensor, w2: Tensor, x: Tensor, target: Tensor) -> Tensor:  # one example; target one-hot
            scores = F.relu(x @ w1.T + params["b1"]) @ w2.T + params["b2"]
            return -(torch.log_softmax(scores.masked_fill(~in_play, -1e9), dim=-1) * target).sum()

        targets = F.one_hot(slots, self.max_way).to(h.dtype)
        return vmap(grad(loss, argnums=(0, 1)), in_dims=(None, None, 0, 0))(params["w1"], params["w2"], h.detach(), targets)

    def fast_scores(self, h: Tensor, fast_hidden: Tensor, fast_output: Tensor) -> Tensor:
        """b(W, W*, x) with per-example fast weights ``(Q, H, D)``, ``(Q, L, H)``: layer augmentation, ``(Q, L)``."""
        z = F.relu(self.hidden_layer(h)) + F.relu(torch.einsum("qhd,qd->qh", fast_hidden, h))
        return self.output_layer(z) + torch.einsum("qlh,qh->ql", fast_output, z)

    # --- the protocol ------------------------------------------------------------------------------------
    def _check_ways(self, n_way: int) -> None:
        if n_way > self.max_way:
            raise ValueError(f"the episode has {n_way} classes but this MetaNetwork has {self.max_way} label slots; "
                             f"build it with MetaNetwork(max_way={n_way}) or more")

    def adapt_with_slots(self, support_x: Tensor, support_y: Tensor, slots: Tensor | None = None) -> Predictor:
        """:meth:`adapt`, with label k in output slot ``slots[k]`` (default: slot k)."""
        n_way = check_support(support_x, support_y)
        self._check_ways(n_way)
        if slots is None:
            slots = torch.arange(n_way, device=support_y.device)
        # meta information: per-example gradients of b → example-level fast weights, the memory M
        h = self.base_encoder(support_x).flatten(1)
        grad_hidden, grad_output = self.example_gradients(h, slots[support_y])
        memory_hidden, memory_output = self.m_hidden(grad_hidden), self.m_output(grad_output)  # (S, H, D), (S, L, H)
        # task-level fast weights of u, then the memory's keys R
        g = self.representation_encoder(support_x).flatten(1)
        fast_q = self.task_fast_weights(g.detach(), support_y, n_way)
        keys = F.normalize(self.representation(g, fast_q), dim=-1)

        def predictor(query_x: Tensor) -> Tensor:
            check_query(query_x, support_x)
            r = F.normalize(self.representation(self.representation_encoder(query_x).flatten(1), fast_q), dim=-1)
            attention = torch.softmax(self.scale * r @ keys.T, dim=-1)  # (Q, S)
            fast_hidden = torch.einsum("qs,shd->qhd", attention, memory_hidden)
            fast_output = torch.einsum("qs,slh->qlh", attention, memory_output)
            scores = self.fast_scores(self.base_encoder(query_x).flatten(1), fast_hidden, fast_output)
            return scores[:, slots]

        predictor.memory = (memory_hidden, memory_output)  # inspectable: the fast weights of each support example
        predictor.keys, predictor.fast_q = keys, fast_q
        return predictor

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        """Generate and store the support examples' fast weights; the predictor reads them by attention → ``(Q, N)``."""
        return self.adapt_with_slots(support_x, support_y)

    def meta_loss(self, batch: EpisodeBatch) -> tuple[Tensor, dict[str, float]]:
        """Mean query cross-entropy over the meta-batch (labels in random output slots while training)."""
        check_batch(batch)
        losses, scores = [], []
        for episode in batch:
            n_way = check_support(episode.support_x, episode.support_y)
            self._check_ways(n_way)
            slots = torch.randperm(self.max_way)[:n_way].to(episode.support_y.device) if self.training else None
            outputs = self.adapt_with_slots(episode.support_x, episode.support_y, slots)(episode.query_x)
            losses.append(self.loss(outputs, episode.query_y))
            scores.append(float((outputs.detach().argmax(-1) == episode.query_y).float().mean()))
        loss = torch.stack(losses).mean()
        return loss, {"loss": float(loss.detach()), "accuracy": sum(scores) / len(scores)}


__all__ = ["CoordinateMLP", "MetaNetwork", "preprocess_gradients"]
