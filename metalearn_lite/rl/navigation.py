"""2-D point navigation, the reinforcement-learning benchmark of Finn, Abbeel & Levine (2017),
"Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks", ICML, §5.3.

A **task** is a goal g ∈ R². The agent is a point that starts at the origin; at step t it
observes its position s_t ∈ R², picks a velocity a_t ∈ R², moves to s_{t+1} = s_t + clip(a_t,
−0.1, 0.1) (each coordinate clipped) and receives r_t = −‖s_{t+1} − g‖₂. An episode ends after
H = 100 steps, or earlier once the point is within 0.01 of the goal in both coordinates. The
agent never sees g: it must find it from the rewards, so a policy that is good on *every* goal
cannot exist, and one that adapts fast is what meta-learning is for.

**Paper and code differ**, and this module follows the authors' released code (``maml_rl``,
``PointEnvRandGoal``): the paper says the reward is the negative *squared* distance and goals
lie in a unit square; the code uses the negative Euclidean distance, goals drawn uniformly from
[−0.5, 0.5]² and actions clipped to [−0.1, 0.1] per coordinate, with the termination test
abs(s − g) < 0.01 in both coordinates.

Two implementations of the same tasks, as in :mod:`metalearn_lite.rl.bandits`:

* :class:`PointNavigationEnv` — a :class:`gymnasium.Env`, one episode at a time;
* :class:`NavigationTasks` (seeded meta-train / meta-test goals) and :func:`rollout` (a Gaussian
  policy on a whole (tasks × episodes) batch at once, one tensor operation per step), which is
  what training and evaluation use. ``tests/test_rl_navigation.py`` checks that both give the
  same rewards for the same actions.

The policy is :class:`GaussianMLPPolicy`: the paper's network (two hidden layers of 100 ReLU
units) for the mean, and a learned, state-independent log standard deviation (rllab's
``GaussianMLPPolicy``). Its parameters are a dict of tensors that may carry leading batch
dimensions — one parameter set per task after adaptation — so adapted policies of many tasks
run in one batched matrix product (what :mod:`metalearn_lite.rl.maml_rl` and
:mod:`metalearn_lite.rl.es` need).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from ..utils import check_int, check_number, check_seed, is_integer
from .bandits import make_generator, split_generator
from .checks import NonFiniteError, check_bool, first_non_finite

GOAL_LOW, GOAL_HIGH = -0.5, 0.5
MAX_SPEED = 0.1  # |a| per coordinate after clipping
HORIZON = 100
GOAL_TOLERANCE = 0.01
Params = dict[str, Tensor]


def check_goals(goals: object) -> Tensor:
    """``goals`` as a float (tasks, 2) tensor of finite numbers."""
    try:
        g = torch.as_tensor(goals)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"goals must be numbers, a (tasks, 2) tensor or array, got {goals!r}") from error
    g = g if g.is_floating_point() else g.to(torch.get_default_dtype())
    if g.dim() != 2 or g.shape[1] != 2 or g.shape[0] < 1:
        raise ValueError(f"goals must have shape (tasks, 2) with at least one task, got shape {tuple(g.shape)}")
    if not torch.isfinite(g).all():
        raise ValueError(f"goals must be finite numbers, got {g[~torch.isfinite(g).all(1)][:3].tolist()}")
    return g


# --- one episode at a time: the Gymnasium environment -------------------------------------------
class PointNavigationEnv(gym.Env):
    """A point moving to a goal it cannot see (Finn et al. 2017, §5.3; the authors' code).

    * ``reset(seed=None, options=None)``: the point at (0, 0) and a new goal drawn uniformly from
      [−0.5, 0.5]² by the environment's generator, or ``options={"goal": (x, y)}``.
    * ``step(a)``: s ← s + clip(a, −0.1, 0.1); reward −‖s − g‖; ``terminated`` when abs(s − g) < 0.01
      in both coordinates, ``truncated`` after ``horizon`` steps.
    * Observation: the position s (``Box(-inf, inf, (2,), float32)``); ``info["goal"]`` is for
      analysis only, an agent must not read it, and ``info["distance"]`` is ‖s − g‖.
    """

    metadata = {"render_modes": []}

    def __init__(self, horizon: int = HORIZON) -> None:
        self.horizon = check_int("horizon", horizon)
        self.action_space = spaces.Box(-MAX_SPEED, MAX_SPEED, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        self.goal = np.zeros(2)
        self.position = np.zeros(2)
        self.steps = self.horizon  # no episode running until reset()
        self.done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode at the origin: a new goal from the environment's generator (``seed``
        re-seeds it), or ``options["goal"]``. Returns the first observation and an info dict."""
        super().reset(seed=check_seed("seed", seed))  # Gymnasium takes only Python ints
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ValueError(f"options must be a dict such as {{'goal': (x, y)}} or None, got {options!r}")
        unknown = set(options) - {"goal"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the only option is 'goal'")
        if options.get("goal") is not None:
            try:
                goal = np.asarray(options["goal"], dtype=np.float64)
            except (TypeError, ValueError):
                goal = np.full(3, np.nan)  # refused just below
            if goal.shape != (2,) or not np.isfinite(goal).all():
                raise ValueError(f"options['goal'] must be two finite numbers (x, y), got {options['goal']!r}")
            self.goal = goal.copy()
        else:
            self.goal = self.np_random.uniform(GOAL_LOW, GOAL_HIGH, size=2)
        self.position, self.steps, self.done = np.zeros(2), 0, False
        return self.position.astype(np.float32), {"goal": self.goal.copy(), "distance": float(np.linalg.norm(self.goal))}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Move by the clipped velocity ``action``: (observation, reward, terminated, truncated, info)."""
        if self.done or self.steps >= self.horizon:
            raise RuntimeError("the episode is over (or reset() was never called); call reset()")
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            a = np.full(3, np.nan)  # refused just below
        if a.shape != (2,) or not np.isfinite(a).all():
            raise ValueError(f"action must be two finite numbers (a velocity), got {action!r}")
        self.position = self.position + np.clip(a, -MAX_SPEED, MAX_SPEED)
        offset = self.position - self.goal
        reward = -float(np.linalg.norm(offset))
        self.steps += 1
        terminated = bool((np.abs(offset) < GOAL_TOLERANCE).all())
        truncated = self.steps >= self.horizon and not terminated
        self.done = terminated or truncated
        return self.position.astype(np.float32), reward, terminated, truncated, {"goal": self.goal.copy(),
                                                                               "distance": -reward}


# --- tasks --------------------------------------------------------------------------------------
class NavigationTasks:
    """A seeded stream of goals, uniform on [−0.5, 0.5]²; ``sample(m)`` gives (m, 2).

    ``split="train"`` and ``"test"`` are disjoint streams for the same ``seed`` (generators seeded
    from ``SeedSequence(seed, spawn_key=(0,))`` and ``(1,)``, as :class:`~metalearn_lite.rl.BanditTasks`).
    """

    def __init__(self, seed: int = 0, split: str = "train") -> None:
        self.generator = split_generator(seed, split)
        self.seed, self.split = check_int("seed", seed, minimum=0), split

    def __repr__(self) -> str:
        return f"NavigationTasks(seed={self.seed}, split={self.split!r})"

    def sample(self, m: int) -> Tensor:
        """(m, 2) goals, float32, uniform on [−0.5, 0.5]²."""
        m = check_int("m (the number of tasks)", m)
        return GOAL_LOW + (GOAL_HIGH - GOAL_LOW) * torch.rand(m, 2, generator=self.generator)


# --- the policy ---------------------------------------------------------------------------------
class GaussianMLPPolicy:
    """π_θ(a | s) = N(a; μ_θ(s), diag σ_θ²): μ an MLP 2 → 100 → 100 → 2 with ReLU (Finn et al.
    2017, §5.3), log σ a learned vector of 2 numbers, the same in every state (initial σ =
    ``init_std``, rllab's default 1.0).

    Parameters θ are a dict ``{"W1", "b1", "W2", "b2", "W3", "b3", "log_std"}``; each tensor may
    have leading batch dimensions (e.g. one θ per task), which broadcast against those of the
    observations: ``mean(θ, s)`` with W1 (m, 2, h) and s (m, n, 2) gives (m, n, 2).
    """

    def __init__(self, hidden: tuple[int, ...] = (100, 100), init_std: float = 1.0) -> None:
        if (not isinstance(hidden, (tuple, list)) or not hidden
                or any(not is_integer(h) or h < 1 for h in hidden)):
            raise ValueError(f"hidden must be a non-empty tuple of layer sizes >= 1 (e.g. (100,) for one layer), "
                             f"got {hidden!r}")
        self.hidden = tuple(int(h) for h in hidden)
        self.init_std = check_number("init_std", init_std)
        if not math.isfinite(math.log(self.init_std)):
            raise ValueError(f"init_std must be a positive number whose log is finite, got {init_std!r}")
        self.sizes = (2, *self.hidden, 2)

    def __repr__(self) -> str:
        return f"GaussianMLPPolicy(hidden={self.hidden}, init_std={self.init_std})"

    def init(self, seed: int | torch.Generator = 0, dtype: torch.dtype = torch.float32,
             device: torch.device | str | None = None) -> Params:
        """θ₀: weights and biases uniform in ±1/√fan_in (PyTorch's ``nn.Linear`` default), drawn in
        float64 from ``seed`` (so the same on every device and dtype); log σ = log ``init_std``.
        ``dtype`` must be a floating-point type."""
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point torch.dtype such as torch.float32, got {dtype!r}")
        generator = make_generator(seed)
        params: Params = {}
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            bound = 1.0 / math.sqrt(fan_in)
            params[f"W{i}"] = (2 * torch.rand(fan_in, fan_out, generator=generator, dtype=torch.float64) - 1) * bound
            params[f"b{i}"] = (2 * torch.rand(fan_out, generator=generator, dtype=torch.float64) - 1) * bound
        params["log_std"] = torch.full((2,), math.log(self.init_std), dtype=torch.float64)
        return {k: v.to(dtype=dtype, device=device) for k, v in params.items()}

    def layers(self) -> int:
        return len(self.sizes) - 1

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of each entry of θ, without batch dimensions: W_i (fan_in, fan_out), b_i (fan_out,), log_std (2,)."""
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            shapes[f"W{i}"], shapes[f"b{i}"] = (fan_in, fan_out), (fan_out,)
        shapes["log_std"] = (2,)
        return shapes

    def check_params(self, params: object, finite: bool = False) -> tuple[int, ...]:
        """Check that ``params`` is a θ of this policy: a dict with exactly the keys of
        :meth:`param_shapes`, floating-point tensors of those shapes after the same leading (batch)
        dimensions, of one dtype and device (and, with ``finite``, no NaN or ±inf). Returns the
        batch dimensions; raises a ValueError that names the missing, extra or wrong entries."""
        if not isinstance(params, Mapping):
            raise ValueError(f"params must be a dict of tensors (policy.init(seed) makes one), got {type(params).__name__}")
        want = self.param_shapes()
        missing, extra = [k for k in want if k not in params], [k for k in params if k not in want]
        if missing or extra:
            parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
            raise ValueError(f"params do not fit {self!r}: {', '.join(parts)} (it needs {list(want)}; "
                             "policy.init(seed) makes them)")
        wrong_type = {k: type(v).__name__ if not isinstance(v, Tensor) else str(v.dtype)
                      for k, v in params.items() if not isinstance(v, Tensor) or not v.is_floating_point()}
        if wrong_type:
            raise ValueError(f"params must be floating-point tensors, got {wrong_type}")
        wrong_shape = {k: tuple(v.shape) for k, v in params.items()
                       if v.dim() < len(want[k]) or tuple(v.shape[v.dim() - len(want[k]):]) != want[k]}
        if wrong_shape:
            expected = {k: f"(..., {', '.join(map(str, want[k]))})" for k in wrong_shape}
            raise ValueError(f"params have the wrong shapes for {self!r}: got {wrong_shape}, expected {expected}")
        batch = {k: tuple(v.shape[: v.dim() - len(want[k])]) for k, v in params.items()}
        if len(set(batch.values())) > 1:
            raise ValueError(f"params must all have the same leading (batch) dimensions, got {batch}; "
                             "expand_params(params, m) gives every tensor one")
        kinds = {(v.dtype, v.device) for v in params.values()}
        if len(kinds) > 1:
            raise ValueError(f"params must share one dtype and device, got {sorted(map(str, kinds))}")
        if finite and (bad := first_non_finite(params)) is not None:
            raise ValueError(f"params hold NaN or ±inf (first: {bad}), e.g. from a diverged training run: "
                             "use finite parameters (policy.init(seed) makes new ones)")
        return next(iter(batch.values()))

    def _check_obs(self, params: Params, obs: object, name: str = "obs") -> None:
        dtype = params["W1"].dtype
        if not isinstance(obs, Tensor) or obs.dim() < 2 or obs.shape[-1] != 2 or obs.dtype != dtype:
            got = f"{obs.dtype} of shape {tuple(obs.shape)}" if isinstance(obs, Tensor) else type(obs).__name__
            raise ValueError(f"{name} must be a {dtype} tensor (the parameters' dtype) of shape (..., n, 2), got {got}")

    def mean(self, params: Params, obs: Tensor) -> Tensor:
        """μ_θ(s): obs (..., n, 2) → (..., n, 2); parameter batch dimensions broadcast with obs's.
        ``params`` must fit the policy (:meth:`check_params`) and obs must have their dtype."""
        self.check_params(params)
        self._check_obs(params, obs)
        return self._mean(params, obs)

    def _mean(self, params: Params, obs: Tensor) -> Tensor:  # unchecked
        x = obs
        for i in range(1, self.layers() + 1):
            x = x @ params[f"W{i}"] + params[f"b{i}"].unsqueeze(-2)
            if i < self.layers():
                x = torch.relu(x)
        return x

    def log_prob(self, params: Params, obs: Tensor, actions: Tensor) -> Tensor:
        """log π_θ(a | s) for obs, actions (..., n, T, 2) → (..., n, T): the Gaussian density of the
        *unclipped* action (the environment clips, as in rllab)."""
        self.check_params(params)
        self._check_obs(params, obs)
        if obs.dim() < 3 or not isinstance(actions, Tensor) or actions.shape != obs.shape:
            raise ValueError(f"obs and actions must both have shape (..., n, T, 2), got {tuple(obs.shape)} and "
                             f"{tuple(getattr(actions, 'shape', ())) if isinstance(actions, Tensor) else type(actions).__name__}")
        shape = obs.shape[:-1]
        flat_obs = obs.reshape(*obs.shape[:-3], -1, 2)
        mu = self._mean(params, flat_obs).reshape(*shape, 2)
        log_std = params["log_std"]
        log_std = log_std.reshape(*log_std.shape[:-1], *([1] * (len(shape) - log_std.dim() + 1)), 2)
        z = (actions - mu) * torch.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def sample(self, params: Params, obs: Tensor, noise: Tensor) -> Tensor:
        """a = μ_θ(s) + σ_θ ε for given standard-normal ``noise`` ε, same shape as obs."""
        self.check_params(params)
        self._check_obs(params, obs)
        if not isinstance(noise, Tensor) or noise.shape != obs.shape:
            raise ValueError(f"noise must be a tensor of the shape of obs, {tuple(obs.shape)}, "
                             f"got {tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__}")
        return self._sample(params, obs, noise)

    def _sample(self, params: Params, obs: Tensor, noise: Tensor) -> Tensor:  # unchecked
        log_std = params["log_std"]
        log_std = log_std.reshape(*log_std.shape[:-1], *([1] * (obs.dim() - log_std.dim())), 2)
        return self._mean(params, obs) + torch.exp(log_std) * noise


def expand_params(params: Params, m: int) -> Params:
    """The same θ for m tasks: each tensor gets a leading dimension of size m (a view, so gradients
    with respect to the expanded tensors are per task, and flow back to θ)."""
    m = check_int("m (the number of tasks)", m)
    if not isinstance(params, Mapping) or not params or not all(isinstance(v, Tensor) for v in params.values()):
        raise ValueError(f"params must be a non-empty dict of tensors, got {params!r}"[:300])
    return {k: v.unsqueeze(0).expand(m, *v.shape) for k, v in params.items()}


# --- many episodes at once ----------------------------------------------------------------------
@dataclass
class Trajectories:
    """Episodes on m tasks, n per task, T = horizon steps each: ``obs`` and ``actions`` (m, n, T, 2)
    (obs s_t before step t; actions unclipped), ``rewards`` (m, n, T) (0 after the end),
    ``mask`` (m, n, T) (1 for the steps an episode took, 0 after it terminated), ``goals`` (m, 2).
    ``weights`` (m, n), when given, replaces the plain average over episodes by a weighted sum
    (used to compute exact expectations over enumerated episodes in the tests)."""

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    mask: Tensor
    goals: Tensor | None = None
    weights: Tensor | None = None

    @property
    def returns(self) -> Tensor:
        """Undiscounted return Σ_t r_t of each episode, (m, n)."""
        return (self.rewards * self.mask).sum(-1)


def rollout(
    policy: GaussianMLPPolicy,
    params: Params,
    goals: Tensor,
    episodes: int,
    horizon: int = HORIZON,
    seed: int | torch.Generator | None = 0,
    greedy: bool = False,
) -> Trajectories:
    """Run π_θ for ``episodes`` episodes on each of the m goals (m, 2), all at once, without autograd.

    ``params`` is one θ (shared by the tasks) or one θ per task (leading dimension m). The noise
    ε is drawn on the CPU from one generator (``seed``), so a seed gives the same episodes on any
    device. ``greedy``: a = μ_θ(s), no noise (for drawing what a policy does).

    ``params`` must fit ``policy`` (:meth:`GaussianMLPPolicy.check_params`) and be finite; an
    action that comes out NaN or ±inf (θ too large) raises a FloatingPointError.
    """
    if not isinstance(policy, GaussianMLPPolicy):
        raise ValueError(f"policy must be a GaussianMLPPolicy, got {policy!r}")
    g = check_goals(goals)
    episodes, horizon = check_int("episodes", episodes), check_int("horizon", horizon)
    greedy = check_bool("greedy", greedy)
    generator = make_generator(seed)
    batch = policy.check_params(params, finite=True)
    m = g.shape[0]
    if batch not in ((), (m,)):
        raise ValueError(f"params must be one θ (no batch dimension) or one per goal (leading dimension {m}), "
                         f"got batch dimensions {batch}")
    first = next(iter(params.values()))
    device, dtype = first.device, first.dtype
    g = g.to(device=device, dtype=dtype)
    noise = torch.randn(m, episodes, horizon, 2, generator=generator, dtype=torch.float64).to(device=device, dtype=dtype)
    if greedy:
        noise.zero_()
    obs = torch.zeros(m, episodes, horizon, 2, device=device, dtype=dtype)
    actions = torch.zeros_like(obs)
    rewards = torch.zeros(m, episodes, horizon, device=device, dtype=dtype)
    mask = torch.zeros_like(rewards)
    s = torch.zeros(m, episodes, 2, device=device, dtype=dtype)
    alive = torch.ones(m, episodes, device=device, dtype=dtype)
    with torch.no_grad():
        for t in range(horizon):
            a = policy._sample(params, s, noise[:, :, t])
            obs[:, :, t], actions[:, :, t], mask[:, :, t] = s, a, alive
            s = s + alive.unsqueeze(-1) * a.clamp(-MAX_SPEED, MAX_SPEED)
            offset = s - g.unsqueeze(1)
            rewards[:, :, t] = -offset.norm(dim=-1) * alive
            alive = alive * (~(offset.abs() < GOAL_TOLERANCE).all(-1)).to(dtype)
    if not bool(torch.isfinite(actions).all()):
        raise NonFiniteError("rollout: the policy's actions became NaN or ±inf (θ or its log_std too large)",
                             "use smaller parameters")
    return Trajectories(obs=obs, actions=actions, rewards=rewards, mask=mask, goals=g)


def oracle_returns(goals: Tensor, horizon: int = HORIZON) -> Tensor:
    """The return of the policy that knows the goal and moves straight at it at full speed
    (a = clip(g − s, −0.1, 0.1)): an upper reference, (m,)."""
    g = check_goals(goals).double()
    horizon = check_int("horizon", horizon)
    s = torch.zeros_like(g)
    alive = torch.ones(g.shape[0], dtype=torch.float64)
    total = torch.zeros(g.shape[0], dtype=torch.float64)
    for _ in range(horizon):
        s = s + alive.unsqueeze(-1) * (g - s).clamp(-MAX_SPEED, MAX_SPEED)
        offset = s - g
        total -= offset.norm(dim=-1) * alive
        alive = alive * (~(offset.abs() < GOAL_TOLERANCE).all(-1)).double()
    return total


__all__ = [
    "GOAL_HIGH", "GOAL_LOW", "GaussianMLPPolicy", "HORIZON", "MAX_SPEED", "NavigationTasks", "PointNavigationEnv",
    "Trajectories", "check_goals", "expand_params", "oracle_returns", "rollout",
]
