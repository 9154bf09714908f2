"""RL² — "Fast Reinforcement Learning via Slow Reinforcement Learning" (Duan, Schulman, Chen,
Bartlett, Sutskever & Abbeel 2016, arXiv:1611.02779), on Bernoulli bandits.

The *fast* learner is a recurrent policy: a GRU whose hidden state h is carried across all n
pulls of a trial and reset to 0 between trials, so whatever the agent learns about the current
task lives in h. At pull t its input is

    x_t = (one-hot(a_{t−1}), r_{t−1}, first_t),    x_0 = (0, …, 0, 0, 1),

and h_t = GRU(x_t, h_{t−1}), π(·|h_t) = softmax(W_π h_t + b_π), V(h_t) = w_V · h_t + b_V. The
*slow* learner trains the GRU's weights by ordinary RL over many tasks, maximising the expected
total reward of a trial; the trial, not the pull, is the episode.

Here the slow learner is advantage actor-critic (A2C), on batches of B complete trials sampled
from the meta-train stream, with discounted returns G_t = Σ_{t' ≥ t} γ^{t'−t} r_{t'} (the trial
ends after pull n; nothing is bootstrapped) and advantages A_t = G_t − V(h_t)::

    L = −(1/Bn) Σ log π(a_t|h_t) · A_t  +  c_V (1/Bn) Σ (G_t − V(h_t))²  −  c_H (1/Bn) Σ H[π(·|h_t)]

(A_t is a constant in the first term; by default it is normalised to mean 0 and standard
deviation 1 over the batch), minimised by Adam with the gradient norm clipped.

Defaults (``train_rl2``): γ = 0.9, c_V = 0.02, c_H = 0.01, Adam 1e-2, 128 trials per update.
They were chosen by short runs on k = 5 (n = 10 and n = 100), not by the paper: with γ = 0.99
and c_V = 0.5, the value loss (returns up to ~n) dominated the gradient of the shared GRU and
n = 100 did not learn at all in a minute (with or without clipping); γ = 0.9 with normalised
advantages and a small c_V learned both.
The discount only shapes the training signal; evaluation counts the undiscounted total reward.
Simplifications against the paper: A2C instead of TRPO with GAE, a smaller GRU (64 units
instead of 256), a constant entropy bonus, and no input embedding layer.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..training import History
from ..utils import is_integer, resolve_device
from .bandits import BanditPolicy, BanditTasks, check_k_n, make_generator


def sample_categorical(logits: Tensor, u: Tensor) -> Tensor:
    """a ~ softmax(logits) per row by the inverse CDF: the first arm whose cumulative
    probability exceeds u (batch,) ∈ [0, 1)."""
    cdf = torch.softmax(logits.double(), dim=-1).cumsum(dim=-1)
    return (cdf <= u.double().unsqueeze(-1)).sum(dim=-1).clamp(max=logits.shape[-1] - 1)


class RL2Policy(nn.Module, BanditPolicy):
    """The RL² agent: GRU cell (input k + 2, ``hidden`` units) with a policy head (k logits) and a
    value head (one number). It is also a :class:`~metalearn_lite.rl.bandits.BanditPolicy`:
    :func:`~metalearn_lite.rl.bandits.run_trials` resets h to 0 at the start of every trial and
    carries it across the pulls; actions are sampled from π (``greedy=True``: argmax π).

    ``unroll(actions, rewards)`` recomputes, for given trials (teacher forcing), the logits and
    values at every pull — what training and the tests use.
    """

    def __init__(self, k: int, hidden: int = 64, greedy: bool = False) -> None:
        nn.Module.__init__(self)
        self.k, _ = check_k_n(k, 1)
        if not is_integer(hidden) or hidden < 1:
            raise ValueError(f"hidden (GRU units) must be an integer >= 1, got {hidden!r}")
        hidden = int(hidden)
        self.hidden, self.greedy = hidden, bool(greedy)
        self.gru = nn.GRUCell(self.k + 2, hidden)
        self.policy_head = nn.Linear(hidden, self.k)
        self.value_head = nn.Linear(hidden, 1)

    def extra_repr(self) -> str:
        return f"k={self.k}, hidden={self.hidden}, greedy={self.greedy}"

    # --- the network ------------------------------------------------------------------------------
    def initial_state(self, batch: int, device: torch.device | str | None = None) -> Tensor:
        """h = 0, (batch, hidden): the state at the start of every trial."""
        return torch.zeros(batch, self.hidden, device=device or self.gru.weight_ih.device)

    def inputs(self, prev_actions: Tensor | None, prev_rewards: Tensor | None, batch: int) -> Tensor:
        """x_t = (one-hot(a_{t−1}), r_{t−1}, first_t), (batch, k + 2); ``None`` means the first pull."""
        device = self.gru.weight_ih.device
        x = torch.zeros(batch, self.k + 2, device=device)
        if prev_actions is None:
            x[:, -1] = 1.0
        else:
            x[:, : self.k] = F.one_hot(prev_actions.to(device), self.k).float()
            x[:, self.k] = prev_rewards.to(device=device, dtype=x.dtype)
        return x

    def step(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One pull: h_t = GRU(x_t, h_{t−1}); returns (logits (batch, k), V (batch,), h_t)."""
        h = self.gru(x, h)
        return self.policy_head(h), self.value_head(h).squeeze(-1), h

    def unroll(self, actions: Tensor, rewards: Tensor) -> tuple[Tensor, Tensor]:
        """Logits (batch, n, k) and values (batch, n) at every pull of the given trials (batch, n),
        h starting from 0: pull t sees only a_0 … a_{t−1} and r_0 … r_{t−1}."""
        if actions.dim() != 2 or rewards.shape != actions.shape:
            raise ValueError(f"actions and rewards must both have shape (batch, n), got {tuple(actions.shape)} "
                             f"and {tuple(rewards.shape)}")
        batch, n = actions.shape
        h = self.initial_state(batch)
        logits, values = [], []
        for t in range(n):
            x = self.inputs(None, None, batch) if t == 0 else self.inputs(actions[:, t - 1], rewards[:, t - 1], batch)
            lt, vt, h = self.step(x, h)
            logits.append(lt)
            values.append(vt)
        return torch.stack(logits, dim=1), torch.stack(values, dim=1)

    # --- the BanditPolicy interface (run_trials) ------------------------------------------------
    def reset(self, probs: Tensor, n: int) -> None:
        if self.k != probs.shape[1]:
            raise ValueError(f"this RL² policy was built for k = {self.k} arms, but the tasks have {probs.shape[1]}")
        BanditPolicy.reset(self, probs, n)
        self.h = self.initial_state(self.batch)  # a new trial: forget everything
        self.prev_actions: Tensor | None = None
        self.prev_rewards: Tensor | None = None
        self.last_logits: Tensor | None = None

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        x = self.inputs(self.prev_actions, self.prev_rewards, self.batch)
        logits, _, self.h = self.step(x, self.h)
        self.last_logits = logits
        if self.greedy:
            return logits.argmax(dim=-1).to(self.device)
        return sample_categorical(logits, self.uniform(self.batch, generator=generator)).to(self.device)

    def observe(self, actions: Tensor, rewards: Tensor) -> None:
        self.prev_actions, self.prev_rewards = actions, rewards


