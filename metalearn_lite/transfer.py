"""Transfer learning: the baseline that meta-learning is measured against.

The recipe is two stages, the "baseline" of Chen et al. (2019, *A Closer Look at Few-shot
Classification*) and the classic feature-transfer set-up studied by Yosinski et al. (2014,
*How transferable are features in deep neural networks?*):

1. :func:`pretrain` — ordinary supervised learning: a network ``body`` (e.g. ``ConvNet4()``
   without head) plus a linear head over **all** classes of the background (meta-training)
   dataset, trained with cross-entropy on mini-batches. Episodes play no part in it.
2. :class:`FineTune` — for each new task, a copy of the pretrained body gets a fresh N-way
   linear head and is trained on the support set only (the whole network, or with
   ``head_only=True`` just the head, i.e. a linear classifier on frozen features).

Nothing here looks at the *adaptation* while training the body: pretraining optimises
classification of the background classes, and the hope is that its features transfer.
Meta-learning instead optimises the body for the adaptation itself.
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data.dataset import FewShotDataset
from .protocol import MetaLearner, Predictor, check_support, checked_module
from .training import History
from .utils import check_seed, is_integer, is_real, resolve_device

__all__ = ["FineTune", "feature_dim", "pretrain"]


def _check_positive_int(name: str, value) -> int:
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_lr(lr) -> float:
    if not is_real(lr) or not lr > 0 or lr == float("inf"):
        raise ValueError(f"lr must be a positive, finite number, got {lr!r}")
    return float(lr)


def _check_body(body) -> nn.Module:
    if not isinstance(body, nn.Module):
        raise TypeError(f"body must be a torch.nn.Module (a feature extractor such as ConvNet4()), got {type(body).__name__}")
    if next(body.parameters(), None) is None:
        raise ValueError(f"body ({type(body).__name__}) has no parameters to train")
    return body


def feature_dim(body: nn.Module, example: Tensor) -> int:
    """The length of the feature vector ``body`` gives for inputs like ``example`` (a batch).

    Runs one forward pass without gradients; the output must be ``(batch, features)``.
    """
    was_training = body.training
    body.eval()
    try:
        with torch.no_grad():
            out = body(example[:2])
    finally:
        body.train(was_training)
    if out.dim() != 2:
        raise ValueError(
            f"body must map a batch to feature vectors of shape (batch, features), got {tuple(out.shape)}; "
            "end it with nn.Flatten() (ConvNet4() without out_features already does)"
        )
    return out.shape[1]


def pretrain(
    body: nn.Module,
    dataset: FewShotDataset,
    epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = True,
    seed: int | None = 0,
) -> tuple[nn.Module, History]:
    """Supervised pretraining of ``body`` + a linear head on all classes of ``dataset``.

    Adam with learning rate ``lr``, ``epochs`` passes over the data in shuffled mini-batches of
    ``batch_size`` (shuffled with its own generator seeded by ``seed``). ``body`` is trained in
    place and returned, with a :class:`~metalearn_lite.History` whose ``train`` table has one
    row per mini-batch: ``step``, ``epoch``, ``loss``, ``accuracy`` (on that batch) and
    ``seconds``. The head (``dataset.num_classes`` outputs) is thrown away: only the features
    are meant to transfer.
    """
    body = _check_body(body)
    if not isinstance(dataset, FewShotDataset):
        raise TypeError(f"dataset must be a FewShotDataset (e.g. load_omniglot(...)), got {type(dataset).__name__}")
    if dataset.num_classes < 2 or len(dataset) == 0:
        raise ValueError(f"{dataset.name} has {dataset.num_classes} classes; pretraining needs at least 2")
    epochs = _check_positive_int("epochs", epochs)
    batch_size = _check_positive_int("batch_size", batch_size)
    lr = _check_lr(lr)
    device = resolve_device(device)
    body.to(device)
    x, y = dataset.x, dataset.y
    head = nn.Linear(feature_dim(body, x[:2].to(device)), dataset.num_classes).to(device)
    optimizer = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=lr)
    generator = torch.Generator()
    if check_seed("seed", seed) is not None:
        generator.manual_seed(int(seed))
    history, step, start = History(), 0, time.perf_counter()
    batches_per_epoch = -(-len(dataset) // batch_size)
    bar = tqdm(total=epochs * batches_per_epoch, desc=f"pretrain on {dataset.name}", disable=not progress)
    body.train()
    try:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(dataset), generator=generator)
            for batch in order.split(batch_size):
                xb, yb = x[batch].to(device), y[batch].to(device)
                logits = head(body(xb))
                loss = F.cross_entropy(logits, yb)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"pretraining loss became {float(loss)} at step {step + 1}; try a smaller lr (lr={lr})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                accuracy = float((logits.argmax(-1) == yb).float().mean())
                history.log(history.train, {"step": step, "epoch": epoch, "loss": float(loss.detach()),
                                            "accuracy": accuracy, "seconds": time.perf_counter() - start})
                bar.update()
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", acc=f"{accuracy:.3f}", refresh=False)
    finally:
        bar.close()
    return body, history


class FineTune(MetaLearner):
    """Adapt by fine-tuning a copy of a pretrained ``body`` with a fresh N-way linear head.

    ``adapt(support_x, support_y)`` deep-copies ``body`` (the original is never changed), puts
    a new ``nn.Linear(features, N)`` on top and takes ``steps`` full-batch Adam steps with
    learning rate ``lr`` on the support set only. ``head_only=True`` freezes the copy and trains
    the head alone: a linear classifier on the pretrained features. The predictor it returns is
    the fine-tuned network (class scores of shape ``(Q, N)``).

    There is nothing to meta-train: the body comes from :func:`pretrain` (or from anywhere).
    """

    adapt_needs_grad = True

    def __init__(self, body: nn.Module, steps: int = 50, lr: float = 1e-3, head_only: bool = False) -> None:
        super().__init__("classification")
        self.body = _check_body(body)
        if not is_integer(steps) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        self.steps, self.lr, self.head_only = int(steps), _check_lr(lr), bool(head_only)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, lr={self.lr}, head_only={self.head_only}"

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        n_way = check_support(support_x, support_y)
        body = copy.deepcopy(self.body).to(support_x.device)
        head = nn.Linear(feature_dim(body, support_x), n_way).to(support_x.device)
        model = nn.Sequential(body, head)
        if self.head_only:
            body.requires_grad_(False)
            body.eval()
            params = list(head.parameters())
        else:
            body.requires_grad_(True)
            body.train()
            params = list(model.parameters())
        optimizer = torch.optim.Adam(params, lr=self.lr)
        with torch.enable_grad():
            if self.head_only:  # the frozen features need computing only once
                with torch.no_grad():
                    features = body(support_x)
                for _ in range(self.steps):
                    optimizer.zero_grad()
                    self.loss(head(features), support_y).backward()
                    optimizer.step()
            else:
                for _ in range(self.steps):
                    optimizer.zero_grad()
                    self.loss(model(support_x), support_y).backward()
                    optimizer.step()
        model.eval()
        model.requires_grad_(False)
        return checked_module(model, support_x)

    def meta_loss(self, batch):
        raise TypeError("FineTune is not meta-trained: pretrain its body with metalearn_lite.transfer.pretrain(...)")
