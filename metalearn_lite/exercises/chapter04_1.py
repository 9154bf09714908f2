"""Exercises of section 4.1 (the mathematics of MAML): a checker with hidden cases, its reference
solution, and multiple-choice questions.

* :func:`check_maml_meta_gradient` — write the one-step MAML meta-gradient of linear regression
  in closed form, Hessian term included.
* :data:`QUADRATIC_ALPHA_QUESTION` — goes with the α slider of the section (a family of 1-D
  quadratic tasks).
* :data:`FIRST_ORDER_QUESTION` — which update is first-order MAML?

The reference solution (``maml_meta_gradient_reference``) is here so that the tests can check
that the checker accepts it and that it agrees with :class:`metalearn_lite.gradient.MAML`; the
notebook shows it only in a collapsed "Solution" block.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from . import Case, CheckResult, MultipleChoice, check

__all__ = [
    "FIRST_ORDER_QUESTION", "QUADRATIC_ALPHA_QUESTION", "check_maml_meta_gradient",
    "first_order_meta_gradient", "maml_meta_gradient_reference",
]


# -- Exercise 4.1.1: the one-step MAML meta-gradient of linear regression -----------------------


def maml_meta_gradient_reference(
    w: Tensor, support_x: Tensor, support_y: Tensor, query_x: Tensor, query_y: Tensor, alpha: float
) -> Tensor:
    """∇_w L_Q(φ) for f(x) = xᵀw, L(w) = mean((Xw − y)²) and one inner step φ = w − α ∇L_S(w).

    With H = (2/K) X_Sᵀ X_S, the Hessian of L_S, the inner step is φ = w − α (2/K) X_Sᵀ(X_S w − y_S),
    and the meta-gradient is (I − α H) ∇_φ L_Q(φ) with ∇_φ L_Q(φ) = (2/M) X_Qᵀ(X_Q φ − y_Q).
    Shapes: ``w`` (d,), ``support_x`` (K, d), ``support_y`` (K,), ``query_x`` (M, d), ``query_y`` (M,).
    """
    k, m = support_x.shape[0], query_x.shape[0]
    hessian = 2 / k * support_x.T @ support_x
    phi = w - alpha * 2 / k * support_x.T @ (support_x @ w - support_y)
    grad_phi = 2 / m * query_x.T @ (query_x @ phi - query_y)
    return (torch.eye(len(w), dtype=w.dtype) - alpha * hessian) @ grad_phi


def first_order_meta_gradient(
    w: Tensor, support_x: Tensor, support_y: Tensor, query_x: Tensor, query_y: Tensor, alpha: float
) -> Tensor:
    """The typical wrong answer: first-order MAML's ∇_φ L_Q(φ), without the factor (I − α H)."""
    k, m = support_x.shape[0], query_x.shape[0]
    phi = w - alpha * 2 / k * support_x.T @ (support_x @ w - support_y)
    return 2 / m * query_x.T @ (query_x @ phi - query_y)


def _maml_cases() -> list[Case]:
    g = torch.Generator().manual_seed(41)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    def task(d, k, m, alpha, same_data=False):
        w, w_task = randn(d), randn(d)
        xs, xq = randn(k, d), randn(m, d)
        if same_data:
            xq = xs
        return (w, xs, xs @ w_task, xq, xq @ w_task + 0.1, alpha)

    scalar = (torch.tensor([0.5], dtype=torch.float64), torch.tensor([[1.0], [2.0]], dtype=torch.float64),
              torch.tensor([1.0, 1.0], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64),
              torch.tensor([3.0], dtype=torch.float64), 0.1)
    return [
        Case(scalar, "one weight, K = 2 support points, one query point, α = 0.1",
             "L(w) = mean((Xw − y)²) has gradient (2/K) Xᵀ(Xw − y) and Hessian (2/K) XᵀX: mind the factor 2"),
        Case(task(3, 5, 7, 0.05), "d = 3, K = 5, M = 7, α = 0.05",
             "differentiate through the inner step: multiply ∇_φ L_Q(φ) by (I − α H), H = (2/K) X_Sᵀ X_S"),
        Case(task(2, 4, 4, 0.0), "α = 0: no adaptation", "with α = 0, φ = w and the meta-gradient is ∇ L_Q(w)"),
        Case(task(4, 6, 6, 0.2, same_data=True), "support inputs = query inputs, α = 0.2",
             "the query gradient is taken at the adapted weights φ, not at w, even when the query inputs are the support inputs"),
        Case(task(3, 2, 9, 0.8), "a large step, α = 0.8 (I − αH has negative eigenvalues)",
             "use the matrix I − αH itself, not an approximation of it"),
    ]


def check_maml_meta_gradient(maml_meta_gradient: Callable) -> CheckResult:
    """Check ``maml_meta_gradient(w, support_x, support_y, query_x, query_y, alpha) -> (d,)`` tensor."""
    cases = _maml_cases()
    slips = ((first_order_meta_gradient,
              "this is first-order MAML's gradient ∇_φ L_Q(φ), the query gradient at the adapted weights. MAML's "
              "meta-gradient goes through the inner step: multiply it by (I − α H), where H = (2/K) X_Sᵀ X_S is the "
              "Hessian of the support loss."),)
    return check("maml_meta_gradient", maml_meta_gradient, maml_meta_gradient_reference, cases, atol=1e-8, slips=slips)


# -- Multiple-choice questions ----------------------------------------------------------------

QUADRATIC_ALPHA_QUESTION = MultipleChoice(
    "In the slider's task family, set α = 0.25, so that α·a = 1 for the steepest task (a = 4). "
    "What happens to that task's part of the MAML meta-loss?",
    [
        "It dominates the meta-loss, because the steepest task has the largest loss and so the largest "
        "meta-gradient.",
        "It vanishes: from any θ, one inner step lands exactly on that task's minimum, so θ can serve the "
        "others.",
        "It becomes negative, so MAML moves θ away from that task's minimum to lower the total meta-loss.",
        "Nothing special: every task's part of the meta-loss is unchanged by α, since only the inner step "
        "uses it.",
    ],
    answer=1,
    explanation=(
        "For L(θ) = ½a(θ − c)², one step gives φ − c = (1 − αa)(θ − c), so that task contributes "
        "½a(1 − αa)²(θ − c)² to the meta-loss: zero for every θ when αa = 1. MAML weights each task by how "
        "badly one step leaves it, which is why its θ* differs from the joint-training optimum."
    ),
)

FIRST_ORDER_QUESTION = MultipleChoice(
    "Which of these meta-updates is first-order MAML?",
    [
        "θ ← θ − β ∇_θ Σᵢ L_Qᵢ(θ − α∇_θ L_Sᵢ(θ)), computed by autograd with create_graph=True in the inner loop.",
        "The article's θ ← θ − β Σᵢ ∇_θ'ᵢ L(θ'ᵢ): the query gradient taken at the adapted weights θ'ᵢ and applied to θ.",
        "ANIL with the library's default first_order=False: only the head adapts, the gradient goes through its inner step.",
        "Meta-SGD with the library's default first_order=False: φ = θ − α∘∇L_S(θ), α learned too.",
    ],
    answer=1,
    explanation=(
        "Taking the gradient with respect to the adapted weights θ'ᵢ = φᵢ treats ∂φᵢ/∂θ as the identity: the "
        "Hessian factor I − α∇²L_S(θ) of the chain rule is dropped. The other three differentiate through "
        "the inner step (for ANIL, through the head's)."
    ),
)
