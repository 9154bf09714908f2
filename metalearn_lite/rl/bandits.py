"""Bernoulli multi-armed bandit tasks, the meta-RL benchmark of Duan et al. (2016), "RL²: Fast
Reinforcement Learning via Slow Reinforcement Learning", arXiv:1611.02779, §3.1.

A **task** is a k-armed bandit with success probabilities p = (p_1, …, p_k), drawn once per
task i.i.d. from Uniform[0, 1]. A **trial** is n pulls of the same task: at pull t the agent
picks an arm a_t and receives the reward r_t ~ Bernoulli(p_{a_t}) ∈ {0, 1}. The agent does not
see p; a good agent explores early in the trial and exploits later. The score of a trial is its
total reward Σ_t r_t (at most n; the oracle that always pulls argmax_j p_j expects n · max_j p_j).

Two implementations of the same tasks:

* :class:`BernoulliBanditEnv` — a :class:`gymnasium.Env`, one trial at a time, for reading and
  for any Gymnasium-speaking agent;
* :class:`BanditTasks` and :func:`run_trials` — a torch version that runs a whole batch of
  trials at once (one tensor operation per pull), which is what training and evaluation use.

**Meta-train and meta-test tasks** come from disjoint streams: ``BanditTasks(k, n, seed,
split="train")`` and ``split="test"`` seed their generators from NumPy's
``SeedSequence(seed, spawn_key=(0,))`` and ``spawn_key=(1,)``, independent streams by
construction, so no held-out task is ever a training task (the probabilities are continuous:
a shared row has probability 0, and ``tests/test_rl_bandits.py`` checks that none occurs).

**Randomness in** :func:`run_trials` is drawn on the CPU from one ``torch.Generator`` and then
moved to the device, so a seed gives the same trials on any device. The outcome of pull t in
trial b is decided by a uniform number u_{b,t} drawn before the trial starts:
r_t = 1 if u_{b,t} < p_{a_t} else 0 (``noise=`` passes these numbers in, so several policies can
be compared on the very same outcomes: common random numbers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from ..training import EvalResult
from ..utils import check_int, check_seed, mean_ci95, spawned_seed
from .checks import check_arms

SPLITS = {"train": 0, "test": 1}


# --- checks -------------------------------------------------------------------------------------
def check_k_n(k: object, n: object) -> tuple[int, int]:
    """k (arms) must be an integer >= 2, n (pulls per trial) an integer >= 1."""
    return check_int("k (the number of arms)", k, minimum=2), check_int("n (the number of pulls in a trial)", n)


def check_probs(probs: object, k: int | None = None, batched: bool = True) -> Tensor:
    """``probs`` as a float tensor of success probabilities in [0, 1]: shape (batch, k) when
    ``batched``, else (k,); ``k`` (when given) must match its last dimension."""
    try:
        p = torch.as_tensor(probs)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"probs must be numbers (a tensor or array of success probabilities), got {probs!r}") from error
    if not (p.is_floating_point() or p.dtype in (torch.int64, torch.int32, torch.bool)):
        raise ValueError(f"probs must be real numbers, got dtype {p.dtype}")
    p = p.to(torch.get_default_dtype()) if not p.is_floating_point() else p
    want = "(batch, k)" if batched else "(k,)"
    if p.dim() != (2 if batched else 1):
        raise ValueError(f"probs must have shape {want}, got shape {tuple(p.shape)}")
    if p.shape[-1] < 2:
        raise ValueError(f"a bandit needs at least 2 arms, but probs has {p.shape[-1]} (shape {tuple(p.shape)})")
    if batched and p.shape[0] < 1:
        raise ValueError("probs holds no trials (batch size 0)")
    if k is not None and p.shape[-1] != k:
        raise ValueError(f"probs has {p.shape[-1]} arms (shape {tuple(p.shape)}) but k = {k}")
    if torch.isnan(p).any() or (p < 0).any() or (p > 1).any():
        bad = p[torch.isnan(p) | (p < 0) | (p > 1)]
        raise ValueError(f"success probabilities must lie in [0, 1], got {bad.flatten()[:5].tolist()}")
    return p


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A CPU ``torch.Generator``: the one given, or a new one seeded with ``seed`` (None: 0)."""
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ValueError(f"pass a CPU torch.Generator (randomness is drawn on the CPU), got one on {seed.device}")
        return seed
    try:
        seed = check_seed("seed", seed)
    except ValueError:
        raise ValueError(f"seed must be an integer >= 0, a CPU torch.Generator or None, got {seed!r}") from None
    return torch.Generator().manual_seed(0 if seed is None else seed)


