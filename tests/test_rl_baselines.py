"""Bandit baselines against closed forms and plain-Python re-implementations."""
import math

import pytest
import torch

from metalearn_lite.rl import (
    BanditTasks, EpsilonGreedy, Greedy, Oracle, RandomArm, Thompson, UCB1, evaluate, expected_regret, run_trials,
)
from metalearn_lite.rl.baselines import beta_integer


@pytest.fixture(scope="module")
def probs():
    return BanditTasks(5, 20, seed=0, split="test").sample(3000)


def test_oracle_always_pulls_the_best_arm_and_expects_n_max_p(probs):
    trials = run_trials(Oracle(), probs, 20, seed=0)
    assert (trials.actions == probs.argmax(1, keepdim=True)).all()
    assert torch.allclose(trials.expected_rewards.sum(1), 20 * probs.max(1).values)
    assert torch.allclose(trials.regret, torch.zeros(3000), atol=1e-5)
    # the realised total reward is n · max p on average: E[max of 5 uniforms] = 5/6
    mean, sd = trials.total_reward.mean(), trials.total_reward.std()
    assert abs(mean - 20 * probs.max(1).values.mean()) < 4 * sd / math.sqrt(3000)
    assert abs(20 * probs.max(1).values.mean() - 20 * 5 / 6) < 0.2  # 4 standard errors


def test_random_arm_is_uniform_and_expects_n_mean_p(probs):
    trials = run_trials(RandomArm(), probs, 20, seed=1)
    freq = torch.bincount(trials.actions.flatten(), minlength=5).double() / trials.actions.numel()
    assert (freq - 0.2).abs().max() < 4 * math.sqrt(0.2 * 0.8 / trials.actions.numel())
    expected = 20 * probs.mean(1)  # E[total | p] = n · mean_j p_j
    diff = trials.total_reward - expected
    assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(3000)


def test_expected_regret_is_n_max_p_minus_the_chosen_arms():
    p = torch.tensor([[0.1, 0.7, 0.4], [0.5, 0.5, 0.9]])
    actions = torch.tensor([[0, 1, 2, 1], [2, 2, 2, 2]])
    assert torch.allclose(expected_regret(p, actions), torch.tensor([4 * 0.7 - (0.1 + 0.7 + 0.4 + 0.7), 0.0]))
    with pytest.raises(ValueError, match=r"actions must have shape \(batch, n\) = \(2, n\)"):
        expected_regret(p, actions[0])


def test_ucb1_pulls_each_arm_once_first_then_follows_its_index(probs):
    policy = UCB1()
    trials = run_trials(policy, probs, 20, seed=2)
    assert (trials.actions[:, :5] == torch.arange(5)).all()
    # replay one trial by hand: at pull t ≥ k the arm maximises S/N + √(2 ln t / N)
    a, r = trials.actions[7], trials.rewards[7]
    for t in range(5, 20):
        pulls = torch.bincount(a[:t], minlength=5).double()
        wins = torch.zeros(5, dtype=torch.float64).index_add_(0, a[:t], r[:t].double())
        assert int(a[t]) == int((wins / pulls + torch.sqrt(2 * math.log(t) / pulls)).argmax())
    assert torch.equal(policy.pulls, torch.nn.functional.one_hot(trials.actions, 5).sum(1).double())
    # fewer pulls than arms: just the first n arms
    assert run_trials(UCB1(), probs[:3], 3, seed=0).actions.tolist() == [[0, 1, 2]] * 3
    assert run_trials(UCB1(c=0.0), probs[:1], 6, seed=0).actions[0, :5].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="c .*>= 0"):
        UCB1(c=-1)


def test_greedy_takes_untried_arms_then_the_best_mean(probs):
    trials = run_trials(Greedy(), probs[:50], 20, seed=3)
    for b in range(50):
        a, r = trials.actions[b].tolist(), trials.rewards[b].tolist()
        pulls, wins = [0] * 5, [0.0] * 5
        for t in range(20):
            means = [wins[j] / pulls[j] if pulls[j] else math.inf for j in range(5)]
            assert a[t] == max(range(5), key=lambda j: (means[j], -j))
            pulls[a[t]] += 1
            wins[a[t]] += r[t]


def test_epsilon_greedy_explores_with_probability_epsilon(probs):
    always = run_trials(EpsilonGreedy(1.0), probs, 20, seed=4)
    freq = torch.bincount(always.actions.flatten(), minlength=5).double() / always.actions.numel()
    assert (freq - 0.2).abs().max() < 0.01  # ε = 1: a random arm every pull
    # ε = 0.3 after the arms are tried: a non-greedy arm with probability ε (k − 1) / k
    policy = EpsilonGreedy(0.3)
    policy.reset(probs, 20)
    policy.pulls += 1
    policy.successes[:, 2] = 1  # arm 2 is the best so far in every trial
    picked = torch.stack([policy.act(5, torch.Generator().manual_seed(s)) for s in range(10)])
    assert abs((picked != 2).double().mean() - 0.3 * 4 / 5) < 0.02
    for epsilon in (-0.1, 1.5, "0.1"):
        with pytest.raises(ValueError, match="epsilon"):
            EpsilonGreedy(epsilon)


def test_thompson_keeps_the_posterior_counts(probs):
    policy = Thompson()
    trials = run_trials(policy, probs[:200], 20, seed=5)
    one_hot = torch.nn.functional.one_hot(trials.actions, 5).double()
    assert torch.equal(policy.pulls, one_hot.sum(1))
    assert torch.equal(policy.successes, (one_hot * trials.rewards.double().unsqueeze(-1)).sum(1))
    assert torch.equal(policy.failures, policy.pulls - policy.successes)


