"""MAML with a policy-gradient inner loop (Finn, Abbeel & Levine 2017, §3.3 and §5.3), its
meta-gradient made exact with the DiCE estimator (Foerster et al. 2018, "DiCE: The Infinitely
Differentiable Monte Carlo Estimator", ICML; baseline of Mao et al. 2019).

For a task i with return J_i(θ) = E_{τ∼π_θ}[Σ_t γ^t r_t], MAML's reinforcement-learning objective
is the return *after* one policy-gradient step on that task:

    θ'_i = θ + α ∇_θ J_i(θ),          max_θ  Σ_i J_i(θ'_i).

Both gradients are estimated from sampled episodes: ∇J_i(θ) from n episodes of π_θ on task i
(the "support" episodes), ∇_θ J_i(θ'_i) from n new episodes of π_{θ'_i} (the "query" episodes).
The meta-gradient is

    ∇_θ J_i(θ'_i) = (I + α ∇²_θ J_i(θ)) ∇_{θ'} J_i(θ'_i),

and its Hessian ∇²J_i = E[Σ_t γ^t r_t (∇² log p_θ(τ_{≤t}) + ∇ log p_θ(τ_{≤t}) ∇ log p_θ(τ_{≤t})ᵀ)]
has a term that differentiating a REINFORCE surrogate Σ log π · R misses (it treats the
sampled episodes as fixed, though their distribution depends on θ). DiCE fixes it: with the
"magic box" □(x) = exp(x − stop_grad(x)), whose value is 1 and whose derivative is □(x) ∇x,

    Ĵ(θ) = (1/n) Σ_episodes Σ_t γ^t [ □(W_t) r_t + (1 − □(ℓ_t)) □(W_{t−1}) b_t ],
    ℓ_t = log π_θ(a_t | s_t),  W_t = Σ_{t' ≤ t} ℓ_{t'},  W_{−1} = 0,

has the value of the sampled mean discounted return, and its gradients of every order are
unbiased estimates of those of J (the second term is Mao et al.'s baseline: zero in value and
in expectation at every order, it only lowers the variance; b_t is a baseline prediction of
the return from step t, fitted by least squares on the same episodes and held constant).
So ``adapt(..., first_order=False)`` takes θ' = θ + α ∇Ĵ(θ) *with* its graph, and
``autograd.grad(Ĵ_query(θ'), θ)`` is an estimate of the exact meta-gradient above.
``first_order=True`` drops the Hessian term (∇_θ θ' = I): first-order MAML.
``tests/test_rl_maml.py`` checks the estimate against finite differences of J(θ + α∇J(θ)) on a
small problem whose expectations can be summed exactly over all episodes.

Simplifications against the paper, said here so the numbers are read correctly:

* the outer optimiser is Adam on the meta-gradient (the paper uses TRPO);
* the inner step is plain gradient ascent on Ĵ, the mean *discounted return* per episode
  (rllab's vanilla policy gradient, which the paper's α = 0.1 refers to, averages over steps and
  normalises the advantages, so the step sizes are not comparable: ``alpha`` here is smaller);
* the baseline b is rllab's linear feature baseline (features s, s², t, t², t³, 1), fitted per task.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping

import torch
from torch import Tensor

from ..training import History
from ..utils import check_int
from .bandits import make_generator
from .checks import (
    NonFiniteError, at_step, check_bool, check_cpu_seconds, check_finite_loss, check_finite_weights, check_gamma,
    check_lr, check_non_negative, first_non_finite,
)
from .rl2 import discounted_returns  # G_t along the last dimension, shared with RL²
from .navigation import (
    HORIZON, GaussianMLPPolicy, NavigationTasks, Params, Trajectories, check_goals, expand_params, rollout,
)

LogProb = Callable[[Params, Tensor, Tensor], Tensor]


def magic_box(x: Tensor) -> Tensor:
    """□(x) = exp(x − stop_grad(x)): value 1, derivative □(x) ∇x (Foerster et al. 2018)."""
    return torch.exp(x - x.detach())


def linear_feature_baseline(traj: Trajectories, gamma: float, reg: float = 1e-5) -> Tensor:
    """b_t, (m, n, T): per task, the least-squares fit of the discounted return-to-go G_t on the
    features (s, s², τ, τ², τ³, 1) with τ = t / 100, over the steps the episodes took (rllab's
    ``LinearFeatureBaseline``; ridge ``reg`` for a well-posed solve). Computed without autograd."""
    _check_trajectories(traj)
    gamma, reg = check_gamma(gamma), check_non_negative("reg (the ridge term)", reg)
    with torch.no_grad():
        m, n, horizon = traj.rewards.shape
        dtype = torch.float64
        s = traj.obs.to(dtype).clamp(-10, 10)
        tau = (torch.arange(horizon, dtype=dtype, device=s.device) / 100).expand(m, n, horizon).unsqueeze(-1)
        features = torch.cat([s, s.pow(2), tau, tau.pow(2), tau.pow(3), torch.ones_like(tau)], dim=-1)
        mask = traj.mask.to(dtype).unsqueeze(-1)
        x = (features * mask).reshape(m, n * horizon, -1)
        y = discounted_returns((traj.rewards * traj.mask).to(dtype), gamma).reshape(m, n * horizon, 1)
        eye = torch.eye(x.shape[-1], dtype=dtype, device=s.device)
        coef = torch.linalg.solve(x.transpose(1, 2) @ x + reg * eye, x.transpose(1, 2) @ y)
        return ((features @ coef.unsqueeze(1)).squeeze(-1) * traj.mask.to(dtype)).to(traj.rewards.dtype)


def _check_trajectories(traj: object) -> None:
    if not isinstance(traj, Trajectories):
        raise ValueError(f"traj must be Trajectories (from rollout), got {type(traj).__name__}")
    shape = tuple(traj.rewards.shape)
    if len(shape) != 3 or tuple(traj.mask.shape) != shape:
        raise ValueError(f"traj.rewards and traj.mask must have one shape (m, n, T), got {shape} and {tuple(traj.mask.shape)}")
    if traj.weights is not None and tuple(traj.weights.shape) != shape[:2]:
        raise ValueError(f"traj.weights must have shape (m, n) = {shape[:2]}, got {tuple(traj.weights.shape)}")


def dice_objective(log_probs: Tensor, traj: Trajectories, gamma: float, baseline: Tensor | None = None) -> Tensor:
    """Ĵ per task, (m,): the DiCE objective of the module docstring for ℓ = ``log_probs`` (m, n, T).

    Its value is the mean (or, with ``traj.weights``, the weighted sum) over episodes of the
    discounted return; its derivatives of every order estimate those of J. ``baseline`` b
    (m, n, T) enters only through the zero-valued term; None means b = 0. γ must lie in [0, 1].
    """
    _check_trajectories(traj)
    gamma = check_gamma(gamma)
    if not isinstance(log_probs, Tensor) or log_probs.shape != traj.rewards.shape:
        raise ValueError(f"log_probs must have the rewards' shape (m, n, T) = {tuple(traj.rewards.shape)}, "
                         f"got {tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs).__name__}")
    if baseline is not None and (not isinstance(baseline, Tensor) or baseline.shape != traj.rewards.shape):
        raise ValueError(f"baseline must have the rewards' shape (m, n, T) = {tuple(traj.rewards.shape)}, got "
                         f"{tuple(baseline.shape) if isinstance(baseline, Tensor) else type(baseline).__name__}")
    horizon = log_probs.shape[-1]
    mask = traj.mask.to(log_probs.dtype)
    ell = log_probs * mask
    w = ell.cumsum(-1)
    w_before = torch.cat([torch.zeros_like(w[..., :1]), w[..., :-1]], dim=-1)
    discount = gamma ** torch.arange(horizon, dtype=log_probs.dtype, device=log_probs.device)
    terms = magic_box(w) * traj.rewards
    if baseline is not None:
        terms = terms + (1 - magic_box(ell)) * magic_box(w_before) * baseline.detach()
    per_episode = (terms * mask * discount).sum(-1)
    if traj.weights is None:
        return per_episode.mean(-1)
    return (per_episode * traj.weights.to(per_episode.dtype)).sum(-1)


def adapt(
    log_prob: LogProb,
    params: Params,
    traj: Trajectories,
    alpha: float,
    gamma: float = 0.99,
    first_order: bool = False,
    baseline: Tensor | None = None,
) -> Params:
    """θ'_i = θ_i + α ∇ Ĵ_i(θ_i) for every task i of ``traj`` at once (gradient *ascent* on the return).

    ``params`` holds one θ per task: every tensor has a leading dimension m (use
    :func:`~metalearn_lite.rl.navigation.expand_params` to start all tasks from the same θ; the
    expanded view keeps the gradients per task and sends them back to θ). ``first_order=False``
    keeps the graph of the gradient, so θ' is differentiable with respect to θ including the
    Hessian term; ``first_order=True`` detaches the gradient (∇_θ θ' = I). ``alpha`` >= 0 (0: θ' = θ).
    The tensors of ``params`` must require gradients; a θ' that holds NaN or ±inf raises a
    FloatingPointError.
    """
    if not callable(log_prob):
        raise ValueError(f"log_prob must be a function (params, obs, actions) -> log π, e.g. policy.log_prob, got {log_prob!r}")
    _check_trajectories(traj)
    alpha, gamma = check_non_negative("alpha (the inner step size)", alpha), check_gamma(gamma)
    first_order = check_bool("first_order", first_order)
    if not isinstance(params, Mapping) or not params or not all(isinstance(v, Tensor) for v in params.values()):
        raise ValueError(f"params must be a non-empty dict of tensors, got {type(params).__name__}")
    m = traj.rewards.shape[0]
    bad = {k: tuple(v.shape) for k, v in params.items() if v.dim() == 0 or v.shape[0] != m}
    if bad:
        raise ValueError(f"adapt needs one θ per task (a leading dimension of {m}); got shapes {bad} -- "
                         "pass expand_params(params, m)")
    frozen = [k for k, v in params.items() if not v.requires_grad]
    if frozen:
        raise ValueError(f"adapt differentiates Ĵ with respect to params, but {frozen} do not require gradients: pass "
                         "{k: v.detach().requires_grad_() ...} or expand_params of such tensors")
    names = list(params)
    j = dice_objective(log_prob(params, traj.obs, traj.actions), traj, gamma, baseline).sum()
    grads = torch.autograd.grad(j, [params[k] for k in names], create_graph=not first_order, allow_unused=True)
    out = {}
    for k, g in zip(names, grads):
        g = torch.zeros_like(params[k]) if g is None else g
        out[k] = params[k] + alpha * (g.detach() if first_order else g)
    if (bad_name := first_non_finite(out)) is not None:
        raise NonFiniteError(f"adapt: θ' = θ + α∇Ĵ became NaN or ±inf (first: {bad_name})",
                             f"try a smaller inner step size (alpha={alpha})")
    return out


def adaptation_returns(
    policy: GaussianMLPPolicy,
    params: Params,
    goals: Tensor,
    steps: int = 3,
    alpha: float = 0.01,
    episodes: int = 20,
    gamma: float = 0.99,
    horizon: int = HORIZON,
    seed: int = 0,
) -> Tensor:
    """Mean undiscounted return per task, (steps + 1, m), before and after each of ``steps``
    policy-gradient steps of size α, each on ``episodes`` new episodes of the current policy
    (how the MAML paper's Figure 5 adapts on new goals). No meta-gradient is kept.

    ``params`` is one finite θ of ``policy`` (no batch dimension); ``steps`` >= 0 and ``alpha`` >= 0
    (0 and 0: no adaptation). A NaN or ±inf θ' stops it with a FloatingPointError naming the step.
    """
    policy, params = _check_policy_params(policy, params)
    steps = check_int("steps", steps, minimum=0)
    alpha, gamma = check_non_negative("alpha (the inner step size)", alpha), check_gamma(gamma)
    episodes, horizon = check_int("episodes", episodes), check_int("horizon", horizon)
    generator = make_generator(seed)
    current = {k: v.detach().clone() for k, v in expand_params(params, check_goals(goals).shape[0]).items()}
    returns = []
    hint = f"try a smaller inner step size (alpha={alpha})"
    for k in range(steps + 1):
        with at_step(f"after {k} adaptation step{'s' * (k != 1)}", hint):
            traj = rollout(policy, current, goals, episodes, horizon, seed=generator)
        returns.append(traj.returns.mean(-1))
        if k < steps:
            b = linear_feature_baseline(traj, gamma)
            current = {name: v.detach().requires_grad_() for name, v in current.items()}
            with at_step(f"at adaptation step {k + 1}", hint):
                current = {name: v.detach() for name, v in
                           adapt(policy.log_prob, current, traj, alpha, gamma, first_order=True, baseline=b).items()}
    return torch.stack(returns)


def _check_policy_params(policy: object, params: object) -> tuple[GaussianMLPPolicy, Params]:
    """The policy must be a GaussianMLPPolicy and params one finite θ of it (no batch dimension)."""
    if not isinstance(policy, GaussianMLPPolicy):
        raise ValueError(f"policy must be a GaussianMLPPolicy, got {policy!r}")
    batch = policy.check_params(params, finite=True)
    if batch:
        raise ValueError(f"params must be one θ without batch dimensions, got batch dimensions {batch}")
    return policy, params  # type: ignore[return-value]


def _check_training(policy: object, steps: object, meta_batch: object, episodes: object, gamma: object,
                    horizon: object, seed: object, cpu_seconds: object) -> tuple:
    """The arguments the three training loops share, checked and converted."""
    if not isinstance(policy, GaussianMLPPolicy):
        raise ValueError(f"policy must be a GaussianMLPPolicy, got {policy!r}")
    return (check_int("steps", steps), check_int("meta_batch", meta_batch), check_int("episodes", episodes),
            check_gamma(gamma), check_int("horizon", horizon), check_int("seed", seed, minimum=0),
            check_cpu_seconds(cpu_seconds))


def _leaves(params: Params) -> Params:
    """Detached copies of θ that require gradients: the parameters an optimiser trains."""
    return {k: v.detach().clone().requires_grad_() for k, v in params.items()}


def _log_step(history: History, start: float, cpu_seconds: float | None, row: dict) -> bool:
    """Log one update with the CPU seconds used since ``start``; True once ``cpu_seconds`` are spent."""
    used = time.process_time() - start
    history.log(history.train, {**row, "cpu_seconds": used})
    return cpu_seconds is not None and used >= cpu_seconds


def train_maml_rl(
    policy: GaussianMLPPolicy,
    steps: int,
    meta_batch: int = 20,
    episodes: int = 20,
    alpha: float = 0.01,
    lr: float = 0.01,
    gamma: float = 0.99,
    first_order: bool = False,
    horizon: int = HORIZON,
    seed: int = 0,
    cpu_seconds: float | None = None,
    params: Params | None = None,
) -> tuple[Params, History]:
    """Meta-train θ by MAML on navigation goals from ``NavigationTasks(seed, "train")``.

    Each meta-step: ``meta_batch`` goals; ``episodes`` episodes of π_θ on each (support); θ'_i by
    :func:`adapt` (exact meta-gradient, or first-order); ``episodes`` episodes of π_{θ'_i}
    (query); one Adam step (``lr``) ascending (1/m) Σ_i Ĵ_i(θ'_i). ``cpu_seconds`` stops earlier
    (process CPU time). Returns θ (float32, detached) and a History whose ``train`` table has,
    per meta-step, ``return_before`` / ``return_after`` (mean undiscounted return of the support
    and query episodes), ``env_steps`` (cumulative steps taken) and ``cpu_seconds``.

    ``params`` (None: ``policy.init(seed)``) must be a finite θ of ``policy``. Training stops with a
    FloatingPointError, naming the meta-step, at the first objective, action or θ that is NaN or ±inf.
    """
    steps, meta_batch, episodes, gamma, horizon, seed, cpu_seconds = _check_training(
        policy, steps, meta_batch, episodes, gamma, horizon, seed, cpu_seconds)
    alpha, first_order = check_non_negative("alpha (the inner step size)", alpha), check_bool("first_order", first_order)
    theta = _leaves(policy.init(seed) if params is None else _check_policy_params(policy, params)[1])
    lr = check_lr(lr, next(iter(theta.values())).dtype)
    optimiser = torch.optim.Adam(list(theta.values()), lr=lr)
    tasks, generator = NavigationTasks(seed, "train"), make_generator(seed)
    history, start, env_steps = History(), time.process_time(), 0
    hint = f"try a smaller learning rate (lr={lr}) or inner step size (alpha={alpha})"
    for step in range(1, steps + 1):
        with at_step(f"at step {step}", hint):
            goals = tasks.sample(meta_batch)
            support = rollout(policy, theta, goals, episodes, horizon, seed=generator)
            adapted = adapt(policy.log_prob, expand_params(theta, meta_batch), support, alpha, gamma, first_order,
                            baseline=linear_feature_baseline(support, gamma))
            query = rollout(policy, {k: v.detach() for k, v in adapted.items()}, goals, episodes, horizon, seed=generator)
            j = dice_objective(policy.log_prob(adapted, query.obs, query.actions), query, gamma,
                               linear_feature_baseline(query, gamma)).mean()
            _ascent_step(optimiser, j, theta, "the MAML objective", hint)
        env_steps += int(support.mask.sum() + query.mask.sum())
        if _log_step(history, start, cpu_seconds, {"return_before": float(support.returns.mean()),
                                                   "return_after": float(query.returns.mean()), "env_steps": env_steps}):
            break
    return {k: v.detach() for k, v in theta.items()}, history


def _ascent_step(optimiser: torch.optim.Optimizer, objective: Tensor, theta: Params, name: str, hint: str) -> None:
    """One optimiser step up ``objective``; a non-finite objective or θ raises, with ``hint``."""
    check_finite_loss(name, objective, hint)
    optimiser.zero_grad()
    (-objective).backward()
    optimiser.step()
    check_finite_weights("θ", theta, hint)


def train_pretrained(
    policy: GaussianMLPPolicy,
    steps: int,
    meta_batch: int = 20,
    episodes: int = 40,
    lr: float = 0.01,
    gamma: float = 0.99,
    horizon: int = HORIZON,
    seed: int = 0,
    cpu_seconds: float | None = None,
) -> tuple[Params, History]:
    """The "pretrained" baseline of the MAML paper: one policy trained on all tasks at once,
    maximising the return averaged over goals (Adam on Ĵ, no inner step). Each step: ``meta_batch``
    goals from the meta-train stream, ``episodes`` episodes each (the default 40 = MAML's support
    + query, so both see the same environment steps per update). History: ``return``,
    ``env_steps``, ``cpu_seconds``. Stops with a FloatingPointError, naming the step, at the first
    objective, action or θ that is NaN or ±inf."""
    steps, meta_batch, episodes, gamma, horizon, seed, cpu_seconds = _check_training(
        policy, steps, meta_batch, episodes, gamma, horizon, seed, cpu_seconds)
    theta = _leaves(policy.init(seed))
    lr = check_lr(lr, next(iter(theta.values())).dtype)
    optimiser = torch.optim.Adam(list(theta.values()), lr=lr)
    tasks, generator = NavigationTasks(seed, "train"), make_generator(seed)
    history, start, env_steps = History(), time.process_time(), 0
    hint = f"try a smaller learning rate (lr={lr})"
    for step in range(1, steps + 1):
        with at_step(f"at step {step}", hint):
            goals = tasks.sample(meta_batch)
            traj = rollout(policy, theta, goals, episodes, horizon, seed=generator)
            j = dice_objective(policy.log_prob(theta, traj.obs, traj.actions), traj, gamma,
                               linear_feature_baseline(traj, gamma)).mean()
            _ascent_step(optimiser, j, theta, "the objective", hint)
        env_steps += int(traj.mask.sum())
        if _log_step(history, start, cpu_seconds, {"return": float(traj.returns.mean()), "env_steps": env_steps}):
            break
    return {k: v.detach() for k, v in theta.items()}, history


__all__ = [
    "adapt", "adaptation_returns", "dice_objective", "discounted_returns", "linear_feature_baseline", "magic_box",
    "train_maml_rl", "train_pretrained",
]
