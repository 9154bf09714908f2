"""Exercises of section 5.1 (MAML in code): a checker with hidden cases, its reference solution,
and multiple-choice questions.

* :func:`check_task_meta_loss` — write one task's MAML meta-loss with a functional inner loop:
  adapt on the support set without touching the model's weights, return the query loss at φ,
  differentiable with respect to θ (second-order terms included).
* :data:`CREATE_GRAPH_QUESTION` — what ``create_graph=False`` in the inner loop turns MAML into.
* :data:`BATCHNORM_QUESTION` — why a query's scores depend on the other queries.

The reference solution (``task_meta_loss_reference``) is here so that the tests can check that
the checker accepts it and that it agrees with :class:`metalearn_lite.gradient.MAML`; the
notebook shows it only in a collapsed "Solution" block.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from . import Case, CheckResult, MultipleChoice, Rejected, check

__all__ = [
    "BATCHNORM_QUESTION", "CREATE_GRAPH_QUESTION", "check_task_meta_loss",
    "first_order_task_meta_loss", "task_meta_loss_reference",
]


# -- Exercise 5.1.1: one task's meta-loss with a functional inner loop ------------------------


def task_meta_loss_reference(
    model: nn.Module, params: dict[str, Tensor], support_x: Tensor, support_y: Tensor,
    query_x: Tensor, query_y: Tensor, alpha: float, steps: int,
) -> Tensor:
    """L_Q(φ) with φ = ``steps`` gradient steps of size α on the support cross-entropy from ``params``.

    ``params`` is θ as a dict of tensors (as ``dict(model.named_parameters())``); the network is
    evaluated at other weights with ``functional_call``; the inner gradients are taken with
    ``create_graph=True`` so that the result is differentiable with respect to θ, Hessian terms
    included. Neither ``params`` nor the model's own weights are modified.
    """
    phi = dict(params)
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(model, phi, (support_x,)), support_y)
        grads = torch.autograd.grad(loss, list(phi.values()), create_graph=True)
        phi = {name: p - alpha * g for (name, p), g in zip(phi.items(), grads)}
    return F.cross_entropy(functional_call(model, phi, (query_x,)), query_y)


def first_order_task_meta_loss(
    model: nn.Module, params: dict[str, Tensor], support_x: Tensor, support_y: Tensor,
    query_x: Tensor, query_y: Tensor, alpha: float, steps: int,
) -> Tensor:
    """The typical wrong answer: inner gradients without ``create_graph`` (first-order MAML)."""
    phi = dict(params)
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(model, phi, (support_x,)), support_y)
        grads = torch.autograd.grad(loss, list(phi.values()))
        phi = {name: p - alpha * g for (name, p), g in zip(phi.items(), grads)}
    return F.cross_entropy(functional_call(model, phi, (query_x,)), query_y)


def _outcome(func: Callable) -> Callable:
    """Run ``func`` on fresh leaf copies of θ; return (loss, meta-gradient). Raises :class:`Rejected`
    when ``func`` changes the model's weights or returns no differentiable scalar tensor."""

    def run(model, params, support_x, support_y, query_x, query_y, alpha, steps):
        theta = {name: p.detach().clone().requires_grad_() for name, p in params.items()}
        before = [p.detach().clone() for p in model.parameters()]
        loss = func(model, theta, support_x, support_y, query_x, query_y, alpha, steps)
        if any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters())):
            with torch.no_grad():
                for b, p in zip(before, model.parameters()):
                    p.copy_(b)
            raise Rejected("your function changed the model's own weights; adapt a new dict of tensors φ instead")
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            got = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else f"a {type(loss).__name__}"
            raise Rejected(f"return the query loss as a scalar tensor (a differentiable one: not a Python number), got {got}")
        if not loss.requires_grad:
            raise Rejected("the returned loss does not depend on params: evaluate the network with functional_call(model, φ, (x,))")
        grads = torch.autograd.grad(loss, list(theta.values()), allow_unused=True, materialize_grads=True)
        return loss.detach(), torch.cat([g.reshape(-1) for g in grads])

    return run


