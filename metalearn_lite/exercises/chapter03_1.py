"""Exercises of section 3.1 (gradient-based meta-learning): a checker with hidden cases, its
reference solution, and multiple-choice questions.

* :func:`check_inner_sgd_step` — write MAML's inner step on a functional model:
  φ = θ − α ∇_θ MSE(f(x; θ), y), as a new dict of tensors that stays differentiable in θ.
* :data:`AVERAGE_CURVE_QUESTION` — goes with the section's widget: what the pretrained baseline
  predicts before any inner step.
* :data:`SECOND_ORDER_QUESTION` — which of MAML, first-order MAML, Reptile and ANIL-first-order
  needs second derivatives?

The reference solution (``inner_sgd_step_reference``) is here so that the tests can check that
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
    "AVERAGE_CURVE_QUESTION", "SECOND_ORDER_QUESTION", "check_inner_sgd_step", "first_order_inner_sgd_step",
    "inner_sgd_step_reference",
]


# -- Exercise 3.1.1: one inner SGD step on a functional model -----------------------------------


def inner_sgd_step_reference(model: nn.Module, params: dict[str, Tensor], x: Tensor, y: Tensor, alpha: float) -> dict[str, Tensor]:
    """φ = θ − α ∇_θ MSE(f(x; θ), y), with f evaluated at ``params`` by ``functional_call``.

    ``create_graph=True`` keeps φ a differentiable function of θ (second-order MAML); the model's
    own parameters are neither used nor modified.
    """
    loss = F.mse_loss(functional_call(model, params, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    return {name: p - alpha * g for (name, p), g in zip(params.items(), grads)}


def first_order_inner_sgd_step(model: nn.Module, params: dict[str, Tensor], x: Tensor, y: Tensor, alpha: float) -> dict[str, Tensor]:
    """The typical slip: the right values, but without ``create_graph=True`` (first-order MAML's step)."""
    loss = F.mse_loss(functional_call(model, params, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()))
    return {name: p - alpha * g for (name, p), g in zip(params.items(), grads)}


def _task(seed: int, hidden: tuple[int, ...], k: int):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layers, width = [], 1
    for h in hidden:
        layers += [nn.Linear(width, h), nn.Tanh()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 1)).double()
    amplitude, phase = 0.1 + 4.9 * torch.rand(1, generator=g, dtype=torch.float64), 3.14 * torch.rand(1, generator=g, dtype=torch.float64)
    x = -5 + 10 * torch.rand(2 * k, 1, generator=g, dtype=torch.float64)
    y = amplitude * torch.sin(x - phase)
    return model, x[:k], y[:k], x[k:], y[k:]


def _run(step: Callable, mode: str, seed: int, hidden: tuple[int, ...], k: int, alpha: float):
    """What the checker compares: φ's values (and that the model is untouched), or the meta-gradient through φ.

    Raises :class:`Rejected` when ``step`` returns something other than a dict with the keys of
    ``params``, or modifies the model's own weights."""
    model, xs, ys, xq, yq = _task(seed, hidden, k)
    before = [p.detach().clone() for p in model.parameters()]
    params = dict(model.named_parameters())
    phi = step(model, params, xs, ys, alpha)
    if not isinstance(phi, dict) or list(phi) != list(params):
        got = "None (is the `return` missing?)" if phi is None else f"a {type(phi).__name__}"
        raise Rejected(f"expected a dict with the keys of params, got {got}"
                       + (f" with keys {list(phi)}" if isinstance(phi, dict) else ""))
    for name, value in phi.items():  # compared entry by entry as returned: nothing is reshaped or converted
        want = params[name]
        if not isinstance(value, Tensor):
            raise Rejected(f"φ[{name!r}] is a {type(value).__name__}, expected a tensor of shape {tuple(want.shape)} "
                           f"like params[{name!r}]")
        if value.shape != want.shape:
            raise Rejected(f"φ[{name!r}] has shape {tuple(value.shape)}, expected {tuple(want.shape)} (that of "
                           f"params[{name!r}])")
        if not value.dtype.is_floating_point:
            raise Rejected(f"φ[{name!r}] has dtype {value.dtype}, expected {want.dtype} (that of params[{name!r}])")
    if mode == "values":
        if not all(torch.equal(b, p) for b, p in zip(before, model.parameters())):
            raise Rejected("your step modified the model's own weights (adaptation must leave θ as it is)")
        return torch.cat([v.detach().reshape(-1) for v in phi.values()])  # φ, all entries in one vector
    query_loss = F.mse_loss(functional_call(model, phi, (xq,)), yq)
    grads = torch.autograd.grad(query_loss, list(params.values()), allow_unused=True, materialize_grads=True)
    return torch.cat([g.reshape(-1) for g in grads])