def split_generator(seed: object, split: str) -> torch.Generator:
    """The CPU generator of the ``split`` ("train" or "test") task stream of ``seed``: seeded from
    ``SeedSequence(seed, spawn_key=(0,))`` or ``(1,)``, so the two streams are independent."""
    seed = check_int("seed", seed, minimum=0)
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return torch.Generator().manual_seed(spawned_seed(seed, SPLITS[split]) >> 1)  # a 63-bit seed


# --- one trial at a time: the Gymnasium environment ---------------------------------------------
class BernoulliBanditEnv(gym.Env):
    """A k-armed Bernoulli bandit, one trial of n pulls per episode (Duan et al. 2016, §3.1).

    * ``reset(seed=None, options=None)`` starts a trial on a new task: probabilities p drawn
      i.i.d. Uniform[0, 1] from the environment's generator (``seed`` re-seeds it, as usual in
      Gymnasium), or the given ones with ``options={"probs": [p_1, …, p_k]}``.
    * ``step(a)`` pulls arm a: reward 1 with probability p_a, else 0. The trial is never
      ``terminated``; it is ``truncated`` after the n-th pull (call ``reset`` then).
    * **Observation** (``Box(0, 1, (k + 2,), float32)``): what RL² feeds its recurrent policy,
      ``(one-hot of the previous action, previous reward, first-step flag)``. After ``reset`` it is
      ``(0, …, 0, 0, 1)``; after a pull of arm a with reward r, ``(e_a, r, 0)``. A bandit has no
      state, so this is all an agent can observe.
    * ``info``: ``"probs"`` (p, for analysis only — an agent must not read it), ``"pulls"`` (pulls
      made so far) and, after a step, ``"expected_reward"`` p_a and ``"regret"`` max_j p_j − p_a.
    """

    metadata = {"render_modes": []}

    def __init__(self, k: int = 5, n: int = 10) -> None:
        self.k, self.n = check_k_n(k, n)
        self.action_space = spaces.Discrete(self.k)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.k + 2,), dtype=np.float32)
        self.probs = np.full(self.k, 0.5)
        self.pulls = self.n  # no trial running until reset()

    def _observation(self, action: int | None, reward: float) -> np.ndarray:
        obs = np.zeros(self.k + 2, dtype=np.float32)
        if action is None:
            obs[-1] = 1.0
        else:
            obs[action] = 1.0
            obs[self.k] = reward
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start a trial: a new task drawn from the environment's generator, or ``options["probs"]``.

        Returns the first observation and an info dict."""
        super().reset(seed=check_seed("seed", seed))  # Gymnasium takes only Python ints
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ValueError(f"options must be a dict such as {{'probs': [...]}} or None, got {options!r}")
        unknown = set(options) - {"probs"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the only option is 'probs'")
        if options.get("probs") is not None:
            self.probs = check_probs(options["probs"], self.k, batched=False).double().numpy().copy()
        else:
            self.probs = self.np_random.uniform(0.0, 1.0, size=self.k)
        self.pulls = 0
        return self._observation(None, 0.0), {"probs": self.probs.copy(), "pulls": 0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Pull arm ``action``: (observation, reward 0 or 1, terminated, truncated after n pulls, info)."""
        if self.pulls >= self.n:
            raise RuntimeError(f"the trial is over (all {self.n} pulls made, or reset() never called); call reset()")
        if isinstance(action, (bool, np.bool_)) or not self.action_space.contains(action):
            raise ValueError(f"action must be an arm index in 0 … {self.k - 1}, got {action!r}")
        a = int(action)
        reward = float(self.np_random.random() < self.probs[a])
        self.pulls += 1
        info = {
            "probs": self.probs.copy(), "pulls": self.pulls,
            "expected_reward": float(self.probs[a]), "regret": float(self.probs.max() - self.probs[a]),
        }
        return self._observation(a, reward), reward, False, self.pulls >= self.n, info


