"""Exercises of chapter 6 (meta-reinforcement learning): a checker with hidden cases, its reference
solution, and multiple-choice questions.

* :func:`check_discounted_returns` — the discounted return-to-go G_t = Σ_{t' ≥ t} γ^{t'−t} r_{t'}
  of every step, the quantity every policy gradient in the chapter weights its log-probabilities by.
* :data:`RL2_QUESTION` — where RL² learns during a trial.
* :data:`DICE_QUESTION` — why the exact MAML meta-gradient needs DiCE's correction.
* :data:`ES_QUESTION` — what an evolution-strategies outer loop does and does not need.

The reference solution is here so that the tests can check that the checker accepts it and
agrees with :func:`metalearn_lite.rl.maml_rl.discounted_returns`; the notebook shows it only in a
collapsed "Solution" block.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from . import Case, CheckResult, MultipleChoice, check

__all__ = [
    "DICE_QUESTION", "ES_QUESTION", "RL2_QUESTION", "check_discounted_returns", "discounted_returns_reference",
]


# -- Exercise 6.1: discounted returns-to-go --------------------------------------------------------
def discounted_returns_reference(rewards: Tensor, gamma: float) -> Tensor:
    """G_t = r_t + γ G_{t+1} with G_T = 0, along the last dimension of ``rewards`` (…, T)."""
    returns = torch.zeros_like(rewards)
    g = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        g = rewards[..., t] + gamma * g
        returns[..., t] = g
    return returns


def _from_the_start(rewards: Tensor, gamma: float) -> Tensor:
    """Slip: discounting from step 0 (γ^{t'}) instead of from step t (γ^{t'−t})."""
    t = torch.arange(rewards.shape[-1], dtype=rewards.dtype)
    weighted = rewards * gamma**t
    return weighted.flip(-1).cumsum(-1).flip(-1)


def _forwards(rewards: Tensor, gamma: float) -> Tensor:
    """Slip: accumulating forwards, G_t = r_t + γ G_{t−1} (the past, not the future)."""
    returns = torch.zeros_like(rewards)
    g = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1]):
        g = rewards[..., t] + gamma * g
        returns[..., t] = g
    return returns


def _undiscounted(rewards: Tensor, gamma: float) -> Tensor:
    """Slip: forgetting γ."""
    return rewards.flip(-1).cumsum(-1).flip(-1)


def _excluding_now(rewards: Tensor, gamma: float) -> Tensor:
    """Slip: G_t = γ G_{t+1} + … without r_t, i.e. the return from step t + 1."""
    full = discounted_returns_reference(rewards, gamma)
    return torch.cat([full[..., 1:], torch.zeros_like(full[..., :1])], dim=-1)


SLIPS = [
    (_from_the_start, "each reward is discounted from the first step (γ^t'); the return *from* step t discounts "
                      "by γ^(t'−t), so G_t starts with r_t at full weight. Hint: G_t = r_t + γ·G_(t+1)."),
    (_forwards, "this adds up the past (r_0 … r_t); the return-to-go adds up the future (r_t … r_T−1): run the "
                "loop from the last step back to the first."),
    (_undiscounted, "γ is missing: with γ = 0.5 the reward one step later counts half."),
    (_excluding_now, "G_t must include the reward r_t of step t itself."),
]


def _cases() -> list[Case]:
    g = torch.Generator().manual_seed(6)
    return [
        Case((torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64), 0.5), "rewards (1, 1, 1), γ = 0.5",
             "G_2 = 1, G_1 = 1 + 0.5·1, G_0 = 1 + 0.5·1.5"),
        Case((torch.tensor([0.0, 0.0, 0.0, 2.0], dtype=torch.float64), 0.9), "one reward at the end, γ = 0.9",
             "a reward k steps ahead counts γ^k"),
        Case((torch.randn(3, 6, generator=g, dtype=torch.float64), 0.99), "a batch of 3 episodes of 6 steps, γ = 0.99",
             "work along the last dimension (time); keep the batch dimension"),
        Case((torch.tensor([-1.0, 2.0, -3.0], dtype=torch.float64), 0.0), "γ = 0: no future counts",
             "with γ = 0, G_t = r_t"),
        Case((torch.tensor([[0.5, -0.2, 1.0, 0.3]], dtype=torch.float64), 1.0), "γ = 1: the undiscounted sum to go",
             "with γ = 1, G_t = r_t + … + r_(T−1)"),
    ]


def check_discounted_returns(discounted_returns: Callable) -> CheckResult:
    """Check ``discounted_returns(rewards (…, T), gamma) -> (…, T)`` tensor of returns-to-go."""
    return check("discounted_returns", discounted_returns, discounted_returns_reference, _cases(), atol=1e-9,
                 slips=SLIPS)


# -- multiple choice -----------------------------------------------------------------------------
RL2_QUESTION = MultipleChoice(
    "An RL² agent meets a new bandit and gets better within the trial. Where does that learning happen?",
    [
        "In the GRU's weights, which take a gradient step after every pull.",
        "In the hidden state, which the GRU's forward pass updates with each reward.",
        "In the value head, whose estimate of the return is refitted during the trial.",
        "In Adam's moment estimates, which keep track of the arms' rewards.",
    ],
    answer=1,
    explanation=(
        "During a trial no weight changes: the fixed GRU reads (previous action, reward) and rewrites its "
        "hidden state, which is all the agent knows about this task. Slow RL over many tasks shaped the "
        "weights so that this state update is a good exploration-exploitation rule."
    ),
)

DICE_QUESTION = MultipleChoice(
    "Why does the exact MAML meta-gradient in RL need DiCE (or an equivalent correction)?",
    [
        "The rewards of the environment are not differentiable with respect to θ.",
        "The episodes are drawn from π_θ, so ∇²J has a score-times-score term a surrogate misses.",
        "The environment clips actions to ±0.1, which has no gradient at the bounds.",
        "The second derivative of log π is zero for a Gaussian policy with a linear mean.",
    ],
    answer=1,
    explanation=(
        "∇²J = E[R (∇² log p + ∇log p ∇log pᵀ)]: differentiating Σ log π · R twice treats the sampled episodes "
        "as fixed and gives only the first part. DiCE's magic box makes the second part appear too, and the "
        "chapter's finite-difference check shows the difference."
    ),
)

ES_QUESTION = MultipleChoice(
    "What does the evolution-strategies outer loop (ES-MAML) need from the inner adaptation step U(θ)?",
    [
        "Its Hessian, to correct the first-order meta-gradient as MAML does.",
        "Its Jacobian ∂U/∂θ, computed by differentiating through the policy-gradient step.",
        "Only the returns after adapting perturbed copies of θ: U can be a black box.",
        "A differentiable simulator, so that returns can be back-propagated to θ.",
    ],
    answer=2,
    explanation=(
        "ES perturbs θ, adapts each copy with U, measures the returns and correlates them with the "
        "perturbations: no derivative of U or of the environment is taken. The price is variance, "
        "paid for with many more episodes (the chapter's table counts them)."
    ),
)
