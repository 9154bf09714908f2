"""Reptile (Nichol, Achiam & Schulman 2018, arXiv:1803.02999): meta-learning by moving towards adapted weights.

For each task of a meta-batch, train a copy of the weights with k steps of plain SGD (or Adam)
on that task's data, giving φᵢ; then move θ a fraction ε of the way towards their mean::

    inner loop:  φᵢ = SGD_k(θ, task i)                 (k ordinary optimiser steps, no meta-gradient)
    outer loop:  θ ← θ + ε (φ̄ − θ),   φ̄ = (1/B) Σᵢ φᵢ

No second derivatives, no gradient through the inner loop: the difference θ − φᵢ itself is the
"meta-gradient". Nichol et al. show that, when the k steps use *different mini-batches* of a
task, its expectation contains MAML's first-order term plus a term that maximises the inner
product of the gradients of different mini-batches (within-task generalisation). **This
implementation does not draw mini-batches**: every inner step is one full-batch step on the
same examples, so in that term both gradients are of the same batch (it becomes ½∇‖g‖² of
that batch's gradient g) instead of two different mini-batches: it no longer rewards steps on
one part of a task's data that also help on another part.

**The inner loop, exactly** (:meth:`Reptile.inner_loop`): φ starts as a detached copy of θ; each
of the k steps computes the loss on *all* the examples given (support + query pooled while
meta-training with ``use_query=True``, see below) and applies one step of

* ``inner_optimizer="sgd"`` — ``torch.optim.SGD(lr=inner_lr)``: φ ← φ − α ∇L(φ), no momentum;
* ``inner_optimizer="adam"`` — ``torch.optim.Adam(lr=inner_lr, betas=(0, 0.999), eps=1e-8)``,
  **built afresh for every task** (and for every call of :meth:`~Reptile.inner_loop`), so its
  statistics start at zero each time. With β₁ = 0 and bias correction its first step is
  φ − α g/(|g| + 1e−8) ≈ φ − α·sign(g), coordinate by coordinate, whatever the gradient's
  size. Nichol et al.'s reference code (openai/supervised-reptile) instead keeps one Adam whose
  second-moment statistics carry over from task to task (only the model's weights are reset
  between tasks), so its steps are scaled by the gradient sizes seen in earlier tasks.

**The outer step size ε** is the learning rate of the optimiser given to
:func:`~metalearn_lite.meta_train` (``torch.optim.SGD(lr=ε)`` for the paper's update) and stays
constant: nothing here anneals it. The reference code anneals ε linearly from
``meta_step_size`` to ``meta_step_size_final`` over training.

**How it fits** :func:`metalearn_lite.meta_train` **(the surrogate-loss trick).**
``meta_train`` only knows "loss.backward(); optimizer.step()". :meth:`Reptile.meta_loss`
therefore returns the surrogate

    S(θ) = ½ Σ_params ‖θ − stopgrad(φ̄)‖²,     whose gradient is  ∇_θ S = θ − φ̄.

With ``optimizer=torch.optim.SGD(learner.parameters(), lr=ε)`` one step of ``meta_train`` is
θ ← θ − ε (θ − φ̄) = θ + ε (φ̄ − θ): exactly Reptile's update. (With ``meta_train``'s default Adam
the Reptile direction θ − φ̄ is fed to Adam instead, which the paper notes also works.) The value
of S is not a meaningful loss, so the metrics that ``meta_loss`` reports are the real ones:
``loss`` and ``accuracy``/``mse`` on the query set after adapting on the support set, as
:func:`metalearn_lite.evaluate` would measure them, and ``surrogate`` = S.

**Support and query.** Reptile has no support/query distinction: a task is just data to train
on. While meta-training, the inner loop here trains on the support **and** query examples of
each episode pooled into one batch (``use_query=True``, the default): K + Q examples per class,
all of them in every one of the k full-batch steps. That resembles the paper's practice of
training on more shots than are tested (its ``train-shots``), but is not the same procedure:
the reference code draws each inner step's mini-batch (``inner-batch`` examples) from those
train-shots. The reported query metrics come from a separate adaptation on the support set
alone (cheap: the support set is small), so they stay honest held-out numbers. With
``use_query=False`` the inner loop uses the support set only and the same φᵢ is scored on the
query set. At test time (:meth:`Reptile.adapt`) only the support set is used, with
``test_inner_steps`` full-batch steps in ``eval()`` mode (``inner_steps`` in ``train()`` mode).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..data.episodes import EpisodeBatch
from ..protocol import MetaLearner, Predictor, check_batch, check_support, query_checked, score_name, task_score
from .maml import Params, check_model, check_outputs, check_step_size, check_steps

INNER_OPTIMIZERS = ("sgd", "adam")


class Reptile(MetaLearner):
    """Reptile: ``inner_steps`` full-batch steps of SGD/Adam (step size ``inner_lr``) per task, then θ ← θ + ε(φ̄ − θ).

    ``inner_optimizer="adam"`` is a fresh ``Adam(betas=(0, 0.999))`` for every task (see the
    module docstring: its first step is ≈ ``inner_lr``·sign(g)).

    Train with ``meta_train(learner, tasks, steps, optimizer=torch.optim.SGD(learner.parameters(), lr=ε))``
    for the paper's update (see the module docstring for why that works). ``test_inner_steps``
    (default ``inner_steps``) are used by :meth:`adapt` in ``eval()`` mode.
    """

    adapt_needs_grad = True

    def __init__(
        self,
        model: nn.Module,
        inner_lr: float,
        inner_steps: int = 5,
        test_inner_steps: int | None = None,
        inner_optimizer: str = "sgd",
        use_query: bool = True,
        task_type: str = "classification",
    ) -> None:
        super().__init__(task_type)
        self.model = check_model(model)
        self.inner_lr = check_step_size("inner_lr", inner_lr)
        self.inner_steps, self.test_inner_steps = check_steps(inner_steps, test_inner_steps)
        if inner_optimizer not in INNER_OPTIMIZERS:
            raise ValueError(f"inner_optimizer must be one of {INNER_OPTIMIZERS}, got {inner_optimizer!r}")
        self.inner_optimizer = inner_optimizer
        self.use_query = bool(use_query)

    def extra_repr(self) -> str:
        return (
            f"inner_lr={self.inner_lr}, inner_steps={self.inner_steps}, test_inner_steps={self.test_inner_steps}, "
            f"inner_optimizer={self.inner_optimizer!r}, use_query={self.use_query}, task_type={self.task_type!r}"
        )

    def theta(self) -> Params:
        """θ: the model's trainable parameters by name."""
        return {name: p for name, p in self.model.named_parameters() if p.requires_grad}

    @property
    def steps(self) -> int:
        return self.inner_steps if self.training else self.test_inner_steps

    def inner_loop(self, x: Tensor, y: Tensor, steps: int | None = None) -> Params:
        """φ = k full-batch steps of SGD/Adam from a detached copy of θ on all of (x, y); θ itself is not touched.

        The optimiser (and so Adam's statistics) is created anew at every call. The model's
        outputs must fit the task (:func:`~metalearn_lite.gradient.maml.check_outputs`).
        """
        steps = self.steps if steps is None else steps
        phi = {name: p.detach().clone().requires_grad_() for name, p in self.theta().items()}
        if self.inner_optimizer == "sgd":
            optimizer = torch.optim.SGD(phi.values(), lr=self.inner_lr)
        else:
            optimizer = torch.optim.Adam(phi.values(), lr=self.inner_lr, betas=(0.0, 0.999))
        with torch.enable_grad():
            for _ in range(steps):
                outputs = functional_call(self.model, phi, (x,))
                check_outputs(outputs, y, self.task_type)  # N scores for N ways, as MAML checks
                loss = self.loss(outputs, y)
                grads = torch.autograd.grad(loss, list(phi.values()), allow_unused=True, materialize_grads=True)
                for p, g in zip(phi.values(), grads):
                    p.grad = g
                optimizer.step()
        return {name: p.detach() for name, p in phi.items()}

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        """Train a copy of θ on the support set; the predictor is the network at those weights."""
        check_support(support_x, support_y, self.task_type)
        phi = self.inner_loop(support_x, support_y)
        return query_checked(lambda x: functional_call(self.model, phi, (x,)), support_x)

    def meta_loss(self, batch: EpisodeBatch) -> tuple[Tensor, dict[str, float]]:
        """The surrogate ½ Σ‖θ − φ̄‖² (gradient θ − φ̄), and the real query loss and score as metrics.

        The batch is validated first (:func:`~metalearn_lite.protocol.check_batch`)."""
        theta = self.theta()
        phi_sum = {name: torch.zeros_like(p) for name, p in theta.items()}
        losses, scores = [], []
        check_batch(batch, self.task_type)
        for episode in batch:
            if self.use_query:
                x = torch.cat([episode.support_x, episode.query_x])
                y = torch.cat([episode.support_y, episode.query_y])
                phi = self.inner_loop(x, y)
                phi_support = self.inner_loop(episode.support_x, episode.support_y)  # for the metrics only
            else:
                phi = phi_support = self.inner_loop(episode.support_x, episode.support_y)
            for name in phi_sum:
                phi_sum[name] += phi[name]
            with torch.no_grad():
                outputs = functional_call(self.model, phi_support, (episode.query_x,))
                losses.append(float(self.loss(outputs, episode.query_y)))
                scores.append(task_score(self.task_type, outputs, episode.query_y))
        phi_mean = {name: s / len(batch) for name, s in phi_sum.items()}
        surrogate = 0.5 * sum(((theta[name] - phi_mean[name]) ** 2).sum() for name in theta)
        metrics = {
            "loss": sum(losses) / len(losses),
            score_name(self.task_type): sum(scores) / len(scores),
            "surrogate": float(surrogate.detach()),
        }
        return surrogate, metrics


__all__ = ["Reptile"]
