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
from ..utils import check_int, check_number, resolve_device
from .bandits import BanditPolicy, BanditTasks, check_k_n, make_generator
from .checks import (
    NonFiniteError, check_arms, check_bool, check_cpu_seconds, check_finite_loss, check_finite_weights, check_gamma,
    check_lr, check_non_negative, first_non_finite,
)


def sample_categorical(logits: Tensor, u: Tensor) -> Tensor:
    """a ~ softmax(logits) per row by the inverse CDF: the first arm whose cumulative
    probability exceeds u (batch,) ∈ [0, 1). Logits that hold NaN or ±inf are refused."""
    if not isinstance(logits, Tensor) or not isinstance(u, Tensor) or logits.dim() < 1 or u.shape != logits.shape[:-1]:
        raise ValueError("sample_categorical needs logits (batch, k) and u (batch,) tensors, got "
                         f"{getattr(logits, 'shape', logits)!r} and {getattr(u, 'shape', u)!r}")
    if not bool(((u >= 0) & (u < 1)).all()):
        raise ValueError(f"u must hold uniform numbers in [0, 1), got {u[~((u >= 0) & (u < 1))].flatten()[:5].tolist()}")
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteError("the policy's logits are NaN or ±inf (its weights diverged?)",
                             "check the weights with torch.isfinite, or train again with a smaller learning rate")
    return _sample_categorical(logits, u)


def _sample_categorical(logits: Tensor, u: Tensor) -> Tensor:  # unchecked: logits finite
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
        hidden = check_int("hidden (GRU units)", hidden)
        self.hidden, self.greedy = hidden, check_bool("greedy", greedy)
        self.gru = nn.GRUCell(self.k + 2, hidden)
        self.policy_head = nn.Linear(hidden, self.k)
        self.value_head = nn.Linear(hidden, 1)

    def extra_repr(self) -> str:
        return f"k={self.k}, hidden={self.hidden}, greedy={self.greedy}"

    # --- the network ------------------------------------------------------------------------------
    def initial_state(self, batch: int, device: torch.device | str | None = None) -> Tensor:
        """h = 0, (batch, hidden): the state at the start of every trial."""
        batch = check_int("batch", batch)
        return torch.zeros(batch, self.hidden, device=device or self.gru.weight_ih.device)

    def inputs(self, prev_actions: Tensor | None, prev_rewards: Tensor | None, batch: int) -> Tensor:
        """x_t = (one-hot(a_{t−1}), r_{t−1}, first_t), (batch, k + 2); ``None`` means the first pull."""
        batch = check_int("batch", batch)
        if prev_actions is not None:
            prev_actions = check_arms("prev_actions", prev_actions, self.k, (batch,))
            if not isinstance(prev_rewards, Tensor) or prev_rewards.shape != (batch,):
                raise ValueError(f"prev_rewards must be a tensor of shape ({batch},) along with prev_actions, "
                                 f"got {getattr(prev_rewards, 'shape', prev_rewards)!r}")
        return self._inputs(prev_actions, prev_rewards, batch)

    def _inputs(self, prev_actions: Tensor | None, prev_rewards: Tensor | None, batch: int) -> Tensor:  # unchecked
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
        if not isinstance(actions, Tensor) or not isinstance(rewards, Tensor):
            raise ValueError(f"actions and rewards must be tensors, got {type(actions).__name__} and {type(rewards).__name__}")
        if actions.dim() != 2 or rewards.shape != actions.shape or actions.numel() == 0:
            raise ValueError(f"actions and rewards must both have shape (batch, n) with batch, n >= 1, got "
                             f"{tuple(actions.shape)} and {tuple(rewards.shape)}")
        actions = check_arms("actions", actions, self.k)
        if rewards.dtype == torch.bool or rewards.is_complex() or not bool(torch.isfinite(rewards.double()).all()):
            raise ValueError(f"rewards must be finite real numbers, got {rewards.flatten()[:5].tolist()} ({rewards.dtype})")
        batch, n = actions.shape
        h = self.initial_state(batch)
        logits, values = [], []
        for t in range(n):
            x = self._inputs(None, None, batch) if t == 0 else self._inputs(actions[:, t - 1], rewards[:, t - 1], batch)
            lt, vt, h = self.step(x, h)
            logits.append(lt)
            values.append(vt)
        return torch.stack(logits, dim=1), torch.stack(values, dim=1)

    # --- the BanditPolicy interface (run_trials) ------------------------------------------------
    def reset(self, probs: Tensor, n: int) -> None:
        if self.k != probs.shape[1]:
            raise ValueError(f"this RL² policy was built for k = {self.k} arms, but the tasks have {probs.shape[1]}")
        bad = first_non_finite(self.state_dict())
        if bad is not None:
            raise ValueError(f"this RL² policy's weights hold NaN or ±inf (first: {bad}), e.g. from a diverged training "
                             "run: load finite weights or train it again")
        BanditPolicy.reset(self, probs, n)
        self.h = self.initial_state(self.batch)  # a new trial: forget everything
        self.prev_actions: Tensor | None = None
        self.prev_rewards: Tensor | None = None
        self.last_logits: Tensor | None = None

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        x = self._inputs(self.prev_actions, self.prev_rewards, self.batch)
        logits, _, self.h = self.step(x, self.h)
        self.last_logits = logits
        if self.greedy:
            return logits.argmax(dim=-1).to(self.device)
        return _sample_categorical(logits, self.uniform(self.batch, generator=generator)).to(self.device)

    def observe(self, actions: Tensor, rewards: Tensor) -> None:
        self.prev_actions, self.prev_rewards = actions, rewards