def _cases() -> list[Case]:
    return [
        Case(("values", 0, (4,), 4, 0.1), "a 1-4-1 tanh network, K = 4 points, α = 0.1: the values of φ",
             "φ = θ − α ∇_θ L, L = F.mse_loss(functional_call(model, params, (x,)), y); return a new dict with the same keys"),
        Case(("values", 1, (8, 8), 5, 0.01), "a 1-8-8-1 network, K = 5, α = 0.01: the values of φ",
             "take the gradient of the loss at `params` (not at the model's own weights), with torch.autograd.grad"),
        Case(("values", 2, (4,), 3, 0.0), "α = 0: φ must equal θ", "with α = 0, φ = θ"),
        Case(("meta", 3, (4,), 4, 0.1), "the meta-gradient ∇_θ L_Q(φ) through your step, α = 0.1",
             "φ must stay a differentiable function of θ, Hessian included: torch.autograd.grad(..., create_graph=True), "
             "and no .detach() or torch.no_grad()."),
        Case(("meta", 4, (8, 8), 10, 0.5), "the meta-gradient through your step, a 1-8-8-1 network, α = 0.5",
             "create_graph=True in the inner gradient, so that the outer gradient sees the second-order term."),
    ]


def check_inner_sgd_step(inner_sgd_step: Callable) -> CheckResult:
    """Check ``inner_sgd_step(model, params, x, y, alpha) -> dict`` (φ, differentiable in θ)."""

    def safe(step):
        def run(*case):
            try:
                return _run(step, *case)
            except NotImplementedError:  # a RuntimeError too, but the stub's: "not attempted yet"
                raise
            except RuntimeError as error:  # e.g. no graph: say so, with the case's hint
                if step is inner_sgd_step_reference:
                    raise
                first_line = str(error).split("\n")[0]
                raise Rejected(f"your step raised RuntimeError: {first_line}") from error
        return run

    def same(got, expected) -> bool:
        return isinstance(got, Tensor) and got.shape == expected.shape and bool(torch.allclose(got, expected, atol=1e-9, rtol=0))

    cases = _cases()
    result = check("inner_sgd_step", safe(inner_sgd_step), safe(inner_sgd_step_reference), cases, compare=same)
    if not result and result.returned and cases[result.case - 1].args[0] == "meta":
        first_order = _run(first_order_inner_sgd_step, *cases[result.case - 1].args)
        if same(result.got, first_order):
            result.message += (" Your φ has the right values, but its dependence on θ only goes through the "
                               "'θ' in θ − α g, as in first-order MAML: the gradient g was taken without "
                               "create_graph=True, so the outer gradient misses the Hessian term.")
    return result


# -- Multiple-choice questions ----------------------------------------------------------------

AVERAGE_CURVE_QUESTION = MultipleChoice(
    "In the widget, set the number of inner steps to 0. Tasks are A·sin(x − φ) with A ~ U[0.1, 5] and "
    "φ ~ U[0, π]. What does the pretrained baseline draw, whatever the task?",
    [
        "Roughly the task's own sinusoid: pretraining on all tasks already knows every task's amplitude and "
        "phase.",
        "Roughly y = 0: the sinusoids of all tasks cancel out, since their phases cover a full period.",
        "Roughly the average of all tasks' curves, E[A]·E[sin(x − φ)] = −(2·2.55/π)·cos x ≈ −1.6 cos x.",
        "Roughly a random curve: without adaptation the network's output is meaningless for any task.",
    ],
    answer=2,
    explanation=(
        "Regression on all tasks with the mean squared error learns the conditional mean E[y | x] over tasks. "
        "The phases only cover [0, π], so the sinusoids do not cancel: (1/π)∫₀^π sin(x − φ) dφ = −(2/π) cos x, "
        "times E[A] = 2.55. From that curve one or ten small SGD steps barely move — which is why the "
        "baseline adapts so poorly, while MAML's θ is a point from which one step goes a long way."
    ),
)

SECOND_ORDER_QUESTION = MultipleChoice(
    "Which of these meta-learners needs second derivatives (Hessian-vector products) of the support loss?",
    [
        "MAML (exact): φ = θ − α∇L_S(θ) and the outer gradient goes through the inner step.",
        "First-order MAML: the query gradient at φ, applied to θ.",
        "Reptile: θ ← θ + ε(φ̄ − θ) after a few SGD steps per task.",
        "ANIL with first_order=True: only the head adapts, and ∂φ/∂θ is taken as the identity.",
    ],
    answer=0,
    explanation=(
        "Differentiating θ − α∇L_S(θ) with respect to θ gives I − α∇²L_S(θ): exact MAML multiplies the query "
        "gradient by it, one Hessian-vector product per inner step. First-order MAML and Reptile never "
        "differentiate the inner gradient; exact ANIL would, but only through the head."
    ),
)
