"""Relation Networks (Sung, Yang, Zhang, Xiang, Torr & Hospedales 2018, CVPR: "Learning to Compare").

Instead of a fixed distance (ProtoNet) or cosine (Matching Networks), learn the comparison too.
An **embedding module** f_φ maps images to feature maps; a **relation module** g_ϕ reads the
concatenation (along channels) of a class's feature map and a query's feature map and outputs a
**relation score** in [0, 1] (eq. 1)::

    r_{q,k} = g_ϕ( C(f_φ(x_k), f_φ(x_q)) ),     k = 1..N

K-shot: the class feature map is the element-wise **sum** of the feature maps of the class's K
support examples (Section 3.2). The scores ``r`` ``(Q, N)`` are what the predictor returns
(highest wins). Training regresses them onto the one-hot labels with the **mean squared error**
(eq. 2) — the paper treats relation scores as a regression target (1 for a matching pair, 0
otherwise) rather than as logits: ``φ, ϕ ← argmin Σ_q Σ_k (r_{q,k} − 1(y_q == k))²``. This is
:meth:`RelationNetwork.loss`, which the protocol's ``meta_loss`` uses; the logged metrics are
this loss and the accuracy.

The paper trains a separate model for each K. A sum grows with K, so a model trained 1-shot and
tested 5-shot sees class maps 5× larger than in training (on Omniglot we measured 5-way 5-shot
accuracy far *below* the 1-shot accuracy that way); ``class_pooling="mean"`` averages the K maps
instead, so one model serves every K.

Architecture (paper, Fig. 2, Omniglot): the embedding module is four [conv 3×3 (64 filters),
batch norm, ReLU] blocks with 2×2 max-pooling after the first two only; the relation module is
two [conv 3×3 (64), batch norm, ReLU, max-pool 2×2] blocks, then FC 8 (ReLU) and FC 1
(sigmoid). **Our choice:** the default embedding module is :class:`RelationEncoder`, i.e.
``ConvNet4`` (same blocks, same normalisation options) with its last two poolings removed and
no flattening; our convolutions keep the size (padding 1, where the paper's first two have no
padding), so 28×28 images give 64×7×7 feature maps (the paper: 64×5×5), and the relation
module reduces them to 64×1×1 before the FC layers. Any encoder that returns feature maps
``(B, C, H, W)`` works; the relation module is sized by running the encoder once on a dummy
batch of ``image_shape``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import NORMS, ConvNet4, _norm
from ..protocol import MetaLearner, Predictor, check_query, check_support


class RelationEncoder(nn.Module):
    """The embedding module: ``ConvNet4``'s four blocks, max-pooling only in the first two, no flattening.

    ``(B, C_in, S, S) -> (B, hidden, S//4, S//4)``; 28×28 Omniglot gives 64×7×7 feature maps.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, norm: str = "batch", image_size: int = 28) -> None:
        super().__init__()
        convnet = ConvNet4(in_channels, hidden=hidden, norm=norm, image_size=image_size)
        layers, pools = [], 0
        for layer in convnet.features:
            if isinstance(layer, nn.Flatten):
                continue
            if isinstance(layer, nn.MaxPool2d):
                pools += 1
                if pools > 2:
                    continue
            layers.append(layer)
        self.features = nn.Sequential(*layers)
        self.in_channels, self.image_size = in_channels, image_size
        self.out_channels, self.out_size = hidden, image_size // 4

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"RelationEncoder expects images of shape (batch, {self.in_channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(x.shape)}"
            )
        return self.features(x)