def discounted_returns(rewards: Tensor, gamma: float) -> Tensor:
    """G_t = r_t + γ G_{t+1}, G_n = 0, along the last dimension (the trial ends after pull n)."""
    returns = torch.zeros_like(rewards)
    g = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        g = rewards[..., t] + gamma * g
        returns[..., t] = g
    return returns


def a2c_loss(
    logits: Tensor, values: Tensor, actions: Tensor, rewards: Tensor,
    gamma: float, value_coef: float, entropy_coef: float, normalize_advantages: bool = False,
) -> tuple[Tensor, dict[str, float]]:
    """The A2C loss of the module docstring for a batch of trials (logits (B, n, k), the rest (B, n)).

    ``normalize_advantages``: A_t ← (A_t − mean A) / (std A + 1e-8) over the batch before the policy
    term (CleanRL's ``norm_adv``), which keeps the policy gradient's scale independent of n.
    """
    returns = discounted_returns(rewards, gamma)
    advantages = (returns - values).detach()
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_pi = torch.log_softmax(logits, dim=-1)
    log_prob = log_pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    entropy = -(log_pi.exp() * log_pi).sum(dim=-1)
    policy_loss = -(log_prob * advantages).mean()
    value_loss = (returns - values).pow(2).mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy.mean()
    metrics = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy.mean().item()}
    return loss, metrics


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def train_rl2(
    k: int,
    n: int,
    steps: int,
    batch: int = 128,
    hidden: int = 64,
    lr: float = 1e-2,
    gamma: float = 0.9,
    value_coef: float = 0.02,
    entropy_coef: float = 0.01,
    max_grad_norm: float = 1.0,
    normalize_advantages: bool = True,
    seed: int = 0,
    cpu_seconds: float | None = None,
    device: torch.device | str | None = None,
    policy: RL2Policy | None = None,
) -> tuple[RL2Policy, History]:
    """Meta-train an :class:`RL2Policy` by A2C on k-armed bandits with n pulls per trial.

    Each of ``steps`` updates: ``batch`` tasks from ``BanditTasks(k, n, seed, split="train")``,
    one trial of n pulls on each (actions sampled from π, rewards r = [u < p_a] with u drawn on
    the CPU from a generator seeded with ``seed``), then one Adam step (``lr``) on the A2C loss
    (``gamma``, ``value_coef``, ``entropy_coef``; advantages normalised over the batch when
    ``normalize_advantages``), gradient norm clipped to ``max_grad_norm``.
    ``cpu_seconds`` stops earlier, once the process has used that much CPU time
    (``time.process_time``) in training. The network is initialised from ``torch.manual_seed(seed)``
    (or pass ``policy`` to continue training one). Returns the policy (in ``eval()`` mode) and a
    :class:`~metalearn_lite.History` whose ``train`` table has, per update, ``reward`` (mean total
    reward of the batch's trials), ``loss``, ``policy_loss``, ``value_loss``, ``entropy``, and
    ``cpu_seconds`` (cumulative).
    """
    k, n = check_k_n(k, n)
    if not is_integer(steps) or steps < 1:
        raise ValueError(f"steps (A2C updates) must be an integer >= 1, got {steps!r}")
    if not is_integer(batch) or batch < 1:
        raise ValueError(f"batch (trials per update) must be an integer >= 1, got {batch!r}")
    steps, batch = int(steps), int(batch)
    lr, max_grad_norm = _positive("lr", lr), _positive("max_grad_norm", max_grad_norm)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
        raise ValueError(f"gamma (the discount) must be in [0, 1], got {gamma!r}")
    for name, value in {"value_coef": value_coef, "entropy_coef": entropy_coef}.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if cpu_seconds is not None:
        cpu_seconds = _positive("cpu_seconds", cpu_seconds)
    device = resolve_device(device)
    if policy is None:
        torch.manual_seed(seed)
        policy = RL2Policy(k, hidden)
    elif not isinstance(policy, RL2Policy) or policy.k != k:
        raise ValueError(f"policy must be an RL2Policy for k = {k} arms, got {policy!r}")
    policy.to(device).train()
    tasks = BanditTasks(k, n, seed=seed, split="train")
    generator = make_generator(seed)
    optimiser = torch.optim.Adam(policy.parameters(), lr=lr)
    history = History()
    start = time.process_time()
    rows = torch.arange(batch, device=device)
    for _ in range(steps):
        p = tasks.sample(batch).to(device)
        u = torch.rand(2, batch, n, generator=generator).to(device)  # [0]: outcomes, [1]: action sampling
        h = policy.initial_state(batch, device)
        logits, values, actions, rewards = [], [], [], []
        for t in range(n):
            x = policy.inputs(None, None, batch) if t == 0 else policy.inputs(actions[-1], rewards[-1], batch)
            lt, vt, h = policy.step(x, h)
            a = sample_categorical(lt.detach(), u[1, :, t])
            r = (u[0, :, t] < p[rows, a]).float()
            logits.append(lt)
            values.append(vt)
            actions.append(a)
            rewards.append(r)
        r_all = torch.stack(rewards, dim=1)
        loss, metrics = a2c_loss(torch.stack(logits, 1), torch.stack(values, 1), torch.stack(actions, 1), r_all,
                                 gamma, value_coef, entropy_coef, normalize_advantages)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
        optimiser.step()
        used = time.process_time() - start
        history.log(history.train, {"reward": float(r_all.sum(1).mean()), "loss": loss.item(), **metrics,
                                    "cpu_seconds": used})
        if cpu_seconds is not None and used >= cpu_seconds:
            break
    return policy.eval(), history


__all__ = ["RL2Policy", "a2c_loss", "discounted_returns", "sample_categorical", "train_rl2"]
