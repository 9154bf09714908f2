"""MANN — Memory-Augmented Neural Network (Santoro, Bartunov, Botvinick, Wierstra & Lillicrap 2016, ICML).

A recurrent **controller** (an LSTM) reads an episode one example at a time and learns, across
episodes, to *bind* each image to its label in an **external memory** M (S slots × W numbers)
and to look the binding up when the class comes back. Nothing about the classes is stored in
the weights: labels are reassigned in every episode, so the only way to do better than chance
is to write what was seen and read it back.

**The episode as a sequence.** Example t is presented together with the label of the
*previous* example, (x_t, y_{t−1}) (y_0 = "no label", a zero vector), and the network must
predict y_t. So the first time a class appears its label can only be guessed; from its second
presentation on, the label can be read from memory. Per-step loss: cross-entropy of the
prediction of y_t at every step.

**One step** (t = 1, 2, …; H heads, n = H least-used slots, γ the usage decay; f the encoder)::

    z_t        = [f(x_t), f(x_{t−1}), onehot(y_{t−1})]                       what step t sees
    h_t, c_t   = LSTM([z_t, r_{t−1}], (h_{t−1}, c_{t−1}))                          controller
    k_t, a_t   = tanh(W_k [h_t, z_t]), tanh(W_a [h_t, z_t])   read key, write vector (per head)
    σ_t, β_t   = sigmoid(W_σ [h_t, z_t]), 1 + softplus(W_β [h_t, z_t])   write gate, key strength
    w^lu_{t−1} = one-hot of the n smallest entries of u_{t−1}              (least-used weights)
    w^w_t      = σ_t w^r_{t−1} + (1 − σ_t) w^lu_{t−1}                        (LRUA write weights)
    M_t(i)     = M_{t−1}(i) · [i not among the n least-used] + Σ_heads w^w_t(i) a_t  (erase, then write)
    w^r_t(i)   = softmax_i(β_t · cos(k_t, M_t(i)))                         (content-based read)
    r_t        = Σ_i w^r_t(i) M_t(i)                                      (one per head, joined)
    u_t        = γ u_{t−1} + Σ_heads w^r_t + Σ_heads w^w_t                                (usage)
    scores_t   = W_o [h_t, r_t]

Least-recently-used access (LRUA) writes either to the slots just read (σ → 1: update a
binding) or to a little-used slot (σ → 0: store a new one). The paper's w^lu marks the n
smallest usages with n = the number of read heads; here head j gets the j-th of them (a
one-hot), so the heads write to different fresh slots. **Erasing differs from the paper**:
the paper sets the single least-used location to zero before writing; here **all n
least-used slots** (one per head, n = ``read_heads``) are set to zero before writing, at every
step, whatever the write gates σ are (with one read head the two agree). Memory, usage, read
weights, the previous features and the LSTM state start at zero in **every** episode (no
leakage from one episode to the next).

**Why this MANN learns in minutes, and what differs from the paper.** Santoro et al. needed
~10⁵ episodes, and public re-implementations often stay at chance: at initialisation the key
and the write vector are unrelated random projections of the controller state, so reading
retrieves nothing, and the label of x_{t−1} arrives one step after x_{t−1} itself, so the LSTM
must first learn to hold x_{t−1} for a step. Three choices (each can be switched off) remove
both obstacles; every trained weight stays free:

* ``previous_features=True`` — the controller also gets f(x_{t−1}), a one-step delay line the
  LSTM would otherwise have to learn; the information is exactly that of the paper's sequence.
* ``interface_skip=True`` — the key, write vector, gate and strength read the controller's
  input z_t as well as its output h_t (the paper: h_t only).
* ``binding_init=True`` (needs both) — *initialise* the interface so that the key is a random
  projection P f(x_t) and the write vector the same projection of the previous example plus a
  random code of its label, P f(x_{t−1}) + Y onehot(y_{t−1}), with key strength β ≈ 10 and gate
  σ ≈ 0.1: from the first episode, reading with x_t retrieves the label of the earlier examples
  that look like x_t, and meta-training improves the features, the lookup and everything else.
  Features are layer-normalised (``LayerNorm``) so that this initialisation has a known scale.

Further differences: the paper writes the key itself and reads with β = 1 (``key_strength=False``
gives β = 1; a softmax of cosines over 128 slots is nearly flat); the write vector a_t is
separate (as in the NTM).

* *Encoder.* Default :class:`PixelEncoder`: 28×28 images average-pooled to 14×14, flattened,
  one linear map (no bias) to 64 features — flattened pixels and a linear layer, as in the
  paper (20×20 there), and cheap. Any encoder without batch normalisation works
  (``feature_dim=`` its output size), e.g. ``ConvNet4(hidden=32, norm="layer")`` (slower per
  step; per-example normalisation, so a query's features do not depend on the other queries).
  Encoders containing a BatchNorm layer (such as ``ConvNet4()``, whose default is
  ``norm="batch"``) are refused with a ``ValueError``: MANN embeds all the steps of all the
  episodes of a meta-batch as one batch (and a predictor's queries together), so BatchNorm's
  batch statistics would mix images of different steps and episodes — a step's features would
  depend on the images of later steps and of other episodes.
* *Label slots.* The output has ``max_way`` label slots (default 20, enough for Lake et al.'s
  20-way runs). In meta-training each episode's labels 0..N−1 are put in N random distinct slots
  (a fresh map per episode — the labels are "shuffled per episode" as in the paper, and every
  slot is trained), and the softmax is over those N slots. At test time label k uses slot k and
  the scores are those of slots 0..N−1. One model thus serves any N ≤ ``max_way``.

**Training and evaluation protocol** (exactly what :meth:`MANN.meta_loss` and
:meth:`MANN.adapt` do):

* ``meta_loss(batch)``: each episode's support *and* query examples are shuffled together into
  one sequence (a fresh random order per episode, so a class with K + Q examples is presented
  K + Q times at random times) — the paper's episodes; the loss is the mean cross-entropy over
  **all** steps, the logged accuracy is over all steps too (``accuracy_1st``: first
  presentations only; ``accuracy_later``: the others). The episodes of a meta-batch run in
  parallel.
* ``adapt(support_x, support_y)``: the support set is presented as a sequence (in a fixed
  pseudo-random order, ``support_order="shuffle"``, the same at every call, or in the given
  order), writing memory. Each query is then presented as **the next step** after the support
  sequence, with the last support label as its label input (that is how the last support
  example gets bound — labels always arrive one step late). Queries are independent: each runs
  from the same post-support state in its own copy of the memory (as a batch), so what a query
  step writes — as every MANN step does, here the binding of the last support example — is
  seen by no other query and then discarded; a query's own label is never input. A query of a
  K-shot episode is thus scored like the (K + 1)-th presentation of its class in training.

:meth:`MANN.memory_trace` returns the read/write weights and usage of every step (the heat map
of chapter 4), :func:`accuracy_by_presentation` the accuracy at the 1st, 2nd, … presentation of
a class (the paper's learning curves).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.episodes import Episode, EpisodeBatch
from ..models import ConvNet4
from ..protocol import MetaLearner, Predictor, check_batch, check_episode, check_query, check_support
from ..utils import is_integer
from .presentations import PresentationCurve, accuracy_by_presentation, presentation_numbers  # re-exported

SUPPORT_ORDERS = ("shuffle", "given")


# --- the memory mechanics, as plain functions (tested against hand computations) -----------------------
def least_used_weights(usage: Tensor, n: int) -> Tensor:
    """One-hot weights on the ``n`` least-used slots: ``(B, S) -> (B, n, S)``.

    Row j marks the slot with the j-th smallest usage (ties: the lower slot index first), so
    ``.sum(1)`` is the paper's w^lu (1 on the n smallest usages, 0 elsewhere).
    """
    if not 1 <= n <= usage.shape[-1]:
        raise ValueError(f"need 1 <= n <= {usage.shape[-1]} slots, got n={n}")
    order = torch.argsort(usage, dim=-1, stable=True)[:, :n]  # (B, n)
    return F.one_hot(order, usage.shape[-1]).to(usage.dtype)


def lrua_write_weights(prev_read: Tensor, prev_least_used: Tensor, gate: Tensor) -> Tensor:
    """w^w_t = σ(α) w^r_{t−1} + (1 − σ(α)) w^lu_{t−1}; ``gate`` is σ(α) ``(B, H)``, weights ``(B, H, S)``."""
    gate = gate[..., None]
    return gate * prev_read + (1 - gate) * prev_least_used


def update_usage(usage: Tensor, read: Tensor, write: Tensor, gamma: float) -> Tensor:
    """u_t = γ u_{t−1} + Σ_heads w^r_t + Σ_heads w^w_t: ``(B, S)``, ``(B, H, S)``, ``(B, H, S)`` → ``(B, S)``."""
    return gamma * usage + read.sum(1) + write.sum(1)


def cosine_read_weights(keys: Tensor, memory: Tensor, strength: Tensor | float = 1.0, eps: float = 1e-8) -> Tensor:
    """w^r(i) = softmax_i(β cos(k, M(i))): keys ``(B, H, W)``, memory ``(B, S, W)``, β ``(B, H)`` → ``(B, H, S)``.

    An empty (all-zero) slot has cosine 0 with every key.
    """
    cos = F.normalize(keys, dim=-1, eps=eps) @ F.normalize(memory, dim=-1, eps=eps).transpose(1, 2)
    if isinstance(strength, Tensor):
        strength = strength[..., None]
    return torch.softmax(strength * cos, dim=-1)


@dataclass
class MANNState:
    """Everything MANN carries from one step to the next (batch dimension B first)."""

    h: Tensor  # (B, C) controller output
    c: Tensor  # (B, C) controller cell
    memory: Tensor  # (B, S, W)
    usage: Tensor  # (B, S)
    read_weights: Tensor  # (B, H, S), w^r_{t-1}
    reads: Tensor  # (B, H*W), r_{t-1}
    features: Tensor  # (B, F), f(x_{t-1})

    def expand(self, batch: int) -> "MANNState":
        """The same state repeated ``batch`` times (from a batch of one): one private copy per query."""
        return MANNState(*(t.expand(batch, *t.shape[1:]) for t in self.__dict__.values()))


@dataclass
class MemoryTrace:
    """What happened at every step of one episode (T steps, H heads, S slots).

    ``read_weights`` and ``write_weights`` ``(T, H, S)``, ``usage`` ``(T, S)`` (after the step),
    ``least_used`` ``(T, S)`` (the slots erased at that step), ``scores`` ``(T, N)``,
    ``labels`` ``(T,)`` (the label to predict at each step), ``presentation`` ``(T,)`` (1 for
    the first time a class appears, 2 for the second, …).
    """

    read_weights: Tensor
    write_weights: Tensor
    usage: Tensor
    least_used: Tensor
    scores: Tensor
    labels: Tensor
    presentation: Tensor


class PixelEncoder(nn.Module):
    """Flattened pixels and one linear map: ``(B, C, S, S)`` → average-pool by ``pool`` → flatten → ``features``.

    No bias, so at initialisation it is a random projection that keeps the geometry of the
    (pooled) pixel vectors. MANN's default encoder (the paper used flattened 20×20 pixels).
    """

    def __init__(self, features: int = 64, image_size: int = 28, in_channels: int = 1, pool: int = 2) -> None:
        super().__init__()
        if image_size % pool:
            raise ValueError(f"image_size={image_size} is not divisible by pool={pool}")
        self.in_channels, self.image_size, self.feature_dim = in_channels, image_size, features
        pixels = in_channels * (image_size // pool) ** 2
        self.net = nn.Sequential(nn.AvgPool2d(pool), nn.Flatten(), nn.Linear(pixels, features, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"PixelEncoder expects images of shape (batch, {self.in_channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(x.shape)}"
            )
        return self.net(x)


def _refuse_batch_norm(encoder: nn.Module) -> None:
    """MANN embeds every step of a meta-batch's episodes in one batch: BatchNorm would mix them."""
    for name, layer in encoder.named_modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            raise ValueError(
                f"the MANN encoder contains a BatchNorm layer ({name or type(layer).__name__}: {type(layer).__name__}); "
                "MANN embeds all the steps of all the episodes of a meta-batch as one batch, so batch statistics would "
                "mix images of different steps and episodes. Use an encoder with per-example normalisation, e.g. "
                "ConvNet4(norm='layer') or norm='group', or the default PixelEncoder()"
            )


