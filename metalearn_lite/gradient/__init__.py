"""Gradient-based meta-learners: learn an initialisation (and more) that adapts by gradient descent.

* :class:`MAML` — Finn, Abbeel & Levine (2017): φ = θ − α∇L^S(θ), θ ← θ − β∇_θ Σ L^Q(φ);
  exact (second-order) or first-order (``first_order=True``).
* :class:`MetaSGD` — Li et al. (2017): MAML with a learned step size per parameter, φ = θ − α∘∇L^S.
* :class:`ANIL` — Raghu et al. (2020): MAML adapting only the head; the body learned in the outer loop.
* :class:`Reptile` — Nichol, Achiam & Schulman (2018): k SGD steps per task, θ ← θ + ε(φ̄ − θ),
  trained by :func:`metalearn_lite.meta_train` through a surrogate loss.

All four are :class:`~metalearn_lite.MetaLearner` s: ``adapt(support_x, support_y)`` returns a
predictor, and :func:`metalearn_lite.meta_train` / :func:`metalearn_lite.evaluate` train and
measure them like every other method. Adaptation is functional
(``torch.func.functional_call``): the wrapped model's parameters are never modified by it.
"""
from .anil import ANIL
from .maml import MAML
from .meta_sgd import MetaSGD
from .reptile import Reptile

__all__ = ["ANIL", "MAML", "MetaSGD", "Reptile"]
