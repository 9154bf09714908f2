"""The one protocol every meta-learner in the library implements.

A meta-learner answers two questions:

1. **Adaptation** — ``learner.adapt(support_x, support_y)`` looks at a task's support set and
   returns a *predictor*: a function from query inputs to outputs (class scores of shape
   ``(Q, N)`` for classification, predictions for regression). MAML returns the network with
   adapted weights φ; Prototypical Networks return "distance to each prototype"; a memory
   network returns "read the memory written from the support set".
2. **Meta-training** — ``learner.meta_loss(batch)`` turns a meta-batch of episodes into one
   differentiable loss (and a dict of numbers to log). The default adapts on each support set
   and scores the query set, which is exactly the meta-objective
   ``Σᵢ L(predictor_i(query_xᵢ), query_yᵢ)``; methods override it when they can do better
   (batched computation, or Reptile's surrogate loss).

:func:`metalearn_lite.meta_train` and :func:`metalearn_lite.evaluate` only ever call these two
methods, so every algorithm — gradient-, metric- or memory-based — trains and is measured by
the same loop.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data.episodes import Episode, EpisodeBatch

Predictor = Callable[[Tensor], Tensor]
TASK_TYPES = ("classification", "regression")


def task_loss(task_type: str, outputs: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy on class scores, or mean squared error for regression."""
    if task_type == "classification":
        return F.cross_entropy(outputs, targets)
    if task_type == "regression":
        return F.mse_loss(outputs, targets)
    raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")


def task_score(task_type: str, outputs: Tensor, targets: Tensor) -> float:
    """Accuracy (fraction of queries whose highest score is the true class) or mean squared error."""
    if task_type == "classification":
        return float((outputs.argmax(-1) == targets).float().mean())
    return float(F.mse_loss(outputs, targets))


def score_name(task_type: str) -> str:
    return "accuracy" if task_type == "classification" else "mse"


def check_tensor(name: str, value: object, labels: bool = False) -> None:
    """Raise a TypeError, saying how to convert it, when ``value`` (a NumPy array, a list …) is not a tensor."""
    if isinstance(value, Tensor):
        return
    module = type(value).__module__.split(".")[0]
    kind = type(value).__name__ if module == "builtins" else f"{module}.{type(value).__name__}"
    convert = f"torch.as_tensor({name}, dtype=torch.long)" if labels else f"torch.as_tensor({name}, dtype=torch.float32)"
    raise TypeError(f"{name} must be a torch.Tensor, got a {kind}: convert it first, e.g. {name} = {convert}")


def check_support(support_x: Tensor, support_y: Tensor, task_type: str = "classification") -> int:
    """Validate a support set and return N, the number of classes (or 1 for regression).

    Both must be tensors (:func:`check_tensor`). Classification labels must be int64 and cover
    every class ``0..N-1`` at least once.
    """
    check_tensor("support_x", support_x)
    check_tensor("support_y", support_y, labels=task_type == "classification")
    if support_x.shape[0] != support_y.shape[0]:
        raise ValueError(
            f"support_x has {support_x.shape[0]} examples but support_y has {support_y.shape[0]} labels"
        )
    if support_x.shape[0] == 0:
        raise ValueError("the support set is empty")
    if task_type == "regression":
        return 1
    if support_y.dtype != torch.long or support_y.dim() != 1:
        raise ValueError(f"support_y must be a 1-D int64 tensor of labels, got {support_y.dtype} {tuple(support_y.shape)}")
    if int(support_y.min()) < 0:
        raise ValueError(f"support labels must be 0..N-1, got negative labels {sorted(set(support_y.tolist()))}")
    n_way = int(support_y.max()) + 1
    counts = torch.bincount(support_y, minlength=n_way)
    if bool((counts == 0).any()):
        missing = [c for c in range(n_way) if counts[c] == 0]
        raise ValueError(
            f"support labels must be 0..N-1 with every class present; got labels {sorted(set(support_y.tolist()))}"
            + (f" (no example of class {missing})" if missing else "")
        )
    return n_way