def _feature_dim(encoder: nn.Module, feature_dim: int | None) -> int:
    if feature_dim is not None:
        return feature_dim
    if isinstance(encoder, ConvNet4):
        return encoder.head.out_features if encoder.head is not None else encoder.feature_dim
    if isinstance(encoder, PixelEncoder):
        return encoder.feature_dim
    raise ValueError(f"pass feature_dim=<size of encoder(x).flatten(1)> for a {type(encoder).__name__} encoder")


class MANN(MetaLearner):
    """Memory-augmented neural network with an LSTM controller and LRUA memory (Santoro et al. 2016).

    ``encoder`` maps images to ``feature_dim`` features (default :class:`PixelEncoder`; no
    BatchNorm layers, which are refused);
    ``max_way`` label slots; ``controller_size`` LSTM units; ``memory_slots`` × ``memory_width``
    memory; ``read_heads`` heads (= n, the number of least-used slots); ``gamma`` the usage decay
    γ; ``key_strength`` learns β_t ≥ 1 (else β = 1, the paper); ``previous_features``,
    ``interface_skip``, ``binding_init`` (``initial_key_strength``) as in the module docstring;
    ``support_order`` ``"shuffle"`` (a fixed pseudo-random order from ``order_seed``) or
    ``"given"``. The paper's Omniglot model: 200 units, 128 × 40 memory, 4 heads, γ = 0.95 (the
    defaults).

    Example::

        learner = MANN()
        meta_train(learner, EpisodeSampler(train, n_way=5, k_shot=1, q_queries=9), steps=2000, lr=3e-3)
        scores = learner.adapt(support_x, support_y)(query_x)   # (Q, N): read what the support wrote
        accuracy_by_presentation(learner, EpisodeSampler(test, 5, 1, 9))   # 1st, 2nd, ... 10th
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        feature_dim: int | None = None,
        max_way: int = 20,
        controller_size: int = 200,
        memory_slots: int = 128,
        memory_width: int = 40,
        read_heads: int = 4,
        gamma: float = 0.95,
        key_strength: bool = True,
        previous_features: bool = True,
        interface_skip: bool = True,
        binding_init: bool = True,
        initial_key_strength: float = 10.0,
        support_order: str = "shuffle",
        order_seed: int = 0,
    ) -> None:
        super().__init__("classification")
        sizes = {"max_way": max_way, "controller_size": controller_size, "memory_slots": memory_slots,
                 "memory_width": memory_width, "read_heads": read_heads}
        for name, value in sizes.items():
            if not is_integer(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        max_way, controller_size, memory_slots, memory_width, read_heads = (int(value) for value in sizes.values())
        if max_way < 2:
            raise ValueError(f"max_way must be at least 2, got {max_way}")
        if read_heads > memory_slots:
            raise ValueError(f"read_heads={read_heads} needs at least as many memory slots, got memory_slots={memory_slots}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma (usage decay) must lie in [0, 1], got {gamma}")
        if support_order not in SUPPORT_ORDERS:
            raise ValueError(f"support_order must be one of {SUPPORT_ORDERS}, got {support_order!r}")
        if binding_init and not (previous_features and interface_skip):
            raise ValueError("binding_init=True needs previous_features=True and interface_skip=True "
                             "(the write vector is initialised from f(x_{t-1}) in the interface's input)")
        if not initial_key_strength >= 1:
            raise ValueError(f"initial_key_strength must be >= 1, got {initial_key_strength}")
        self.encoder = encoder if encoder is not None else PixelEncoder()
        _refuse_batch_norm(self.encoder)
        self.feature_dim, self.max_way = _feature_dim(self.encoder, feature_dim), max_way
        self.feature_norm = nn.LayerNorm(self.feature_dim)
        self.slots, self.width, self.heads, self.gamma = memory_slots, memory_width, read_heads, float(gamma)
        self.key_strength, self.support_order, self.order_seed = bool(key_strength), support_order, order_seed
        self.previous_features, self.interface_skip = bool(previous_features), bool(interface_skip)
        seen = self.feature_dim * (2 if self.previous_features else 1) + max_way  # z_t
        self.controller = nn.LSTMCell(seen + read_heads * memory_width, controller_size)
        # one linear map gives every head its key, write vector, gate and key strength
        self.interface = nn.Linear(controller_size + (seen if self.interface_skip else 0), read_heads * (2 * memory_width + 2))
        self.output = nn.Linear(controller_size + read_heads * memory_width, max_way)
        if binding_init:
            self.binding_init(initial_key_strength)

    @torch.no_grad()
    def binding_init(self, key_strength: float = 10.0, gate: float = 0.1, label_scale: float = 0.5) -> None:
        """Initialise the interface: key ≈ tanh(P f(x_t)), write ≈ tanh(P f(x_{t−1}) + Y onehot(y_{t−1})).

        For each head, P ``(W, F)`` has N(0, 1/F) entries and Y ``(W, max_way)`` N(0, label_scale²);
        the controller's part of the interface is scaled by 0.1, the strength starts at
        ``key_strength`` and the write gate σ at ``gate``.
        """
        if not (self.previous_features and self.interface_skip):
            raise ValueError("binding_init needs previous_features=True and interface_skip=True")
        c, f, w = self.controller.hidden_size, self.feature_dim, self.width
        weight, bias = self.interface.weight, self.interface.bias
        weight[:, :c] *= 0.1  # the controller's contribution starts small
        weight[:, c:] = 0
        bias.zero_()
        for head in range(self.heads):
            first = head * (2 * w + 2)
            key, add = slice(first, first + w), slice(first + w, first + 2 * w)
            projection = torch.randn(w, f) / f**0.5
            weight[key, c:c + f] = projection  # f(x_t)
            weight[add, c + f:c + 2 * f] = projection  # f(x_{t-1})
            weight[add, c + 2 * f:] = label_scale * torch.randn(w, self.max_way)  # onehot(y_{t-1})
            bias[first + 2 * w] = math.log(gate / (1 - gate))
            bias[first + 2 * w + 1] = math.log(math.expm1(key_strength - 1)) if key_strength > 1 else -20.0

    def extra_repr(self) -> str:
        return (f"max_way={self.max_way}, memory={self.slots}x{self.width}, read_heads={self.heads}, gamma={self.gamma}, "
                f"key_strength={self.key_strength}, support_order={self.support_order!r}")

    # --- the recurrence ---------------------------------------------------------------------------------
    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> MANNState:
        """All zeros: empty memory, no usage, no previous read, fresh controller (every episode starts here)."""
        z = lambda *shape: torch.zeros(batch, *shape, device=device, dtype=dtype)  # noqa: E731
        c = self.controller.hidden_size
        return MANNState(z(c), z(c), z(self.slots, self.width), z(self.slots), z(self.heads, self.slots),
                         z(self.heads * self.width), z(self.feature_dim))

    def step(self, state: MANNState, features: Tensor, prev_label: Tensor) -> tuple[Tensor, MANNState, dict[str, Tensor]]:
        """One MANN step: ``features`` ``(B, F)``, ``prev_label`` ``(B, max_way)`` (one-hot, or 0 for none).

        Returns the scores over the ``max_way`` label slots ``(B, max_way)``, the new state and the
        step's weights (``read``, ``write`` ``(B, H, S)``, ``least_used`` ``(B, S)``).
        """
        inputs = [features, state.features, prev_label] if self.previous_features else [features, prev_label]
        h, c = self.controller(torch.cat(inputs + [state.reads], dim=-1), (state.h, state.c))
        b, heads, width = features.shape[0], self.heads, self.width
        interface = self.interface(torch.cat([h] + inputs, dim=-1) if self.interface_skip else h)
        keys, adds, gate, strength = interface.view(b, heads, 2 * width + 2).split([width, width, 1, 1], dim=-1)
        keys, adds = torch.tanh(keys), torch.tanh(adds)
        gate = torch.sigmoid(gate[..., 0])
        strength = 1 + F.softplus(strength[..., 0]) if self.key_strength else 1.0
        least_used = least_used_weights(state.usage, heads)  # (B, H, S): from u_{t-1}
        write = lrua_write_weights(state.read_weights, least_used, gate)
        erase = least_used.sum(1)  # (B, S): 1 on the n least-used slots
        memory = state.memory * (1 - erase)[..., None] + write.transpose(1, 2) @ adds
        read = cosine_read_weights(keys, memory, strength)
        reads = (read @ memory).flatten(1)  # (B, H*W)
        usage = update_usage(state.usage, read, write, self.gamma)
        scores = self.output(torch.cat([h, reads], dim=-1))
        return scores, MANNState(h, c, memory, usage, read, reads, features), {"read": read, "write": write, "least_used": erase}

    def run(self, features: Tensor, label_slots: Tensor, state: MANNState | None = None, record: bool = False):
        """Present a batch of sequences: ``features`` ``(B, T, F)``, ``label_slots`` ``(B, T)`` (the slot of y_t).

        Step t gets (x_t, y_{t−1}); y_0 is "no label" (zeros) unless ``state`` continues a
        sequence. Returns scores ``(B, T, max_way)``, the final state, and (``record=True``) the
        per-step weights stacked as ``(B, T, ...)``.
        """
        b, t = label_slots.shape
        if state is None:
            state = self.initial_state(b, features.device, features.dtype)
        one_hot = F.one_hot(label_slots, self.max_way).to(features.dtype)
        prev = torch.cat([torch.zeros_like(one_hot[:, :1]), one_hot[:, :-1]], dim=1)
        scores, records = [], []
        for step in range(t):
            s, state, info = self.step(state, features[:, step], prev[:, step])
            scores.append(s)
            if record:
                records.append({k: v.detach() for k, v in info.items()} | {"usage": state.usage.detach()})
        stacked = {k: torch.stack([r[k] for r in records], 1) for k in records[0]} if record else None
        return torch.stack(scores, 1), state, stacked

    # --- input checks and ordering --------------------------------------------------------------------
    def embed(self, x: Tensor) -> Tensor:
        """f(x): the encoder's features, layer-normalised, ``(B, feature_dim)``."""
        features = self.encoder(x).flatten(1)
        if features.shape[-1] != self.feature_dim:
            raise ValueError(f"the encoder gives {features.shape[-1]} features but feature_dim={self.feature_dim}")
        return self.feature_norm(features)

    def _check_ways(self, n_way: int) -> None:
        if n_way > self.max_way:
            raise ValueError(f"the episode has {n_way} classes but this MANN has {self.max_way} label slots; "
                             f"build it with MANN(max_way={n_way}) or more")

    def _support_order(self, n: int, device) -> Tensor:
        if self.support_order == "given":
            return torch.arange(n, device=device)
        g = torch.Generator().manual_seed(self.order_seed)
        return torch.randperm(n, generator=g).to(device)

    # --- the protocol -----------------------------------------------------------------------------------
    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        """Write the support sequence into memory; the predictor scores each query as the next step.

        ``predictor(query_x)`` → ``(Q, N)``: each query, independently, is presented after the
        support sequence with the last support label as label input (see the module docstring).
        """
        n_way = check_support(support_x, support_y)
        self._check_ways(n_way)
        order = self._support_order(len(support_y), support_y.device)
        x, y = support_x[order], support_y[order]
        _, state, _ = self.run(self.embed(x)[None], y[None])
        last = F.one_hot(y[-1:], self.max_way).to(state.memory.dtype)

        def predictor(query_x: Tensor) -> Tensor:
            check_query(query_x, support_x)
            q = query_x.shape[0]
            scores, _, _ = self.step(state.expand(q), self.embed(query_x), last.expand(q, -1))
            return scores[:, :n_way]

        predictor.state = state  # inspectable: the memory after the support sequence
        predictor.order = order
        return predictor

    def episode_sequence(self, episode: Episode, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Support and query examples shuffled into one sequence ``(x (T, ...), y (T,))``, Santoro et al.'s episode."""
        check_episode(episode)
        x = torch.cat([episode.support_x, episode.query_x])
        y = torch.cat([episode.support_y, episode.query_y])
        order = torch.randperm(len(y), generator=generator).to(y.device)
        return x[order], y[order]

    def sequence_scores(self, x: Tensor, y: Tensor, random_slots: bool, record: bool = False):
        """Scores ``(B, T, N)`` of a batch of sequences ``x`` ``(B, T, ...)``, ``y`` ``(B, T)`` (labels 0..N−1)."""
        b, t = y.shape
        n_way = int(y.max()) + 1
        self._check_ways(n_way)
        if random_slots:  # label k of episode i lives in slot slots[i, k]
            slots = torch.stack([torch.randperm(self.max_way)[:n_way] for _ in range(b)]).to(y.device)
        else:
            slots = torch.arange(n_way, device=y.device).expand(b, n_way)
        features = self.embed(x.flatten(0, 1)).view(b, t, -1)
        scores, _, trace = self.run(features, torch.gather(slots, 1, y), record=record)
        scores = torch.gather(scores, 2, slots[:, None, :].expand(b, t, n_way))  # the N slots in play, in label order
        return scores, trace

    def meta_loss(self, batch: EpisodeBatch) -> tuple[Tensor, dict[str, float]]:
        """Mean cross-entropy over every step of every episode's shuffled support + query sequence."""
        check_batch(batch)
        xs, ys = zip(*(self.episode_sequence(episode) for episode in batch))
        x, y = torch.stack(xs), torch.stack(ys)
        scores, _ = self.sequence_scores(x, y, random_slots=self.training)
        loss = F.cross_entropy(scores.flatten(0, 1), y.flatten())
        correct = (scores.detach().argmax(-1) == y).float()
        first = presentation_numbers(y) == 1
        metrics = {"loss": float(loss.detach()), "accuracy": float(correct.mean())}
        metrics["accuracy_1st"] = float(correct[first].mean())
        if (~first).any():
            metrics["accuracy_later"] = float(correct[~first].mean())
        return loss, metrics

    # --- inspection ------------------------------------------------------------------------------------
    @torch.no_grad()
    def memory_trace(self, x: Tensor, y: Tensor) -> MemoryTrace:
        """Present one sequence (``x`` ``(T, ...)``, labels ``y`` ``(T,)`` in 0..N−1, in this order) and record every step."""
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]} labels")
        check_support(x, y)
        scores, trace = self.sequence_scores(x[None], y[None], random_slots=False, record=True)
        return MemoryTrace(read_weights=trace["read"][0], write_weights=trace["write"][0], usage=trace["usage"][0],
                           least_used=trace["least_used"][0], scores=scores[0], labels=y,
                           presentation=presentation_numbers(y))


__all__ = [
    "MANN", "MANNState", "MemoryTrace", "PixelEncoder", "PresentationCurve", "accuracy_by_presentation",
    "cosine_read_weights", "least_used_weights", "lrua_write_weights", "presentation_numbers", "update_usage",
]
