"""Evolution strategies as the outer loop of meta-learning: ES-MAML (Song, Gao, Yang, Choromanski,
Pacchiano & Tang 2020, "ES-MAML: Simple Hessian-Free Meta Learning", ICLR), with the ES gradient
of Salimans, Ho, Chen, Sidor & Sutskever (2017), "Evolution Strategies as a Scalable Alternative
to Reinforcement Learning".

The meta-objective is the same as MAML's, the return after adapting to the task,

    F(θ) = E_i[ J_i(U(θ, i)) ],     U(θ, i) = θ + α ∇̂J_i(θ)   (one policy-gradient step),

but its gradient is never differentiated through U. ES smooths F with Gaussian noise and
estimates the gradient of the smoothed objective from returns alone, with antithetic pairs:

    ∇_θ E_ε[F(θ + σε)] ≈ (1 / (2Pσ)) Σ_{p=1..P} (F(θ + σε_p) − F(θ − σε_p)) ε_p,  ε_p ~ N(0, I).

Each F(θ ± σε_p) is estimated on the same ``meta_batch`` goals (common random tasks), by
adapting the perturbed policy with one first-order policy-gradient step
(:func:`metalearn_lite.rl.maml_rl.adapt`) and measuring the undiscounted return of new episodes.
As in Salimans et al., the 2P returns are replaced by their centred ranks (fitness shaping:
values in [−0.5, 0.5], so the step does not depend on the scale of the returns), and the
estimate is applied by Adam. Nothing here needs second derivatives, or even the inner
gradient's graph: U could be any adaptation procedure, which is ES-MAML's point. ES-MAML's own
experiments also use ES (or hill climbing) for U; here U is the same policy-gradient step MAML
uses, so that the two outer loops are compared on the same inner loop.
"""
from __future__ import annotations

import time
from typing import Mapping

import torch
from torch import Tensor

from ..training import History
from ..utils import check_int, check_number
from .bandits import make_generator
from .checks import NonFiniteError, at_step, check_finite_weights, check_lr, check_non_negative
from .maml_rl import _check_training, _log_step, adapt, linear_feature_baseline
from .navigation import HORIZON, GaussianMLPPolicy, NavigationTasks, Params, check_goals, rollout


def flatten(params: Params) -> Tensor:
    """θ as one vector (the dict's order)."""
    if not isinstance(params, Mapping) or not params or not all(isinstance(v, Tensor) for v in params.values()):
        raise ValueError(f"params must be a non-empty dict of tensors, got {type(params).__name__}")
    return torch.cat([v.reshape(-1) for v in params.values()])


def unflatten(vector: Tensor, like: Params) -> Params:
    """Vectors (..., D) back to a dict shaped like ``like``, with the leading dimensions kept;
    D must be the number of entries of ``like``."""
    if not isinstance(like, Mapping) or not all(isinstance(v, Tensor) for v in like.values()):
        raise ValueError(f"like must be a dict of tensors, got {type(like).__name__}")
    size = sum(v.numel() for v in like.values())
    if not isinstance(vector, Tensor) or vector.dim() < 1 or vector.shape[-1] != size:
        got = tuple(vector.shape) if isinstance(vector, Tensor) else type(vector).__name__
        raise ValueError(f"vector must have shape (..., {size}) (the entries of like), got {got}")
    out, i = {}, 0
    for k, v in like.items():
        out[k] = vector[..., i:i + v.numel()].reshape(*vector.shape[:-1], *v.shape)
        i += v.numel()
    return out


def centered_ranks(x: Tensor) -> Tensor:
    """Ranks of a 1-D x scaled to [−0.5, 0.5] (the lowest −0.5, the highest 0.5; Salimans et al.
    2017). NaN has no rank and is refused."""
    if not isinstance(x, Tensor) or x.dim() != 1 or not x.is_floating_point():
        got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a 1-D floating-point tensor, got {got}")
    if bool(torch.isnan(x).any()):
        raise ValueError(f"x holds NaN at {torch.isnan(x).nonzero().flatten().tolist()[:5]}, which has no rank: "
                         "remove it, or find where the NaN comes from")
    ranks = torch.empty_like(x)
    ranks[x.argsort()] = torch.arange(x.numel(), dtype=x.dtype, device=x.device)
    return ranks / max(x.numel() - 1, 1) - 0.5


def es_gradient(fitness: Tensor, eps: Tensor, sigma: float) -> Tensor:
    """(1 / (2Pσ)) Σ_p (u⁺_p − u⁻_p) ε_p for ``fitness`` (2P,) = [F(θ + σε_1..P), F(θ − σε_1..P)]
    after centred ranks u, and ``eps`` (P, D). Fitness values that are NaN or ±inf are refused."""
    sigma = check_number("sigma (the perturbation scale)", sigma)
    if not isinstance(fitness, Tensor):
        raise ValueError(f"fitness must be a tensor, got {type(fitness).__name__}")
    if not isinstance(eps, Tensor) or eps.dim() != 2:
        raise ValueError(f"eps must be a (P, D) tensor, got {getattr(eps, 'shape', eps)!r}")
    p = eps.shape[0]
    if fitness.shape != (2 * p,):
        raise ValueError(f"fitness must hold 2P = {2 * p} values (+ then − perturbations), got {tuple(fitness.shape)}")
    if not bool(torch.isfinite(fitness).all()):
        raise NonFiniteError(f"the ES fitness became NaN or ±inf ({fitness.tolist()[:4]} …)",
                             "try a smaller perturbation scale sigma")
    u = centered_ranks(fitness)
    return ((u[:p] - u[p:]).unsqueeze(-1) * eps).sum(0) / (2 * p * sigma)