# --- many trials at once: torch tensors ---------------------------------------------------------
class BanditTasks:
    """A seeded stream of k-armed Bernoulli bandit tasks with n pulls per trial.

    ``sample(batch)`` gives a (batch, k) tensor of success probabilities, i.i.d. Uniform[0, 1].
    ``split="train"`` and ``split="test"`` (meta-train and meta-test tasks) are disjoint streams
    for the same ``seed``: their generators are seeded from ``SeedSequence(seed, spawn_key=(0,))``
    and ``(1,)`` respectively. The same (k, n, seed, split) always gives the same tasks.

    Example::

        train, test = BanditTasks(5, 10, seed=0), BanditTasks(5, 10, seed=0, split="test")
        probs = test.sample(1000)                     # (1000, 5)
        trials = run_trials(UCB1(), probs, n=test.n, seed=1)
        trials.total_reward.mean()                    # about 5.6 for UCB1 with n = 10
    """

    def __init__(self, k: int, n: int, seed: int = 0, split: str = "train") -> None:
        self.k, self.n = check_k_n(k, n)
        self.generator = split_generator(seed, split)
        self.seed, self.split = check_int("seed", seed, minimum=0), split

    def __repr__(self) -> str:
        return f"BanditTasks(k={self.k}, n={self.n}, seed={self.seed}, split={self.split!r})"

    def sample(self, batch: int, device: torch.device | str | None = None) -> Tensor:
        """(batch, k) success probabilities, i.i.d. Uniform[0, 1], on ``device`` (default CPU)."""
        batch = check_int("batch (the number of tasks)", batch)
        return torch.rand(batch, self.k, generator=self.generator).to(device or "cpu")


@dataclass
class Trials:
    """What :func:`run_trials` did: ``actions`` and ``rewards`` (batch, n), ``probs`` (batch, k)."""

    probs: Tensor
    actions: Tensor
    rewards: Tensor

    @property
    def total_reward(self) -> Tensor:
        """Σ_t r_t per trial, shape (batch,)."""
        return self.rewards.sum(dim=1)

    @property
    def expected_rewards(self) -> Tensor:
        """p_{a_t} per pull, (batch, n): the expected reward of each chosen arm."""
        return self.probs.gather(1, self.actions)

    @property
    def regret(self) -> Tensor:
        """Expected regret per trial against the oracle, n · max_j p_j − Σ_t p_{a_t}, shape (batch,)."""
        return expected_regret(self.probs, self.actions)


def expected_regret(probs: Tensor, actions: Tensor) -> Tensor:
    """n · max_j p_j − Σ_t p_{a_t} for each trial (batch,): what the chosen arms lose in expectation
    to always pulling the best arm (the "pseudo-regret"; the reward noise is averaged out)."""
    p = check_probs(probs)
    if not isinstance(actions, Tensor) or actions.dim() != 2 or actions.shape[0] != p.shape[0]:
        shape = tuple(actions.shape) if isinstance(actions, Tensor) else type(actions).__name__
        raise ValueError(f"actions must have shape (batch, n) = ({p.shape[0]}, n), got {shape}")
    actions = check_arms("actions", actions, p.shape[1]).to(p.device)
    n = actions.shape[1]
    return n * p.max(dim=1).values - p.gather(1, actions).sum(dim=1)