def _cases() -> list[Case]:
    g = torch.Generator().manual_seed(51)

    def mlp(n_way):
        torch.manual_seed(int(torch.randint(0, 10_000, (1,), generator=g)))
        return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, n_way)).double()

    def conv(n_way):
        torch.manual_seed(int(torch.randint(0, 10_000, (1,), generator=g)))
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2, track_running_stats=False), nn.ReLU(),
                             nn.Flatten(), nn.Linear(2 * 6 * 6, n_way)).double()

    def task(model, n_way, k, q, shape, alpha, steps):
        labels = torch.arange(n_way)
        return (model, dict(model.named_parameters()),
                torch.randn(n_way * k, *shape, generator=g, dtype=torch.float64), labels.repeat_interleave(k),
                torch.randn(n_way * q, *shape, generator=g, dtype=torch.float64), labels.repeat_interleave(q), alpha, steps)

    hint_graph = "take the inner gradients with torch.autograd.grad(..., create_graph=True), so that φ stays a function of θ"
    return [
        Case(task(mlp(3), 3, 2, 2, (4,), 0.5, 1), "MLP, 3-way 2-shot, one inner step, α = 0.5", hint_graph),
        Case(task(mlp(3), 3, 1, 3, (4,), 0.3, 3), "MLP, three inner steps, α = 0.3",
             "loop `steps` times, each step starting from the previous φ, not from θ"),
        Case(task(mlp(2), 2, 2, 2, (4,), 0.5, 0), "no inner step: the meta-loss is the query loss at θ",
             "with steps = 0, φ = θ"),
        Case(task(conv(3), 3, 2, 2, (1, 6, 6), 0.4, 2), "conv + BatchNorm (batch statistics), two steps, α = 0.4", hint_graph),
    ]


def check_task_meta_loss(task_meta_loss: Callable) -> CheckResult:
    """Check ``task_meta_loss(model, params, support_x, support_y, query_x, query_y, alpha, steps)``:
    its value and its gradient with respect to ``params`` must equal the reference's."""
    cases = _cases()
    slips = ((_outcome(first_order_task_meta_loss),
              "the loss is right but the gradient is first-order MAML's: the inner gradients were taken without "
              "create_graph=True, so backward treats ∂φ/∂θ as the identity and drops the Hessian term."),)
    return check("task_meta_loss", _outcome(task_meta_loss), _outcome(task_meta_loss_reference), cases, atol=1e-8,
                 slips=slips)


# -- Multiple-choice questions ----------------------------------------------------------------

CREATE_GRAPH_QUESTION = MultipleChoice(
    "In the from-scratch MAML, the inner loop takes torch.autograd.grad(support_loss, φ, create_graph=True). "
    "What does meta-training compute if create_graph=False instead?",
    [
        "An error: backward cannot reach θ through φ any more, so loss.backward() fails.",
        "First-order MAML: the inner gradients become constants, so ∂φ/∂θ = I.",
        "Exactly the same meta-gradient, only faster, since no graph of the inner step is kept.",
        "Joint training: the query loss is then evaluated at θ instead of at the adapted φ.",
    ],
    answer=1,
    explanation=(
        "φ = θ − α·g is still built from θ, so the query loss can be differentiated with respect to θ; without "
        "create_graph the gradient g carries no graph and counts as a constant, and the Jacobian I − α∇²L_S "
        "loses its Hessian term. That is first-order MAML, cheaper in time and memory."
    ),
)

BATCHNORM_QUESTION = MultipleChoice(
    "The library's ConvNet4(norm='batch') keeps no running statistics. Why does a query's score change when "
    "it is scored alone rather than together with the other queries of its episode?",
    [
        "Because the inner loop runs again with a different random seed when a query is scored on its own.",
        "Because BatchNorm normalises with the mean and variance of the batch it is given, so other queries "
        "enter its features.",
        "Because the adapted weights φ depend on the query set, so they change when the query set does.",
        "It does not change: without running statistics, a network's output for one image never depends on "
        "other images.",
    ],
    answer=1,
    explanation=(
        "With batch statistics at test time, as in MAML's reference code, evaluation is transductive: "
        "φ comes from the support set alone, but the normalisation of the query features uses the whole query "
        "batch, and a query scored alone (evaluate(..., query_batch=1)) can be far less accurate. GroupNorm or "
        "LayerNorm (ConvNet4(norm='group'/'layer')) normalise each image on its own."
    ),
)
