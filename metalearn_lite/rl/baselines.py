"""Hand-designed bandit strategies, the baselines RL² is compared with (Duan et al. 2016, Table 1).

Each is a :class:`~metalearn_lite.rl.bandits.BanditPolicy`, vectorised over a batch of trials
(one row per trial, counts kept as (batch, k) tensors) and run by
:func:`~metalearn_lite.rl.bandits.run_trials`. With N_j the pulls of arm j so far, S_j its
successes (rewards of 1) and F_j = N_j − S_j its failures:

* :class:`RandomArm` — a uniformly random arm every pull; expects n · mean_j p_j.
* :class:`UCB1` — Auer, Cesa-Bianchi & Fischer (2002), "Finite-time analysis of the multiarmed
  bandit problem", Machine Learning 47: pull each arm once, then
  a_t = argmax_j S_j/N_j + √(2 ln t / N_j), with t the pulls made so far.
* :class:`Thompson` — Thompson (1933) sampling with Beta(1, 1) (uniform) priors: draw
  θ_j ~ Beta(1 + S_j, 1 + F_j) for each arm, pull argmax_j θ_j.
* :class:`EpsilonGreedy` — with probability ε a uniformly random arm; otherwise the arm with the
  best mean S_j/N_j, arms never pulled first. ``EpsilonGreedy(0)`` is the greedy strategy.
* :class:`Gittins` — the finite-horizon Gittins index of each arm's Beta(1 + S_j, 1 + F_j)
  posterior for the pulls left in the trial (:func:`gittins_table`), pull the largest.
* :class:`Oracle` — always argmax_j p_j: it knows the task, so it is an upper bound, not a
  learner; it expects n · max_j p_j.

Ties are broken towards the lowest arm index (``argmax``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..utils import check_int, check_number
from .bandits import BanditPolicy, expected_regret


class CountingPolicy(BanditPolicy):
    """Keeps N_j (``pulls``) and S_j (``successes``) per trial and arm, float64 (batch, k)."""

    def reset(self, probs: Tensor, n: int) -> None:
        super().reset(probs, n)
        self.pulls = torch.zeros(self.batch, self.k, dtype=torch.float64, device=self.device)
        self.successes = torch.zeros_like(self.pulls)

    @property
    def failures(self) -> Tensor:
        """F_j = N_j − S_j."""
        return self.pulls - self.successes

    def observe(self, actions: Tensor, rewards: Tensor) -> None:
        rows = torch.arange(self.batch, device=self.device)
        self.pulls[rows, actions] += 1
        self.successes[rows, actions] += rewards.to(torch.float64)

    def means(self) -> Tensor:
        """S_j / N_j, and +∞ for arms never pulled (so ``argmax`` tries them first, lowest index first)."""
        return torch.where(self.pulls > 0, self.successes / self.pulls.clamp(min=1), torch.inf)


class RandomArm(BanditPolicy):
    """A uniformly random arm at every pull."""

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        u = self.uniform(self.batch, generator=generator)
        return (u * self.k).long().clamp(max=self.k - 1)


class Oracle(BanditPolicy):
    """Always the best arm, argmax_j p_j (it reads the task's probabilities: an upper bound)."""

    def reset(self, probs: Tensor, n: int) -> None:
        super().reset(probs, n)
        self.best = probs.argmax(dim=1)

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        return self.best


class UCB1(CountingPolicy):
    """UCB1 (Auer et al. 2002): each arm once, then argmax_j S_j/N_j + c √(2 ln t / N_j); c = 1 is
    UCB1 itself (``c`` scales the exploration bonus, a knob for the exercises)."""

    def __init__(self, c: float = 1.0) -> None:
        self.c = check_number("c (the exploration bonus scale, >= 0)", c, 0.0, low_open=False)

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        if t < self.k:  # initialisation: arm t at pull t
            return torch.full((self.batch,), t, dtype=torch.long, device=self.device)
        index = self.successes / self.pulls + self.c * torch.sqrt(2 * math.log(t) / self.pulls)
        return index.argmax(dim=1)


def beta_integer(a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
    """Samples of Beta(a, b) for integer a, b >= 1 (tensors of one shape), exactly, float64.

    X = G_a / (G_a + G_b) with G_m ~ Gamma(m, 1) = Σ_{i<m} E_i a sum of m Exp(1) variables,
    E_i = −log(1 − U_i); the uniforms U come from ``generator`` on the CPU (torch's own Beta
    sampler cannot take a generator). Cost: 2 · max(a, b) uniforms per sample.
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise ValueError(f"a and b must be tensors, got {type(a).__name__} and {type(b).__name__}")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {generator!r}")
    if a.numel() == 0:
        return torch.empty(a.shape, dtype=torch.float64, device=a.device)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if (a < 1).any() or (b < 1).any() or (a != a.round()).any() or (b != b.round()).any():
        raise ValueError("beta_integer needs integer parameters >= 1 (finite, not NaN)")
    m = int(max(a.max(), b.max()))
    e = -torch.log1p(-torch.rand(2, *a.shape, m, generator=generator, dtype=torch.float64)).to(a.device)
    i = torch.arange(m, device=a.device)
    g_a = (e[0] * (i < a.unsqueeze(-1))).sum(-1)
    g_b = (e[1] * (i < b.unsqueeze(-1))).sum(-1)
    return g_a / (g_a + g_b)


class Thompson(CountingPolicy):
    """Thompson sampling, Beta(1, 1) priors: θ_j ~ Beta(1 + S_j, 1 + F_j), pull argmax_j θ_j."""

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        theta = beta_integer(1 + self.successes, 1 + self.failures, generator)
        return theta.argmax(dim=1)


class EpsilonGreedy(CountingPolicy):
    """With probability ε a uniformly random arm, otherwise argmax_j S_j/N_j (unpulled arms first).
    ``EpsilonGreedy(0.0)`` is greedy: each arm once, then always the best mean so far."""

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = check_number("epsilon (a probability)", epsilon, 0.0, 1.0, low_open=False, high_open=False)

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        greedy = self.means().argmax(dim=1)
        if self.epsilon == 0:
            return greedy
        u = self.uniform(2, self.batch, generator=generator)
        random_arm = (u[1] * self.k).long().clamp(max=self.k - 1)
        return torch.where(u[0] < self.epsilon, random_arm, greedy)


def gittins_table(n: int, grid: int = 401) -> Tensor:
    """ν[h, s, f]: the finite-horizon Gittins index of a Bernoulli arm with posterior Beta(1 + s, 1 + f)
    when h pulls are left (h = 1 … n, s + f + h ≤ n; NaN elsewhere), a (n + 1, n + 1, n + 1) table.

    Calibration (Gittins 1979; the finite-horizon variant, e.g. Niño-Mora 2011): compare the arm
    with a known arm that pays λ per pull. With μ = (1 + s)/(2 + s + f) and W_0 = 0, the best one
    can do with h pulls left, retiring to the known arm at any time (for good, which is optimal), is

        W_h(s, f; λ) = max(λ h, C_h(s, f; λ)),
        C_h(s, f; λ) = μ (1 + W_{h−1}(s + 1, f; λ)) + (1 − μ) W_{h−1}(s, f + 1; λ),

    and the index ν_h(s, f) is the λ at which retiring now and pulling once more are equally good,
    C_h = λ h. The dynamic programme runs for all states at once on ``grid`` values of λ evenly
    spaced in [0, 1]; ν is the first grid point where C_h − λh ≤ 0, refined by linear interpolation
    with the point before (exact for h = 1, where ν = μ; otherwise within the grid spacing,
    checked against a bisection in the tests). Memory ~ 5 · grid · (n + 2)² doubles.
    """
    from .bandits import check_k_n

    _, n = check_k_n(2, n)
    grid = check_int("grid (the number of λ values)", grid, minimum=3)
    lam = torch.linspace(0.0, 1.0, grid, dtype=torch.float64).view(-1, 1, 1)
    i = torch.arange(n + 1, dtype=torch.float64)
    mu = (1 + i.view(-1, 1)) / (2 + i.view(-1, 1) + i.view(1, -1))  # μ(s, f)
    step = 1.0 / (grid - 1)
    table = torch.full((n + 1, n + 1, n + 1), float("nan"), dtype=torch.float64)
    w = torch.zeros(grid, n + 1, n + 1, dtype=torch.float64)  # W_0 = 0
    for h in range(1, n + 1):
        m = n - h + 1  # states with s, f ≤ n − h: all that pull t = n − h can reach (and a few more)
        c = mu[:m, :m] * (1 + w[:, 1 : m + 1, :m]) + (1 - mu[:m, :m]) * w[:, :m, 1 : m + 1]  # C_h(s, f; λ)
        d = c - lam * h  # decreasing in λ; d ≤ 0 at λ = 1 since C_h ≤ h
        first = (d <= 0).to(torch.uint8).argmax(dim=0).clamp(min=1)  # d(λ = 0) = C_h > 0
        d_hi, d_lo = d.gather(0, first.unsqueeze(0))[0], d.gather(0, (first - 1).unsqueeze(0))[0]
        table[h, :m, :m] = (first - 1).double() * step + step * d_lo / (d_lo - d_hi)
        w = torch.maximum(lam * h, c)
    s_plus_f = i.view(1, -1, 1) + i.view(1, 1, -1)
    h_all = torch.arange(n + 1, dtype=torch.float64).view(-1, 1, 1)
    table[(s_plus_f + h_all > n).expand_as(table)] = float("nan")
    return table


class Gittins(CountingPolicy):
    """The finite-horizon Gittins index policy: at pull t (h = n − t pulls left) pull
    argmax_j ν_h(S_j, F_j) (:func:`gittins_table`, computed once per n and grid, then cached).
    Duan et al. (2016) compare RL² with a Gittins index policy; theirs is computed differently."""

    _tables: dict[tuple[int, int], Tensor] = {}

    def __init__(self, grid: int = 401) -> None:
        self.grid = check_int("grid (the number of λ values)", grid, minimum=3)

    def reset(self, probs: Tensor, n: int) -> None:
        super().reset(probs, n)
        key = (n, self.grid)
        if key not in Gittins._tables:
            Gittins._tables[key] = gittins_table(n, self.grid)
        self.table = Gittins._tables[key].to(self.device)

    def act(self, t: int, generator: torch.Generator) -> Tensor:
        nu = self.table[self.n - t][self.successes.long(), self.failures.long()]
        return nu.argmax(dim=1)


def Greedy() -> EpsilonGreedy:  # a policy "class" by another name
    """The greedy strategy, ``EpsilonGreedy(0.0)``."""
    return EpsilonGreedy(0.0)


__all__ = [
    "CountingPolicy", "EpsilonGreedy", "Gittins", "Greedy", "Oracle", "RandomArm", "Thompson", "UCB1", "beta_integer", "gittins_table",
    "expected_regret",
]
