"""Bernoulli bandit tasks (Duan et al. 2016): the Gymnasium environment, the seeded task streams
and the batched runner, checked against their definitions and against slow per-trial loops."""
import warnings

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import metalearn_lite as ml
from metalearn_lite.rl import BanditTasks, BernoulliBanditEnv, Oracle, RandomArm, UCB1, evaluate, run_trials
from metalearn_lite.rl.bandits import BanditPolicy, check_probs


# --- the Gymnasium environment ------------------------------------------------------------------
def test_env_passes_gymnasium_check():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from the checker either
        check_env(BernoulliBanditEnv(k=4, n=7), skip_render_check=True)


def test_env_trial_is_n_pulls_with_binary_rewards_then_truncated():
    env = BernoulliBanditEnv(k=3, n=6)
    obs, info = env.reset(seed=0)
    assert obs.tolist() == [0, 0, 0, 0, 1] and obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert info["pulls"] == 0 and info["probs"].shape == (3,) and np.all((0 <= info["probs"]) & (info["probs"] <= 1))
    for t in range(6):
        a = t % 3
        obs, reward, terminated, truncated, info = env.step(a)
        assert reward in (0.0, 1.0) and not terminated and truncated == (t == 5)
        assert obs.tolist() == [float(a == j) for j in range(3)] + [reward, 0.0]
        assert info["pulls"] == t + 1 and info["expected_reward"] == info["probs"][a]
        assert info["regret"] == pytest.approx(info["probs"].max() - info["probs"][a])
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    with pytest.raises(RuntimeError, match="call reset"):
        BernoulliBanditEnv().step(0)  # never reset


def test_env_seeding_is_reproducible_and_new_tasks_differ():
    def trial(seed):
        env = BernoulliBanditEnv(k=5, n=20)
        _, info = env.reset(seed=seed)
        return info["probs"], [env.step(t % 5)[1] for t in range(20)]

    p1, r1 = trial(3)
    p2, r2 = trial(3)
    assert np.array_equal(p1, p2) and r1 == r2
    assert not np.array_equal(trial(4)[0], p1)
    env = BernoulliBanditEnv(k=5, n=20)
    env.reset(seed=3)
    assert not np.array_equal(env.reset()[1]["probs"], p1)  # the next reset draws the next task


def test_env_given_probabilities_and_reward_frequencies():
    env = BernoulliBanditEnv(k=2, n=1)
    env.reset(seed=0, options={"probs": [0.0, 1.0]})
    assert env.step(0)[1] == 0.0
    env.reset(options={"probs": [0.0, 1.0]})
    assert env.step(1)[1] == 1.0
    rewards = []
    for _ in range(4000):
        env.reset(options={"probs": [0.25, 0.5]})
        rewards.append(env.step(0)[1])
    assert abs(np.mean(rewards) - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 4000)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 1}, "k .*>= 2"), ({"k": 2.0}, "k .*integer"), ({"n": 0}, "n .*positive integer"), ({"n": True}, "n .*integer"),
])
def test_env_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BernoulliBanditEnv(**kwargs)


@pytest.mark.parametrize("probs, message", [
    ([0.5, 1.2, 0.1], r"\[0, 1\]"), ([0.5, float("nan"), 0.1], r"\[0, 1\]"), ([0.5, 0.5], "2 arms .* k = 3"),
    ([[0.1, 0.2, 0.3]], r"shape \(k,\)"), ("abc", "numbers"),
])
def test_env_bad_probabilities(probs, message):
    with pytest.raises(ValueError, match=message):
        BernoulliBanditEnv(k=3).reset(options={"probs": probs})


def test_env_bad_action_and_option():
    env = BernoulliBanditEnv(k=3)
    env.reset(seed=0)
    for action in (3, -1, 0.5):
        with pytest.raises(ValueError, match="arm index in 0 … 2"):
            env.step(action)
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"prob": [0.1, 0.2, 0.3]})


# --- task streams -------------------------------------------------------------------------------
def test_tasks_are_seeded_uniform_and_meta_train_test_streams_disjoint():
    a, b = BanditTasks(5, 10, seed=0), BanditTasks(5, 10, seed=0)
    p = a.sample(4000)
    assert p.shape == (4000, 5) and p.dtype == torch.float32 and torch.equal(p, b.sample(4000))
    assert ((p >= 0) & (p < 1)).all() and abs(p.mean().item() - 0.5) < 0.01 and abs(p.var().item() - 1 / 12) < 0.005
    assert not torch.equal(a.sample(4000), p)  # a stream: the next batch holds new tasks
    test = BanditTasks(5, 10, seed=0, split="test").sample(8000)
    train = torch.cat([p, a.sample(4000)])
    shared = set(map(tuple, train.tolist())) & set(map(tuple, test.tolist()))
    assert not shared, "a meta-test task also occurs in the meta-train stream"
    assert not torch.equal(BanditTasks(5, 10, seed=1).sample(10), BanditTasks(5, 10, seed=0).sample(10))
    assert not torch.equal(BanditTasks(5, 10, seed=1, split="test").sample(10), BanditTasks(5, 10, seed=0).sample(10))
    # the stream does not depend on how it is cut into batches
    c = BanditTasks(5, 10, seed=0)
    assert torch.equal(torch.cat([c.sample(3), c.sample(2)]), BanditTasks(5, 10, seed=0).sample(5))


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 1, "n": 10}, "k .*>= 2"), ({"k": 5, "n": 0}, "n .*positive integer"), ({"k": 5, "n": 10, "seed": -1}, "seed"),
    ({"k": 5, "n": 10, "split": "val"}, "split"),
])
def test_tasks_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BanditTasks(**kwargs)