def run_trials(
    policy: "BanditPolicy",
    probs: Tensor,
    n: int,
    seed: int | torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Trials:
    """Run ``policy`` on a batch of trials at once, n pulls each; returns the :class:`Trials`.

    ``probs`` (batch, k) are the tasks (one trial per row). Before the first pull the outcome
    numbers u (batch, n) ~ Uniform[0, 1) are drawn from the generator (or taken from ``noise``);
    then, for t = 0 … n − 1: ``a = policy.act(t, generator)``, ``r = (u[:, t] < p[b, a])``,
    ``policy.observe(a, r)``. ``policy.reset(probs, n)`` is called first: the policy's memory
    starts empty for every trial (only :class:`~metalearn_lite.rl.baselines.Oracle` reads probs).
    Runs without autograd; RL² training has its own loop (:func:`metalearn_lite.rl.rl2.train_rl2`).

    Refused with a ValueError: ``noise`` outside [0, 1) (or NaN), and a policy whose ``act`` does
    not return an integer tensor (batch,) of arms in 0 … k − 1 (the message names the policy and
    the pull).
    """
    name = check_policy(policy)
    p = check_probs(probs)
    _, n = check_k_n(p.shape[1], n)
    generator = make_generator(seed)
    if noise is None:
        u = torch.rand(p.shape[0], n, generator=generator)
    else:
        u = check_noise(noise, (p.shape[0], n))
    u = u.to(device=p.device, dtype=p.dtype)
    rows = torch.arange(p.shape[0], device=p.device)
    actions = torch.empty(p.shape[0], n, dtype=torch.long, device=p.device)
    rewards = torch.empty(p.shape[0], n, dtype=p.dtype, device=p.device)
    with torch.no_grad():
        policy.reset(p, n)
        for t in range(n):
            a = check_arms(f"{name}.act (at pull {t})", policy.act(t, generator), p.shape[1], (p.shape[0],)).to(p.device)
            r = (u[:, t] < p[rows, a]).to(p.dtype)
            policy.observe(a, r)
            actions[:, t], rewards[:, t] = a, r
    return Trials(probs=p, actions=actions, rewards=rewards)


def evaluate(
    policy: "BanditPolicy",
    tasks: "BanditTasks | Tensor",
    n: int | None = None,
    trials: int = 1000,
    seed: int | torch.Generator | None = 0,
) -> EvalResult:
    """Mean total reward per trial, with its 95% CI (:func:`metalearn_lite.mean_ci95`).

    ``tasks`` is either a (batch, k) tensor of probabilities (one trial each; ``n`` required) —
    pass the same tensor and seed to compare policies on the same held-out tasks and outcomes —
    or a :class:`BanditTasks` stream (usually ``split="test"``), from which ``trials`` new tasks
    are drawn (the stream advances) and whose n is used. ``seed`` seeds :func:`run_trials`.
    ``n`` and ``trials`` must be integers >= 1.
    """
    check_policy(policy)
    trials = check_int("trials (the number of tasks to draw)", trials)
    if n is not None:
        n = check_int("n (the number of pulls in a trial)", n)
    if isinstance(tasks, BanditTasks):
        if n is not None and n != tasks.n:
            raise ValueError(f"n = {n} but the tasks have n = {tasks.n} pulls per trial; leave n out")
        probs, n = tasks.sample(trials), tasks.n
    else:
        if n is None:
            raise ValueError("pass n (pulls per trial) along with a tensor of task probabilities")
        probs = tasks
    was_training = getattr(policy, "training", None)
    if was_training:
        policy.eval()  # type: ignore[attr-defined]
    try:
        totals = run_trials(policy, probs, n, seed=seed).total_reward
    finally:
        if was_training:
            policy.train()  # type: ignore[attr-defined]
    mean, ci95 = mean_ci95(totals.cpu())
    return EvalResult(metric="total reward", mean=mean, ci95=ci95, scores=totals.cpu().tolist())


def check_policy(policy: object) -> str:
    """``policy`` must be a bandit policy object (with ``reset``, ``act`` and ``observe``); returns its class name."""
    if isinstance(policy, type):
        raise ValueError(f"pass a policy object, e.g. {policy.__name__}(), not the class {policy.__name__}")
    missing = [m for m in ("reset", "act", "observe") if not callable(getattr(policy, m, None))]
    if missing:
        raise ValueError(f"policy must be a BanditPolicy (with reset, act and observe), got {policy!r} "
                         f"(no {', '.join(missing)})")
    return type(policy).__name__


def check_noise(noise: object, shape: tuple[int, int]) -> Tensor:
    """``noise`` as a real tensor of ``shape`` (batch, n) with values in [0, 1) (the outcome numbers u)."""
    try:
        u = torch.as_tensor(noise)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"noise must be a (batch, n) tensor of numbers in [0, 1), got {noise!r}") from error
    if tuple(u.shape) != shape:
        raise ValueError(f"noise must have shape (batch, n) = {shape}, got {tuple(u.shape)}")
    if u.dtype == torch.bool or u.is_complex():
        raise ValueError(f"noise must hold real numbers in [0, 1), got dtype {u.dtype}")
    bad = torch.isnan(u) | (u < 0) | (u >= 1)
    if bool(bad.any()):
        raise ValueError(f"noise must hold uniform numbers in [0, 1) (pull t pays 1 if u < p), "
                         f"got {u[bad].flatten()[:5].tolist()}")
    return u


class BanditPolicy:
    """The interface :func:`run_trials` drives, vectorised over a batch of trials.

    * ``reset(probs, n)`` — a new batch of trials begins: forget everything. ``probs`` gives the
      batch size, k, device and dtype; an honest policy must not read its values.
    * ``act(t, generator)`` — the arms to pull at pull t (0-based), a long tensor (batch,); any
      randomness is drawn from ``generator`` (a CPU ``torch.Generator``) and moved to the device.
    * ``observe(actions, rewards)`` — the rewards (batch,) that those arms paid.
    """

    def reset(self, probs: Tensor, n: int) -> None:
        self.batch, self.k = probs.shape
        self.n, self.device, self.dtype = n, probs.device, probs.dtype

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def observe(self, actions: Tensor, rewards: Tensor) -> None:
        pass

    def uniform(self, *shape: int, generator: torch.Generator) -> Tensor:
        """Uniform[0, 1) numbers drawn on the CPU from ``generator``, moved to the policy's device."""
        return torch.rand(*shape, generator=generator, dtype=torch.float64).to(device=self.device)


__all__ = [
    "BanditPolicy", "BanditTasks", "BernoulliBanditEnv", "Trials", "check_k_n", "check_noise", "check_policy", "check_probs",
    "evaluate", "expected_regret",
    "make_generator", "run_trials", "split_generator",
]