def discounted_returns(rewards: Tensor, gamma: float) -> Tensor:
    """G_t = r_t + γ G_{t+1}, G_n = 0, along the last dimension (the trial ends after pull n);
    γ must lie in [0, 1]."""
    gamma = check_gamma(gamma)
    if not isinstance(rewards, Tensor) or rewards.dim() == 0:
        raise ValueError(f"rewards must be a tensor with at least one dimension (the steps), got {rewards!r}")
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
    term (CleanRL's ``norm_adv``), which keeps the policy gradient's scale independent of n; it
    needs at least two advantages (B · n >= 2), since one value has no standard deviation.
    """
    if not all(isinstance(x, Tensor) for x in (logits, values, actions, rewards)):
        raise ValueError("a2c_loss needs tensors: logits (B, n, k) and values, actions, rewards (B, n)")
    if logits.dim() != 3 or values.shape != logits.shape[:2] or actions.shape != values.shape or rewards.shape != values.shape:
        raise ValueError(f"a2c_loss needs logits (B, n, k) and values, actions, rewards (B, n), got {tuple(logits.shape)}, "
                         f"{tuple(values.shape)}, {tuple(actions.shape)} and {tuple(rewards.shape)}")
    value_coef, entropy_coef = check_non_negative("value_coef", value_coef), check_non_negative("entropy_coef", entropy_coef)
    if normalize_advantages and values.numel() < 2:
        raise ValueError("normalize_advantages needs at least 2 advantages per update (batch · n >= 2; one value has "
                         "no standard deviation): use more trials per batch, or normalize_advantages=False")
    actions = check_arms("actions", actions, logits.shape[-1])
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

    Training stops with a FloatingPointError, naming the update, at the first loss or weight that
    is NaN or ±inf. ``normalize_advantages`` needs ``batch · n >= 2``.
    """
    k, n = check_k_n(k, n)
    steps, batch = check_int("steps (A2C updates)", steps), check_int("batch (trials per update)", batch)
    lr, max_grad_norm = check_lr(lr), check_number("max_grad_norm", max_grad_norm)
    gamma = check_gamma(gamma)
    value_coef, entropy_coef = check_non_negative("value_coef", value_coef), check_non_negative("entropy_coef", entropy_coef)
    normalize_advantages = check_bool("normalize_advantages", normalize_advantages)
    if normalize_advantages and batch * n < 2:
        raise ValueError(f"normalize_advantages needs at least 2 advantages per update, but batch · n = {batch * n} "
                         "(one value has no standard deviation): use batch >= 2, or normalize_advantages=False")
    seed = check_int("seed", seed, minimum=0)
    cpu_seconds = check_cpu_seconds(cpu_seconds)
    device = resolve_device(device)
    if policy is None:
        torch.manual_seed(seed)
        policy = RL2Policy(k, hidden)
    elif not isinstance(policy, RL2Policy) or policy.k != k:
        raise ValueError(f"policy must be an RL2Policy for k = {k} arms, got {policy!r}")
    elif (bad := first_non_finite(policy.state_dict())) is not None:
        raise ValueError(f"the policy to continue training holds NaN or ±inf (first: {bad}): start from finite weights")
    policy.to(device).train()
    tasks = BanditTasks(k, n, seed=seed, split="train")
    generator = make_generator(seed)
    optimiser = torch.optim.Adam(policy.parameters(), lr=lr)
    history = History()
    start = time.process_time()
    rows = torch.arange(batch, device=device)
    hint = f"try a smaller learning rate (lr={lr}) or a smaller max_grad_norm (now {max_grad_norm})"
    for step in range(1, steps + 1):
        p = tasks.sample(batch).to(device)
        u = torch.rand(2, batch, n, generator=generator).to(device)  # [0]: outcomes, [1]: action sampling
        h = policy.initial_state(batch, device)
        logits, values, actions, rewards = [], [], [], []
        for t in range(n):
            x = policy._inputs(None, None, batch) if t == 0 else policy._inputs(actions[-1], rewards[-1], batch)
            lt, vt, h = policy.step(x, h)
            a = _sample_categorical(lt.detach(), u[1, :, t])  # finite: the weights are checked after each update
            r = (u[0, :, t] < p[rows, a]).float()
            logits.append(lt)
            values.append(vt)
            actions.append(a)
            rewards.append(r)
        r_all = torch.stack(rewards, dim=1)
        loss, metrics = a2c_loss(torch.stack(logits, 1), torch.stack(values, 1), torch.stack(actions, 1), r_all,
                                 gamma, value_coef, entropy_coef, normalize_advantages)
        check_finite_loss("the RL² training loss", loss, hint, step)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
        optimiser.step()
        check_finite_weights("the RL² policy's weights", policy.state_dict(), hint, step)
        used = time.process_time() - start
        history.log(history.train, {"reward": float(r_all.sum(1).mean()), "loss": loss.item(), **metrics,
                                    "cpu_seconds": used})
        if cpu_seconds is not None and used >= cpu_seconds:
            break
    return policy.eval(), history


__all__ = ["RL2Policy", "a2c_loss", "discounted_returns", "sample_categorical", "train_rl2"]
