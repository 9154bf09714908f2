"""Meta-SGD (Li, Zhou, Chen & Li 2017, arXiv:1707.09835): MAML with learned inner step sizes.

MAML's inner step size α is one number chosen by hand. Meta-SGD makes it a tensor of the same
shape as θ — one step size per parameter, which also sets the *direction* of the update since
its entries may become negative — and learns it in the outer loop together with θ::

    inner loop:  φᵢ = θ − α ∘ ∇_θ L^S_i(θ)              (∘: element-wise product)
    outer loop:  (θ, α) ← (θ, α) − β ∇_(θ,α) Σᵢ L^Q_i(φᵢ)

α receives a gradient even in the first-order variant: ∂φᵢ/∂α = −∇_θ L^S_i(θ), so
∇_α L^Q_i(φᵢ) = −∇_θ L^S_i(θ) ∘ ∇_φ L^Q_i(φᵢ). The paper uses a single inner step and
initialises α at random in a small range; here every entry starts at ``alpha``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .maml import MAML, Params


def _key(name: str) -> str:
    return name.replace(".", "/")  # parameter names cannot contain "." inside a ParameterDict


class MetaSGD(MAML):
    """Meta-SGD: :class:`MAML` whose α is a learned tensor per parameter, initialised to ``alpha``.

    The step sizes are ``self.alphas`` (an ``nn.ParameterDict``, keys are the parameter names
    with ``"."`` written ``"/"``), trained by :func:`metalearn_lite.meta_train` like θ;
    :meth:`step_sizes` returns them keyed by the model's parameter names. ``batched`` is
    :class:`MAML`'s: under vmap the learned α is shared by all tasks, like θ.
    """

    def __init__(
        self,
        model: nn.Module,
        alpha: float,
        inner_steps: int = 1,
        test_inner_steps: int | None = None,
        first_order: bool = False,
        task_type: str = "classification",
        backward_per_task: bool = True,
        batched: bool | str = False,
    ) -> None:
        super().__init__(model, alpha, inner_steps, test_inner_steps, first_order, task_type, backward_per_task, batched)
        self.alphas = nn.ParameterDict(
            {_key(name): nn.Parameter(torch.full_like(p.detach(), self.alpha)) for name, p in self.theta().items()}
        )

    def step_sizes(self) -> Params:
        """The learned α, one tensor per parameter of θ, keyed by parameter name."""
        return {name: self.alphas[_key(name)] for name in self.theta()}

    def update(self, params: Params, grads: tuple[Tensor, ...]) -> Params:
        """φ = θ − α ∘ ∇L with the learned per-parameter α."""
        return {name: p - self.alphas[_key(name)] * g for (name, p), g in zip(params.items(), grads)}


__all__ = ["MetaSGD"]