class RelationModule(nn.Module):
    """g_ϕ: 2 × [conv 3×3, norm, ReLU, max-pool 2×2] on a pair of feature maps, then FC ``hidden`` (ReLU) and FC 1, sigmoid.

    Input ``(P, 2C, H, W)`` (class map and query map concatenated), output relation scores ``(P,)`` in [0, 1].
    """

    def __init__(self, feature_shape: tuple[int, int, int], channels: int = 64, hidden: int = 8, norm: str = "batch") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        c, h, w = feature_shape
        blocks, size = [], (h, w)
        for c_in in (2 * c, channels):
            blocks += [nn.Conv2d(c_in, channels, 3, padding=1), _norm(norm, channels), nn.ReLU(), nn.MaxPool2d(2)]
            size = (size[0] // 2, size[1] // 2)
        if min(size) < 1:
            raise ValueError(f"feature maps of size {h}×{w} are too small for the relation module's two 2×2 poolings (need at least 4×4)")
        self.convs = nn.Sequential(*blocks, nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(channels * size[0] * size[1], hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, pairs: Tensor) -> Tensor:
        return torch.sigmoid(self.fc(self.convs(pairs))).squeeze(-1)


class RelationNetwork(MetaLearner):
    """Relation Networks: scores ``r_{q,k} = g_ϕ([Σ_{i: yᵢ=k} f_φ(xᵢ), f_φ(x_q)])`` in [0, 1], trained with MSE to one-hot.

    ``encoder`` returns feature maps (default :class:`RelationEncoder` with ``hidden`` filters and
    ``norm``); ``image_shape`` is the shape of one input, used to size the relation module
    (``feature_shape`` gives the encoder's output shape ``(C, H, W)`` directly instead).
    ``relation_channels``/``relation_hidden``: the relation module's filters (64) and FC width (8).
    ``class_pooling``: ``"sum"`` (the paper) or ``"mean"`` of the K support feature maps of a class.
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        hidden: int = 64,
        norm: str = "batch",
        image_shape: tuple[int, int, int] = (1, 28, 28),
        feature_shape: tuple[int, int, int] | None = None,
        relation_channels: int = 64,
        relation_hidden: int = 8,
        class_pooling: str = "sum",
    ) -> None:
        super().__init__("classification")
        if class_pooling not in ("sum", "mean"):
            raise ValueError(f"class_pooling must be 'sum' (the paper) or 'mean', got {class_pooling!r}")
        self.class_pooling = class_pooling
        if encoder is None:
            encoder = RelationEncoder(image_shape[0], hidden=hidden, norm=norm, image_size=image_shape[-1])
        self.encoder = encoder
        if feature_shape is None:
            with torch.no_grad():
                maps = encoder(torch.zeros(2, *image_shape))
            if maps.dim() != 4:
                raise ValueError(
                    f"the relation network's encoder must return feature maps (B, C, H, W), got shape {tuple(maps.shape)}; "
                    "use RelationEncoder or a convolutional network without flattening"
                )
            feature_shape = tuple(maps.shape[1:])
        self.feature_shape = tuple(feature_shape)
        self.relation = RelationModule(self.feature_shape, relation_channels, relation_hidden, norm)

    def class_feature_maps(self, support_x: Tensor, support_y: Tensor) -> Tensor:
        """Sum (the paper's K-shot rule) or mean of the support feature maps of each class, ``(N, C, H, W)``."""
        n_way = check_support(support_x, support_y)
        maps = self.encoder(support_x)
        summed = maps.new_zeros((n_way, *maps.shape[1:])).index_add(0, support_y, maps)
        if self.class_pooling == "mean":
            return summed / torch.bincount(support_y, minlength=n_way).to(maps.dtype).view(-1, 1, 1, 1)
        return summed

    def relation_scores(self, class_maps: Tensor, query_maps: Tensor) -> Tensor:
        """r[q, k] = g_ϕ(concat(class_maps[k], query_maps[q])), ``(Q, N)``."""
        n, q = class_maps.shape[0], query_maps.shape[0]
        pairs = torch.cat(
            [class_maps[None].expand(q, *class_maps.shape), query_maps[:, None].expand(q, n, *query_maps.shape[1:])], dim=2
        )  # (Q, N, 2C, H, W)
        return self.relation(pairs.flatten(0, 1)).view(q, n)

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        class_maps = self.class_feature_maps(support_x, support_y)

        def predictor(query_x: Tensor) -> Tensor:
            check_query(query_x, support_x)
            return self.relation_scores(class_maps, self.encoder(query_x))

        return predictor

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Mean squared error between the relation scores ``(Q, N)`` and the one-hot labels (eq. 2)."""
        return F.mse_loss(outputs, F.one_hot(targets, outputs.shape[-1]).to(outputs.dtype))


__all__ = ["RelationEncoder", "RelationModule", "RelationNetwork"]
