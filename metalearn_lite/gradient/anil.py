"""ANIL — Almost No Inner Loop (Raghu, Raghu, Bengio & Vinyals 2020, ICLR).

Raghu et al. found that MAML's success comes mostly from *feature reuse*: after meta-training,
the inner loop barely changes the body of the network. ANIL therefore splits the weights into
a body θ_b (the feature extractor) and a head θ_h (the last, linear layer) and adapts only the
head::

    inner loop:  φ_h,i = θ_h − α ∇_θh L^S_i(θ_b, θ_h)        (θ_b is left as it is)
    outer loop:  (θ_b, θ_h) ← (θ_b, θ_h) − β ∇ Σᵢ L^Q_i(θ_b, φ_h,i)

The body is learned by the outer loop only — but its meta-gradient still flows through the
inner step (the support features enter ∇_θh L^S), so this is exact second-order MAML restricted
to the head. Because the body is fixed during adaptation, its features are computed once per
support set and the inner loop only runs the head: adaptation costs one body forward pass.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torch.func import functional_call

from ..protocol import Predictor, check_support, query_checked
from .maml import MAML, Params, check_model


class ANIL(MAML):
    """ANIL: MAML whose inner loop adapts ``head`` only; ``body`` is learned in the outer loop only.

    E.g. ``ANIL(ConvNet4(), nn.Linear(64, n_way), alpha=0.4)``. Parameters are named
    ``"body.…"`` and ``"head.…"`` (``self.model`` is ``Sequential(body=body, head=head)``).
    ``batched`` is :class:`MAML`'s; a BatchNorm or dropout layer in the body or the head counts.
    """

    def __init__(
        self,
        body: nn.Module,
        head: nn.Module,
        alpha: float,
        inner_steps: int = 1,
        test_inner_steps: int | None = None,
        first_order: bool = False,
        task_type: str = "classification",
        backward_per_task: bool = True,
        batched: bool | str = False,
    ) -> None:
        body, head = check_model(body, "body"), check_model(head, "head")
        model = nn.Sequential(OrderedDict(body=body, head=head))
        super().__init__(model, alpha, inner_steps, test_inner_steps, first_order, task_type, backward_per_task, batched)

    @property
    def body(self) -> nn.Module:
        return self.model.body

    @property
    def head(self) -> nn.Module:
        return self.model.head

    def head_theta(self) -> Params:
        """θ_h: the head's trainable parameters (names without the ``"head."`` prefix)."""
        return {name: p for name, p in self.head.named_parameters() if p.requires_grad}

    def forward_with(self, params: Params, features: Tensor) -> Tensor:
        """The head evaluated at ``params`` on body features (the inner loop never runs the body)."""
        return functional_call(self.head, params, (features,))

    def adapted_params(self, support_x: Tensor, support_y: Tensor) -> Params:
        """φ for the whole network: the body's own tensors θ_b, and the adapted head φ_h."""
        check_support(support_x, support_y, self.task_type)
        phi_head = self.inner_loop(self.head_theta(), self.body(support_x), support_y)
        body = {f"body.{name}": p for name, p in self.body.named_parameters() if p.requires_grad}
        return {**body, **{f"head.{name}": p for name, p in phi_head.items()}}

    def task_outputs(self, support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        """One task, functionally (mapped over the tasks by the batched meta-loss):
        head(φ_h) ∘ body(θ_b) on ``query_x``, φ_h adapted on the support features."""
        phi_head = self.functional_inner_loop(self.head_theta(), self.body(support_x), support_y)
        return self.forward_with(phi_head, self.body(query_x))

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        """Adapt the head on the support features; the predictor is head(φ_h) ∘ body(θ_b)."""
        check_support(support_x, support_y, self.task_type)
        phi_head = self.inner_loop(self.head_theta(), self.body(support_x), support_y)
        return query_checked(lambda x: self.forward_with(phi_head, self.body(x)), support_x)


__all__ = ["ANIL"]
