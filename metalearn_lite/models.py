"""The networks the book uses: ``ConvNet4`` for images and a small ``MLP`` for regression.

``ConvNet4`` is the standard Omniglot backbone of Vinyals et al. (2016) and Finn et al. (2017):
four blocks of [3×3 convolution with 64 filters, normalisation, ReLU, 2×2 max-pooling]. On
28×28 Omniglot images it ends in a 64-dimensional feature vector.

Normalisation must be chosen explicitly, because it interacts with meta-learning:

* ``"batch"`` — BatchNorm **without running statistics** (``track_running_stats=False``): every
  forward pass normalises with the statistics of the batch it sees, in training and at test
  time alike. This is what MAML's reference code does (it always uses batch statistics, so at
  test time a support or query set is normalised with its own statistics — "transductive"
  batch norm), and it keeps the network a pure function of its parameters, as
  ``torch.func.functional_call`` needs. The price: a query's output depends on the other
  queries it is scored with, and one query scored alone (``evaluate(..., query_batch=1)``) is
  normalised with its own statistics only, which can cost tens of points of accuracy.
* ``"group"`` — GroupNorm with 32 groups; ``"layer"`` — GroupNorm with one group (layer norm
  over channels and space): per-example statistics, no dependence on the rest of the batch.
* ``"none"`` — no normalisation.
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from .utils import check_int

NORMS = ("batch", "group", "layer", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels, track_running_stats=False)
    if kind == "group":
        return nn.GroupNorm(min(32, channels), channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


class ConvNet4(nn.Module):
    """4 × [conv 3×3 (``hidden`` filters), norm, ReLU, max-pool 2×2], flattened.

    With ``out_features`` a linear head follows (e.g. ``n_way`` logits for MAML); without it the
    network is an embedding of dimension :attr:`feature_dim` (e.g. for Prototypical Networks).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_features: int | None = None,
        hidden: int = 64,
        norm: str = "batch",
        image_size: int = 28,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        in_channels, hidden, image_size = (check_int(n, v) for n, v in
                                           (("in_channels", in_channels), ("hidden", hidden), ("image_size", image_size)))
        out_features = None if out_features is None else check_int("out_features", out_features)
        blocks, channels, size = [], in_channels, image_size
        for _ in range(4):
            blocks += [nn.Conv2d(channels, hidden, 3, padding=1), _norm(norm, hidden), nn.ReLU(), nn.MaxPool2d(2)]
            channels, size = hidden, size // 2
        if size < 1:
            raise ValueError(f"image_size={image_size} is too small for four 2×2 poolings (need at least 16)")
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.in_channels, self.image_size = in_channels, image_size
        self.feature_dim = hidden * size * size
        self.head = nn.Linear(self.feature_dim, out_features) if out_features is not None else None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"ConvNet4 expects images of shape (batch, {self.in_channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(x.shape)}"
            )
        z = self.features(x)
        return z if self.head is None else self.head(z)


class MLP(nn.Module):
    """Fully connected network ``in → hidden… → out`` with ReLU, as in MAML's sinusoid experiment (40, 40)."""

    def __init__(self, in_features: int = 1, out_features: int = 1, hidden: Sequence[int] = (40, 40)) -> None:
        super().__init__()
        in_features, out_features = check_int("in_features", in_features), check_int("out_features", out_features)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise ValueError(f"hidden must be a sequence of layer widths, e.g. (40, 40), got {hidden!r}")
        hidden = [check_int("each hidden width", h) for h in hidden]
        layers, width = [], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        self.in_features = in_features

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MLP expects inputs with last dimension {self.in_features}, got {tuple(x.shape)}")
        return self.net(x)