def adapted_returns(
    policy: GaussianMLPPolicy, members: Params, goals: Tensor, episodes: int, alpha: float, gamma: float,
    horizon: int, generator: torch.Generator,
) -> tuple[Tensor, int]:
    """F of every member on every goal: ``members`` has a leading dimension k (one θ each); returns
    (k, m) mean returns after one first-order policy-gradient step, and the environment steps used."""
    if not isinstance(policy, GaussianMLPPolicy):
        raise ValueError(f"policy must be a GaussianMLPPolicy, got {policy!r}")
    batch = policy.check_params(members)
    if len(batch) != 1:
        raise ValueError(f"members must have one leading dimension (one θ per member), got batch dimensions {batch}")
    goals = check_goals(goals)
    k, m = batch[0], goals.shape[0]
    per_task = {name: v.repeat_interleave(m, dim=0).detach().requires_grad_() for name, v in members.items()}
    goal_rows = goals.repeat(k, 1)
    support = rollout(policy, per_task, goal_rows, episodes, horizon, seed=generator)
    adapted = adapt(policy.log_prob, per_task, support, alpha, gamma, first_order=True,
                    baseline=linear_feature_baseline(support, gamma))
    query = rollout(policy, {n: v.detach() for n, v in adapted.items()}, goal_rows, episodes, horizon, seed=generator)
    return query.returns.mean(-1).view(k, m), int(support.mask.sum() + query.mask.sum())


def train_es_maml(
    policy: GaussianMLPPolicy,
    steps: int,
    population: int = 8,
    sigma: float = 0.02,
    lr: float = 0.01,
    meta_batch: int = 5,
    episodes: int = 20,
    alpha: float = 1e-3,
    gamma: float = 0.99,
    horizon: int = HORIZON,
    seed: int = 0,
    cpu_seconds: float | None = None,
) -> tuple[Params, History]:
    """Meta-train θ by ES on navigation goals from ``NavigationTasks(seed, "train")``.

    Each step: ``meta_batch`` goals, ``population`` antithetic pairs θ ± σε_p, F of each member by
    :func:`adapted_returns` (``episodes`` support and query episodes per goal), θ ← Adam(ES
    gradient, ``lr``). History: ``fitness`` (mean F over the members), ``env_steps``
    (cumulative), ``cpu_seconds``. ``cpu_seconds`` stops earlier (process CPU time).
    Stops with a FloatingPointError, naming the step, at the first fitness, action or θ that is
    NaN or ±inf (θ is never updated from NaN fitness).
    """
    steps, meta_batch, episodes, gamma, horizon, seed, cpu_seconds = _check_training(
        policy, steps, meta_batch, episodes, gamma, horizon, seed, cpu_seconds)
    population = check_int("population", population)
    alpha = check_non_negative("alpha (the inner step size)", alpha)
    sigma = check_number("sigma (the perturbation scale)", sigma)
    like = policy.init(seed)
    theta = flatten(like).clone().requires_grad_()
    lr = check_lr(lr, theta.dtype)
    optimiser = torch.optim.Adam([theta], lr=lr)
    tasks, generator = NavigationTasks(seed, "train"), make_generator(seed)
    history, start, env_steps = History(), time.process_time(), 0
    hint = f"try a smaller perturbation scale (sigma={sigma}), learning rate (lr={lr}) or inner step size (alpha={alpha})"
    for step in range(1, steps + 1):
        with at_step(f"at step {step}", hint):
            goals = tasks.sample(meta_batch)
            eps = torch.randn(population, theta.numel(), generator=generator)
            members = theta.detach() + sigma * torch.cat([eps, -eps])
            if not bool(torch.isfinite(members).all()):
                raise NonFiniteError("the perturbed parameters θ ± σε became NaN or ±inf", hint)
            fitness, used_steps = adapted_returns(policy, unflatten(members, like), goals, episodes, alpha, gamma,
                                                  horizon, generator)
            fitness = fitness.mean(-1)
            optimiser.zero_grad()
            theta.grad = -es_gradient(fitness, eps, sigma)  # Adam minimises: ascend F
            optimiser.step()
            check_finite_weights("θ", {"theta": theta}, hint)
        env_steps += used_steps
        if _log_step(history, start, cpu_seconds, {"fitness": float(fitness.mean()), "env_steps": env_steps}):
            break
    return {k: v.detach().clone() for k, v in unflatten(theta.detach(), like).items()}, history


__all__ = ["adapted_returns", "centered_ranks", "es_gradient", "flatten", "train_es_maml", "unflatten"]
