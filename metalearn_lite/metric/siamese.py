"""Siamese networks (Koch, Zemel & Salakhutdinov 2015, ICML Deep Learning Workshop: "Siamese Neural
Networks for One-shot Image Recognition").

Learn **verification** — "are these two images of the same character?" — and use it for one-shot
classification. Twin copies of one network f (shared weights) embed the two images; the model's
probability that they show the same class is (Koch et al., Section 3.1)::

    p(x₁, x₂) = σ( Σ_j α_j |f(x₁)_j − f(x₂)_j| + b )

the component-wise L1 distance of the embeddings, weighted by learned α_j, then a sigmoid σ. We
keep a bias b (``nn.Linear(D, 1)``); the paper's formula has none. The distance ``|h₁ − h₂|`` is
symmetric, so ``p(x₁, x₂) = p(x₂, x₁)`` exactly.

**Verification loss** (Section 3.2). The paper trains on random same/different pairs with a
regularised binary cross-entropy. Here pairs come from each training episode, the way the
episode is scored at test time: **every (query, support) pair** of the episode, ``Q·S`` pairs
for Q query and S support images, labelled 1 when the two have the same class and 0 otherwise
(:func:`verification_pairs`). In an N-way K-shot episode with q queries per class that is
``N·q·K`` same pairs and ``N·q·(N−1)·K`` different ones, so different pairs outnumber same ones
N−1 to 1. With ``balance=True`` (the default) the two groups are **re-weighted**, not subsampled:
the loss is half the mean binary cross-entropy over the same pairs plus half the mean over the
different pairs, as if same and different pairs were equally frequent (Koch et al. draw them in
equal numbers). When an episode has only one group (N = 1: no different pair) that group gets
the whole weight. ``balance=False`` takes the plain mean over all pairs. Pairs within the support
set or within the query set are not used.

**Affine distortions** (Section 3.2). Koch et al. distort each image of a training pair
independently with a random affine map T = (θ, ρ_x, ρ_y, s_x, s_y, t_x, t_y): rotation θ in
±10°, shears ρ in ±0.3, scales s in [0.8, 1.2] and shifts t in ±2 pixels, **each component
included with probability 0.5**. :func:`koch_affine` draws exactly these, with the shift scaled
from the paper's 105×105 images to the image size (2 px at 105 px is 0.53 px at 28 px); its
signature ``(x, generator) -> x`` fits the episode sampler's ``transform=`` hook, so the
distortions come from the sampler's seeded generator and a run is reproducible::

    sampler = EpisodeSampler(train_set, 20, 1, 5, seed=0, transform=koch_affine)

Every image of an episode (support and query) gets its own map, so the two images of every pair
are distorted independently, as in the paper. The paper adds 8 distorted copies of each pair
to a fixed training set; here each episode is distorted afresh.

**One-shot classification** (Section 4.3). A query gets the class of the support image it is
most similar to. The predictor's class scores ``(Q, N)`` are logits of p(same): for class k,
``score[q, k] = max_{i: yᵢ = k} logit p(x_q, xᵢ)``. For K = 1 that is the logit against the
class's one image (the paper's setting); for K > 1 it is **the maximum over the class's support
images** — nearest neighbour in the learned similarity (the logit is monotone in p, so the
argmax is the class of the single most similar support image). Averaging the K probabilities
would be another choice; we keep the paper's "most similar image" rule.

**Encoder.** The default twin is the library's ``ConvNet4`` (four 3×3 conv blocks, 64-d on 28×28
images), not Koch's network (conv 64@10×10, 128@7×7, 128@4×4, 256@4×4 with max-pooling, then a
4096-unit sigmoid layer, on 105×105 images): the book's other metric learners use ConvNet4 on
28×28 Omniglot, so the comparison is one of methods, not backbones. ``feature_dim=4096`` (or any
width) adds Koch's last layer — a fully connected layer with a sigmoid — after the encoder.
Any encoder that maps a batch to ``(B, D)`` (or to anything ``flatten(1)`` makes so) works.

**Simplifications against the paper.** No per-layer learning rates, momentum schedule or L2
weights (the library's loop uses Adam); pairs from episodes instead of a fixed set of 30 000, 90 000
or 150 000 pairs (plus 8 distorted copies of each); no validation-based early stopping; a bias in the last layer.

**Cost.** The head reads ``|h_q − h_i|`` for every (query, support) pair: a ``(Q, S, D)`` tensor
per episode (with ``feature_dim=4096`` and 20-way episodes of 5 queries, 100 × 20 × 4096 numbers).

**Batch normalisation.** As for :class:`~metalearn_lite.metric.ProtoNet`: the default encoder
normalises the support set and the query set each with its own batch statistics;
:meth:`SiameseNetwork.probability` embeds both images of its pairs in one batch.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import ConvNet4
from ..protocol import MetaLearner, Predictor, check_batch, check_query, check_support, check_tensor, task_score
from ..utils import check_int, check_number

#: Koch et al.'s image size; the shifts of :func:`koch_affine` are given in its pixels
KOCH_IMAGE_SIZE = 105


def koch_affine(x: Tensor, generator: torch.Generator, degrees: float = 10.0, shear: float = 0.3,
                scale: float = 0.2, shift_px: float = 2.0, p: float = 0.5) -> Tensor:
    """Koch et al.'s (2015) distortion: each image of ``x`` ``(B, C, H, W)`` under its own random affine map.

    Per image, each component is drawn uniformly and **kept with probability** ``p`` (else it is
    the identity): rotation θ in ± ``degrees``; shears ρ_x, ρ_y in ± ``shear``; scales s_x, s_y in
    ``1 ± scale``; shifts t_x, t_y in ± ``shift_px`` pixels of a 105-pixel image, i.e.
    ± ``shift_px · W / 105`` pixels here. The image is moved by the map
    ``A = R(θ) · [[1, ρ_x], [ρ_y, 1]] · diag(s_x, s_y)`` plus the shift (in the centred,
    [−1, 1]-normalised coordinates of ``affine_grid``) and resampled bilinearly; ``grid_sample``
    needs the inverse map (output to input), which is what is passed to it. Pixels from outside
    the image are background (0). The shape is kept; the numbers come from ``generator`` only
    (the draws are made in a fixed order), so a seeded generator repeats the distortions.
    ``p = 0`` (or all ranges 0) is the identity, and so is an empty batch. Refused with a
    ValueError or TypeError: images that are not a 4-D floating-point tensor (convert uint8 pixels
    first, e.g. ``x.float() / 255``), ranges that are negative or not finite, ``shear`` or
    ``scale`` of 1 or more (the map could become singular), ``p`` outside [0, 1].
    """
    check_tensor("x", x)
    if x.dim() != 4:
        raise ValueError(f"koch_affine expects images (batch, channels, height, width), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"koch_affine resamples images bilinearly, so they must be floating point, got {x.dtype}: "
                        f"convert them first, e.g. x.float() / 255 for 8-bit pixels")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), got "
                        f"{type(generator).__name__}")
    degrees = check_number("degrees", degrees, 0, math.inf, low_open=False)
    shift_px = check_number("shift_px", shift_px, 0, math.inf, low_open=False)
    shear = check_number("shear", shear, 0, 1, low_open=False)
    scale = check_number("scale", scale, 0, 1, low_open=False)
    p = check_number("p (the probability that each component is drawn)", p, 0, 1, low_open=False, high_open=False)
    b, _, h, w = x.shape
    if b == 0:
        return x.clone()

    def component(low: float, high: float, identity: float) -> Tensor:
        value = low + (high - low) * torch.rand(b, generator=generator, dtype=torch.float64)
        keep = torch.rand(b, generator=generator, dtype=torch.float64) < p
        return torch.where(keep, value, torch.full_like(value, identity))

    angle = component(-degrees, degrees, 0.0) * math.pi / 180
    rho_x, rho_y = component(-shear, shear, 0.0), component(-shear, shear, 0.0)
    s_x, s_y = component(1 - scale, 1 + scale, 1.0), component(1 - scale, 1 + scale, 1.0)
    t_x = component(-shift_px, shift_px, 0.0) * (w / KOCH_IMAGE_SIZE) * 2 / w  # pixels -> [-1, 1] grid units
    t_y = component(-shift_px, shift_px, 0.0) * (h / KOCH_IMAGE_SIZE) * 2 / h
    cos, sin, one = torch.cos(angle), torch.sin(angle), torch.ones(b, dtype=torch.float64)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shearing = torch.stack([torch.stack([one, rho_x], 1), torch.stack([rho_y, one], 1)], 1)
    scaling = torch.diag_embed(torch.stack([s_x, s_y], 1))
    forward = rotation @ shearing @ scaling  # (B, 2, 2): where a point of the image goes
    inverse = torch.linalg.inv(forward)
    shift = torch.stack([t_x, t_y], 1)[:, :, None]
    theta = torch.cat([inverse, -inverse @ shift], 2)  # output -> input: A⁻¹ (y − t)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def verification_pairs(support_y: Tensor, query_y: Tensor, balance: bool = True,
                       dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """The (query, support) pairs of an episode: labels ``same`` ``(Q, S)`` and loss weights ``(Q, S)``.

    ``same[q, i]`` is 1.0 when query q and support image i have the same class, else 0.0. With
    ``balance`` the weights give the same pairs together weight ½ and the different pairs
    together weight ½ (each same pair ``1 / (2 · #same)``, each different pair
    ``1 / (2 · #different)``); a group that is empty gives its half to the other. Without
    ``balance`` every pair weighs ``1 / (Q·S)``. The weights sum to 1, so ``Σ weight · BCE`` is
    the loss. Both are of ``dtype`` (default: torch's default dtype). Empty label sets (no pair)
    are refused with a ValueError.
    """
    for name, labels in (("support_y", support_y), ("query_y", query_y)):
        check_tensor(name, labels, labels=True)
        if labels.dim() != 1 or labels.numel() == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor of labels, got shape {tuple(labels.shape)}: "
                             f"verification pairs need at least one query and one support example")
    same = (query_y[:, None] == support_y[None, :]).to(dtype or torch.get_default_dtype())
    if not balance:
        return same, torch.full_like(same, 1 / same.numel())
    n_same, n_diff = same.sum(), (1 - same).sum()
    if n_same == 0 or n_diff == 0:
        return same, torch.full_like(same, 1 / same.numel())
    return same, same / (2 * n_same) + (1 - same) / (2 * n_diff)


def class_max(pair_logits: Tensor, support_y: Tensor, n_way: int) -> Tensor:
    """``score[q, k] = max over the support images i of class k of pair_logits[q, i]``: ``(Q, S) -> (Q, N)``."""
    member = F.one_hot(support_y, n_way).bool()  # (S, N)
    masked = pair_logits[:, :, None].masked_fill(~member[None], float("-inf"))  # (Q, S, N)
    return masked.amax(1)


class SiameseNetwork(MetaLearner):
    """Koch et al.'s Siamese network: ``p(x₁, x₂) = σ(Σ_j α_j |f(x₁)_j − f(x₂)_j| + b)``, trained on same/different pairs.

    ``encoder``: the twin f, mapping a batch to embeddings (default ``ConvNet4()``, 64-d on 28×28
    images). ``feature_dim``: if given, a fully connected layer of that width with a sigmoid is
    appended to the encoder (Koch's 4096-unit layer). ``input_shape``: the shape of one input,
    used to size the weighted-L1 head (the encoder is run once on a dummy batch of zeros);
    ``embedding_dim`` gives the encoder's output width directly instead. ``balance``: re-weight
    same and different pairs to equal total weight in the loss (:func:`verification_pairs`).

    The predictor returns the class scores ``(Q, N)`` (max logit of p(same) over a class's support
    images); :meth:`meta_loss` is the verification loss on every (query, support) pair of each
    episode, and logs ``loss``, the one-shot ``accuracy`` of the queries and ``pair_accuracy``
    (the balanced fraction of pairs with p > ½ exactly when same).
    """

    def __init__(self, encoder: nn.Module | None = None, feature_dim: int | None = None,
                 input_shape: tuple[int, ...] = (1, 28, 28), embedding_dim: int | None = None,
                 balance: bool = True) -> None:
        super().__init__("classification")
        encoder = encoder if encoder is not None else ConvNet4()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        feature_dim = None if feature_dim is None else check_int("feature_dim", feature_dim)
        if embedding_dim is not None:
            embedding_dim = check_int("embedding_dim", embedding_dim)
            measured = _embedding_width(encoder, input_shape, required=False)
            if measured is not None and measured != embedding_dim:
                raise ValueError(f"embedding_dim={embedding_dim}, but the encoder outputs {measured} numbers per input of "
                                 f"shape {tuple(input_shape)}: pass embedding_dim={measured}, or leave it out to measure it")
        if feature_dim is not None:
            if embedding_dim is None:
                embedding_dim = _embedding_width(encoder, input_shape)
            encoder = nn.Sequential(encoder, nn.Flatten(), nn.Linear(embedding_dim, feature_dim), nn.Sigmoid())
            embedding_dim = feature_dim
        elif embedding_dim is None:
            embedding_dim = _embedding_width(encoder, input_shape)
        self.encoder, self.embedding_dim, self.balance = encoder, int(embedding_dim), bool(balance)
        self.head = nn.Linear(self.embedding_dim, 1)  # the weights α_j and the bias b

    def embed(self, x: Tensor) -> Tensor:
        h = self.encoder(x).flatten(1)
        if h.shape[1] != self.embedding_dim:
            raise ValueError(f"the encoder outputs {h.shape[1]} numbers per input of shape {tuple(x.shape[1:])}, but the "
                             f"Siamese head was sized for embedding_dim={self.embedding_dim}: build the SiameseNetwork "
                             f"with input_shape={tuple(x.shape[1:])} (or embedding_dim={h.shape[1]})")
        return h

    def pair_logits(self, h1: Tensor, h2: Tensor) -> Tensor:
        """``logit p = Σ_j α_j |h1_q,j − h2_i,j| + b`` for every row q of ``h1`` and i of ``h2``: ``(Q, S)``."""
        return self.head((h1[:, None, :] - h2[None, :, :]).abs()).squeeze(-1)

    def probability(self, x1: Tensor, x2: Tensor) -> Tensor:
        """p(same) of the pairs ``(x1[i], x2[i])``, shape ``(B,)``; both are embedded in one batch, so it is symmetric."""
        check_query(x2, x1)
        if len(x1) != len(x2):
            raise ValueError(f"x1 has {len(x1)} images but x2 has {len(x2)}: probability() scores pairs (x1[i], x2[i])")
        h = self.embed(torch.cat([x1, x2]))
        h1, h2 = h[: len(x1)], h[len(x1):]
        return torch.sigmoid(self.head((h1 - h2).abs()).squeeze(-1))

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        n_way = check_support(support_x, support_y)
        support_embeddings = self.embed(support_x)

        def pair_logits(query_x: Tensor) -> Tensor:
            check_query(query_x, support_x)
            return self.pair_logits(self.embed(query_x), support_embeddings)

        def predictor(query_x: Tensor) -> Tensor:
            return class_max(pair_logits(query_x), support_y, n_way)

        predictor.pair_logits = pair_logits  # (Q, S) logits of p(same) against every support image
        return predictor

    def verification_loss(self, pair_logits: Tensor, support_y: Tensor, query_y: Tensor) -> Tensor:
        """Weighted binary cross-entropy of the (query, support) pairs (:func:`verification_pairs`)."""
        same, weight = verification_pairs(support_y, query_y, self.balance, dtype=pair_logits.dtype)
        return (weight * F.binary_cross_entropy_with_logits(pair_logits, same, reduction="none")).sum()

    def meta_loss(self, batch) -> tuple[Tensor, dict[str, float]]:
        """Mean verification loss over the episodes of the batch (validated first), with the logged numbers."""
        check_batch(batch, self.task_type)
        losses, accuracies, pair_accuracies = [], [], []
        for episode in batch:
            n_way = check_support(episode.support_x, episode.support_y)
            logits = self.adapt(episode.support_x, episode.support_y).pair_logits(episode.query_x)
            losses.append(self.verification_loss(logits, episode.support_y, episode.query_y))
            with torch.no_grad():
                accuracies.append(task_score("classification", class_max(logits, episode.support_y, n_way), episode.query_y))
                same, weight = verification_pairs(episode.support_y, episode.query_y, balance=True, dtype=logits.dtype)
                pair_accuracies.append(float((weight * ((logits > 0).to(logits.dtype) == same)).sum()))
        loss = torch.stack(losses).mean()
        count = len(losses)
        return loss, {"loss": float(loss.detach()), "accuracy": sum(accuracies) / count,
                      "pair_accuracy": sum(pair_accuracies) / count}


def _embedding_width(encoder: nn.Module, input_shape: tuple[int, ...], required: bool = True) -> int | None:
    """The encoder's output width, measured on a dummy batch of two inputs of shape ``input_shape``
    (``None`` when the encoder cannot run on it and not ``required``)."""
    try:
        with torch.no_grad():
            out = encoder(torch.zeros(2, *input_shape))
    except (RuntimeError, ValueError, TypeError) as error:
        if not required:
            return None
        raise ValueError(f"could not run the encoder on inputs of shape {tuple(input_shape)} to size the Siamese head "
                         f"({error}); pass input_shape=<the shape of one input> or embedding_dim=<its output width>") from None
    return int(out.flatten(1).shape[1])


__all__ = ["SiameseNetwork", "class_max", "koch_affine", "verification_pairs"]