def check_query(query_x: Tensor, support_x: Tensor) -> None:
    """Queries must be a tensor (:func:`check_tensor`) shaped like the support examples: ``(Q, *support_x.shape[1:])``."""
    check_tensor("query_x", query_x)
    if query_x.dim() != support_x.dim() or query_x.shape[1:] != support_x.shape[1:]:
        raise ValueError(
            f"query_x has shape {tuple(query_x.shape)} but the support examples have shape "
            f"{tuple(support_x.shape[1:])}; queries must be a batch (Q, {', '.join(map(str, support_x.shape[1:]))})"
        )


def query_checked(predict: Predictor, support_x: Tensor) -> Predictor:
    """``predict`` behind :func:`check_query`: queries that are not a tensor shaped like the support
    examples get the same clear error from every learner's predictor."""

    def predictor(query_x: Tensor) -> Tensor:
        check_query(query_x, support_x)
        return predict(query_x)

    return predictor


def checked_module(model: nn.Module, support_x: Tensor) -> nn.Module:
    """``model`` itself (still a module, to inspect), with :func:`check_query` run on its input
    before every forward pass, as :func:`query_checked` does for a function."""
    model.register_forward_pre_hook(lambda module, args: check_query(args[0], support_x))
    return model


def check_finite(name: str, x: Tensor) -> None:
    """Raise a ValueError naming ``name`` when the floating-point tensor ``x`` holds NaN or ±inf.

    Every learner would turn such an example into non-finite scores, and so into chance accuracy
    for its whole episode. Integer tensors are always finite and pass.
    """
    if not x.is_floating_point() and not x.is_complex():
        return
    finite = torch.isfinite(x)
    if bool(finite.all()):
        return
    bad = ~finite.reshape(len(x), -1).all(dim=1) if x.dim() else ~finite.reshape(1)
    raise ValueError(
        f"{name} holds non-finite values ({int(torch.isnan(x).sum())} NaN, {int(torch.isinf(x).sum())} ±inf) in "
        f"{int(bad.sum())} of its {len(bad)} examples, the first at index {int(bad.nonzero()[0])}: repair or drop "
        f"those examples (every score of the episode would be NaN)"
    )


def check_query_labels(query_y: Tensor, n_way: int, n_queries: int) -> None:
    """Query labels must be a 1-D int64 tensor of ``n_queries`` labels among the support's classes ``0..n_way-1``."""
    check_tensor("query_y", query_y, labels=True)
    if query_y.dtype != torch.long or query_y.dim() != 1 or len(query_y) != n_queries:
        raise ValueError(f"query_y must be a 1-D int64 tensor with one label per query ({n_queries}), got "
                         f"{query_y.dtype} {tuple(query_y.shape)}")
    if len(query_y) and (int(query_y.min()) < 0 or int(query_y.max()) >= n_way):
        outside = sorted(set(query_y.tolist()) - set(range(n_way)))
        raise ValueError(
            f"query labels must lie in 0..{n_way - 1}, the support set's classes, got {outside}: number the "
            f"query set's classes as the support set's (an EpisodeSampler episode always is)"
        )


def check_regression_targets(query_y: Tensor, n_queries: int) -> None:
    """Regression targets must be a floating-point tensor with one target per query, and finite
    (a NaN target would make the episode's mean squared error NaN)."""
    check_tensor("query_y", query_y)
    if not query_y.is_floating_point() or query_y.dim() == 0 or len(query_y) != n_queries:
        raise ValueError(f"query_y must be a floating-point tensor with one target per query ({n_queries}), got "
                         f"{query_y.dtype} {tuple(query_y.shape)}")
    check_finite("query_y", query_y)