def test_tasks_bad_batch():
    for batch in (0, 2.5, None):
        with pytest.raises(ValueError, match="batch"):
            BanditTasks(3, 4).sample(batch)


# --- the batched runner -------------------------------------------------------------------------
def ucb1_one_trial(p, u):
    """UCB1 for one trial, plain Python: each arm once, then argmax mean + √(2 ln t / N)."""
    k, n = len(p), len(u)
    pulls, wins, actions, rewards = [0] * k, [0] * k, [], []
    for t in range(n):
        if t < k:
            a = t
        else:
            scores = [wins[j] / pulls[j] + np.sqrt(2 * np.log(t) / pulls[j]) for j in range(k)]
            a = max(range(k), key=lambda j: (scores[j], -j))  # the first of the best
        r = 1.0 if u[t] < p[a] else 0.0
        pulls[a] += 1
        wins[a] += r
        actions.append(a)
        rewards.append(r)
    return actions, rewards


def test_batched_runner_equals_a_slow_loop_over_trials():
    tasks = BanditTasks(4, 15, seed=2)
    probs = tasks.sample(64).double()
    noise = torch.rand(64, 15, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    trials = run_trials(UCB1(), probs, 15, noise=noise)
    for b in range(64):
        actions, rewards = ucb1_one_trial(probs[b].tolist(), noise[b].tolist())
        assert trials.actions[b].tolist() == actions and trials.rewards[b].tolist() == rewards
    # the seed decides the outcome numbers: the same seed, the same trials; another seed, others
    again = run_trials(UCB1(), probs, 15, seed=5)
    assert torch.equal(again.rewards, run_trials(UCB1(), probs, 15, seed=5).rewards)
    assert not torch.equal(again.rewards, run_trials(UCB1(), probs, 15, seed=6).rewards)
    noise5 = torch.rand(64, 15, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again.rewards, run_trials(UCB1(), probs, 15, noise=noise5).rewards)


def test_reward_is_one_exactly_when_the_outcome_number_is_below_p():
    probs = torch.tensor([[0.0, 1.0, 0.3], [0.5, 0.5, 0.5]])
    noise = torch.tensor([[0.2, 0.9, 0.999], [0.49, 0.5, 0.51]])

    class Fixed(BanditPolicy):
        def act(self, t, generator):
            return torch.tensor([t, 0])

    trials = run_trials(Fixed(), probs, 3, noise=noise)
    assert trials.rewards.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert trials.total_reward.tolist() == [1.0, 1.0]
    assert torch.allclose(trials.expected_rewards, torch.tensor([[0.0, 1.0, 0.3], [0.5, 0.5, 0.5]]))


def test_runner_refuses_bad_input():
    probs = torch.full((4, 3), 0.5)
    with pytest.raises(ValueError, match=r"shape \(batch, k\)"):
        run_trials(RandomArm(), torch.full((3,), 0.5), 5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        run_trials(RandomArm(), torch.tensor([[0.5, -0.1]]), 5)
    with pytest.raises(ValueError, match="at least 2 arms"):
        run_trials(RandomArm(), torch.full((4, 1), 0.5), 5)
    with pytest.raises(ValueError, match="n .*positive integer"):
        run_trials(RandomArm(), probs, 0)
    with pytest.raises(ValueError, match=r"noise must have shape \(batch, n\) = \(4, 5\)"):
        run_trials(RandomArm(), probs, 5, noise=torch.rand(4, 6))
    with pytest.raises(ValueError, match="seed"):
        run_trials(RandomArm(), probs, 5, seed="one")

    class Bad(BanditPolicy):
        def act(self, t, generator):
            return torch.zeros(2, dtype=torch.long)

    with pytest.raises(ValueError, match=r"Bad.act \(at pull 0\) must have shape \(4,\)"):
        run_trials(Bad(), probs, 5)


def test_check_probs_accepts_lists_and_integers():
    assert check_probs([[0, 1], [1, 0]]).dtype == torch.get_default_dtype()
    assert check_probs(np.array([[0.2, 0.3]])).shape == (1, 2)


def test_evaluate_is_the_mean_total_reward_with_its_ci():
    tasks = BanditTasks(3, 8, seed=0, split="test")
    probs = tasks.sample(300)
    result = evaluate(Oracle(), probs, 8, seed=4)
    totals = run_trials(Oracle(), probs, 8, seed=4).total_reward
    assert (result.mean, result.ci95) == ml.mean_ci95(totals) and result.episodes == 300
    from_stream = evaluate(Oracle(), BanditTasks(3, 8, seed=0, split="test"), trials=300, seed=4)
    assert from_stream.scores == result.scores
    with pytest.raises(ValueError, match="pass n"):
        evaluate(Oracle(), probs)
    with pytest.raises(ValueError, match="n = 9 but the tasks have n = 8"):
        evaluate(Oracle(), tasks, n=9)


def test_import_metalearn_lite_does_not_import_rl():
    import subprocess
    import sys

    code = "import sys, metalearn_lite; assert 'metalearn_lite.rl' not in sys.modules and 'gymnasium' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