@pytest.mark.parametrize("a, b", [(1, 1), (3, 1), (2, 7), (12, 5)])
def test_beta_integer_has_the_beta_mean_and_variance(a, b):
    x = beta_integer(torch.full((20000,), float(a)), torch.full((20000,), float(b)), torch.Generator().manual_seed(a * b))
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert ((x > 0) & (x < 1)).all()
    assert abs(x.mean() - mean) < 4 * math.sqrt(var / 20000)
    assert abs(x.var() - var) < 0.05 * var + 1e-4
    if (a, b) == (1, 1):  # Beta(1, 1) is uniform: its CDF at 0.25 is 0.25
        assert abs((x < 0.25).double().mean() - 0.25) < 0.01
    with pytest.raises(ValueError, match="integer parameters >= 1"):
        beta_integer(torch.tensor([0.5]), torch.tensor([1.0]), torch.Generator())


def test_strategies_rank_as_expected_on_long_trials():
    """n = 100, k = 5: the oracle above everything, every learner far above random, Thompson above UCB1
    (Duan et al. 2016, Table 1, have the same ordering), on the same tasks and outcomes."""
    probs = BanditTasks(5, 100, seed=0, split="test").sample(600)
    result = {name: evaluate(policy, probs, 100, seed=6) for name, policy in
              {"random": RandomArm(), "ucb1": UCB1(), "thompson": Thompson(), "greedy": Greedy(), "oracle": Oracle()}.items()}
    assert abs(result["random"].mean - 50) < 3 * result["random"].ci95 + 0.5
    assert result["oracle"].mean > max(r.mean for name, r in result.items() if name != "oracle")
    for name in ("ucb1", "thompson", "greedy"):
        assert result[name].mean > result["random"].mean + 5 * (result[name].ci95 + result["random"].ci95)
    assert result["thompson"].mean > result["ucb1"].mean + 2


# --- the finite-horizon Gittins index -------------------------------------------------------------
def gittins_by_bisection(s, f, h, tol=1e-10):
    """ν_h(s, f) from its definition, plain Python: the λ at which retiring to a known arm paying λ
    per pull equals pulling once more, C_h(s, f; λ) = λ h, found by bisection on λ."""
    from functools import lru_cache

    def index(lam):
        @lru_cache(maxsize=None)
        def w(s, f, h):
            return 0.0 if h == 0 else max(lam * h, c(s, f, h))

        def c(s, f, h):
            mu = (1 + s) / (2 + s + f)
            return mu * (1 + w(s + 1, f, h - 1)) + (1 - mu) * w(s, f + 1, h - 1)

        return c(s, f, h) - lam * h

    lo, hi = 0.0, 1.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if index(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def test_gittins_table_matches_its_definition_and_closed_forms():
    from metalearn_lite.rl.baselines import Gittins, gittins_table

    n = 8
    table = gittins_table(n)
    # one pull left: the index is the posterior mean (no information is worth anything any more)
    for s in range(n):
        for f in range(n - s):
            assert table[1, s, f] == pytest.approx((1 + s) / (2 + s + f), abs=1e-9)
    # two pulls left on a fresh arm: C = ½(1 + max(λ, ⅔)) + ½ max(λ, ⅓) = 5/6 + λ/2 = 2λ at λ = 5/9
    assert table[2, 0, 0] == pytest.approx(5 / 9, abs=1e-9)
    for h, s, f in [(3, 0, 0), (8, 0, 0), (5, 1, 2), (4, 3, 0), (2, 0, 5)]:
        assert abs(table[h, s, f] - gittins_by_bisection(s, f, h)) < 1 / 400, (h, s, f)
    valid = ~torch.isnan(table)
    assert valid.sum() == sum((n - h + 2) * (n - h + 1) // 2 for h in range(1, n + 1))  # s + f + h ≤ n
    i = torch.arange(n + 1, dtype=torch.float64)
    mean = (1 + i.view(-1, 1)) / (2 + i.view(-1, 1) + i)
    assert (table[valid] >= mean.expand_as(table)[valid] - 1e-9).all()  # never below the mean
    # more pulls left: information is worth more; more successes raise the index, failures lower it
    assert (table[2:, :-1, :-1][valid[2:, :-1, :-1]] >= table[1:-1, :-1, :-1][valid[2:, :-1, :-1]] - 1e-9).all()
    assert all(table[3, s + 1, 1] > table[3, s, 1] for s in range(4))
    assert all(table[3, 1, f + 1] < table[3, 1, f] for f in range(4))
    with pytest.raises(ValueError, match="grid"):
        gittins_table(5, grid=2)
    with pytest.raises(ValueError, match="grid"):
        Gittins(grid=1.5)


def test_gittins_policy_pulls_the_largest_index_and_beats_thompson():
    from metalearn_lite.rl.baselines import Gittins, gittins_table

    probs = BanditTasks(5, 30, seed=0, split="test").sample(1000)
    policy = Gittins()
    trials = run_trials(policy, probs, 30, seed=7)
    table = gittins_table(30)
    a, r = trials.actions[3], trials.rewards[3]
    for t in range(30):
        pulls = torch.bincount(a[:t], minlength=5)
        wins = torch.zeros(5, dtype=torch.long).index_add_(0, a[:t], r[:t].long())
        assert int(a[t]) == int(table[30 - t, wins, pulls - wins].argmax())
    # near Bayes-optimal on tasks from its own prior: better than Thompson sampling, same tasks and outcomes
    gittins, thompson = evaluate(Gittins(), probs, 30, seed=7), evaluate(Thompson(), probs, 30, seed=7)
    assert gittins.mean > thompson.mean + gittins.ci95