def check_episode(episode: Episode, task_type: str = "classification") -> int:
    """Validate a whole episode and return N (1 for regression): :func:`check_support`, finite
    support and query inputs (:func:`check_finite`), a query set that is not empty, queries
    shaped like the support examples (:func:`check_query`) and, for classification, query labels
    among the support's classes (:func:`check_query_labels`); for regression, finite float targets
    (:func:`check_regression_targets`, support targets too)."""
    n_way = check_support(episode.support_x, episode.support_y, task_type)
    check_finite("support_x", episode.support_x)
    check_query(episode.query_x, episode.support_x)
    check_finite("query_x", episode.query_x)
    if len(episode.query_x) == 0:
        raise ValueError("the query set is empty, so there is nothing to score: draw episodes with at least one "
                         "query per class (e.g. EpisodeSampler(..., q_queries=15))")
    if task_type == "classification":
        check_query_labels(episode.query_y, n_way, len(episode.query_x))
    else:
        check_finite("support_y", episode.support_y)
        check_regression_targets(episode.query_y, len(episode.query_x))
    return n_way


def check_predictions(outputs: object, query_y: Tensor, n_way: int, task_type: str, learner: str = "the learner") -> None:
    """A predictor's outputs must fit the episode: a floating-point tensor of class scores
    ``(Q, N)`` for classification (N = ``n_way``, the support set's classes), the targets' shape
    for regression. Scores for more classes than the task has would let a query be assigned to a
    class that does not exist (a silently lower accuracy), fewer would fail inside the loss, so
    both are refused with a ValueError that says how to build the model."""
    if not isinstance(outputs, Tensor):
        raise TypeError(f"{learner}'s predictor returned a {type(outputs).__name__}, not a torch.Tensor of "
                        f"{'class scores' if task_type == 'classification' else 'predictions'}")
    if task_type == "classification":
        if outputs.dim() != 2 or outputs.shape != (len(query_y), n_way) or not outputs.is_floating_point():
            raise ValueError(
                f"{learner} outputs {outputs.dtype} scores of shape {tuple(outputs.shape)} for {len(query_y)} queries, "
                f"but the task has {n_way} classes: it needs float scores of shape ({len(query_y)}, {n_way}); "
                f"build its model with {n_way} outputs (e.g. ConvNet4(out_features={n_way}))"
            )
    elif outputs.shape != query_y.shape:
        raise ValueError(f"{learner} outputs shape {tuple(outputs.shape)} but the targets have shape {tuple(query_y.shape)}")


def check_batch(batch: EpisodeBatch, task_type: str = "classification") -> None:
    """:func:`check_episode` for every episode of a meta-batch; the error names the episode."""
    for number, episode in enumerate(batch):
        try:
            check_episode(episode, task_type)
        except ValueError as error:
            raise ValueError(f"episode {number} of the meta-batch: {error}") from None


class MetaLearner(nn.Module):
    """Base class: subclasses implement :meth:`adapt`; :meth:`meta_loss` has a default.

    ``task_type`` (``"classification"`` or ``"regression"``) picks the loss and the score.
    ``adapt_needs_grad`` tells :func:`evaluate` to keep autograd on during adaptation (methods
    that take gradient steps at test time, such as MAML or training from scratch).
    """

    adapt_needs_grad = False

    def __init__(self, task_type: str = "classification") -> None:
        super().__init__()
        if task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
        self.task_type = task_type

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        """Adapt to one task's support set; return the predictor for its queries (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement adapt(support_x, support_y)")

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return task_loss(self.task_type, outputs, targets)

    def meta_loss(self, batch: EpisodeBatch) -> tuple[Tensor, dict[str, float]]:
        """Mean query loss after adapting on each support set, plus logged numbers.

        The batch is validated first (:func:`check_batch`)."""
        check_batch(batch, self.task_type)
        losses, scores = [], []
        for episode in batch:
            predictor = self.adapt(episode.support_x, episode.support_y)
            outputs = predictor(episode.query_x)
            check_predictions(outputs, episode.query_y, episode.n_way, self.task_type, type(self).__name__)
            losses.append(self.loss(outputs, episode.query_y))
            scores.append(task_score(self.task_type, outputs.detach(), episode.query_y))
        loss = torch.stack(losses).mean()
        return loss, {"loss": float(loss.detach()), score_name(self.task_type): sum(scores) / len(scores)}
