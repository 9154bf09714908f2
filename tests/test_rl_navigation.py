"""2-D navigation (Finn et al. 2017, §5.3, as in the authors' code): the Gymnasium environment and
the batched rollout agree step by step, rewards and episode ends follow the definition, goals
are seeded and disjoint between meta-train and meta-test, and the Gaussian policy's density is
the textbook one."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metalearn_lite.rl.navigation import (
    GaussianMLPPolicy, NavigationTasks, PointNavigationEnv, expand_params, oracle_returns, rollout,
)


def test_env_reset_step_reward_and_clipping():
    env = PointNavigationEnv(horizon=5)
    obs, info = env.reset(options={"goal": (0.3, -0.2)})
    assert obs.tolist() == [0.0, 0.0] and info["goal"].tolist() == [0.3, -0.2]
    obs, reward, terminated, truncated, info = env.step(np.array([1.0, -0.05]))  # x clipped to 0.1
    assert np.allclose(obs, [0.1, -0.05])
    assert math.isclose(reward, -math.hypot(0.1 - 0.3, -0.05 + 0.2), rel_tol=1e-12)
    assert not terminated and not truncated and math.isclose(info["distance"], -reward)
    for _ in range(4):
        *_, terminated, truncated, _ = env.step([0.0, 0.0])
    assert truncated and not terminated  # the horizon ends the episode
    with pytest.raises(RuntimeError, match="call reset"):
        env.step([0.0, 0.0])


def test_env_terminates_at_the_goal_and_rejects_bad_input():
    env = PointNavigationEnv()
    env.reset(options={"goal": (0.1, 0.095)})
    *_, terminated, truncated, _ = env.step([0.1, 0.1])
    assert terminated and not truncated  # |s - g| < 0.01 in both coordinates
    env.reset(seed=3)
    with pytest.raises(ValueError, match="two finite numbers"):
        env.step([np.nan, 0.0])
    with pytest.raises(ValueError, match="only option is 'goal'"):
        env.reset(options={"probs": [0.5]})
    with pytest.raises(ValueError, match="horizon"):
        PointNavigationEnv(horizon=0)


def test_env_goals_are_uniform_in_the_square_and_seeded():
    env = PointNavigationEnv()
    goals = np.array([env.reset(seed=s)[1]["goal"] for s in range(200)])
    assert (goals >= -0.5).all() and (goals <= 0.5).all() and goals.std() > 0.2
    assert np.array_equal(PointNavigationEnv().reset(seed=7)[1]["goal"], PointNavigationEnv().reset(seed=7)[1]["goal"])


def test_rollout_matches_the_gymnasium_env_step_by_step():
    policy = GaussianMLPPolicy(hidden=(16,), init_std=0.1)
    params = {k: v.clone() for k, v in expand_params(policy.init(1, dtype=torch.float64), 3).items()}
    params["W2"][0], params["b2"][0], params["log_std"][0] = 0.0, 0.0, math.log(1e-3)  # task 0: barely moves
    goals = torch.tensor([[0.004, -0.003], [0.4, -0.3], [-0.2, 0.45]], dtype=torch.float64)
    traj = rollout(policy, params, goals, episodes=4, horizon=30, seed=2)
    assert (traj.mask[0].sum(-1) == 1).all() and (traj.mask[1:].sum(-1) == 30).all()  # task 0 ends at once
    env = PointNavigationEnv(horizon=30)
    for i in range(3):
        for e in range(4):
            env.reset(options={"goal": goals[i].tolist()})
            done, t = False, 0
            while not done:
                assert traj.mask[i, e, t] == 1
                assert np.allclose(traj.obs[i, e, t].numpy(), env.position, atol=1e-12)
                _, reward, terminated, truncated, _ = env.step(traj.actions[i, e, t].numpy())
                assert math.isclose(traj.rewards[i, e, t].item(), reward, rel_tol=1e-9, abs_tol=1e-12)
                done, t = terminated or truncated, t + 1
            assert traj.mask[i, e, t:].sum() == 0 and traj.rewards[i, e, t:].abs().sum() == 0


def test_rollout_is_seeded_and_uses_per_task_parameters():
    policy = GaussianMLPPolicy(hidden=(8,))
    params = policy.init(0)
    goals = NavigationTasks(0).sample(3)
    a, b = rollout(policy, params, goals, 2, 10, seed=5), rollout(policy, params, goals, 2, 10, seed=5)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.rewards, b.rewards)
    per_task = {k: v.clone() for k, v in expand_params(params, 3).items()}
    per_task["b2"][1] += 5.0  # only task 1's policy changes
    c = rollout(policy, per_task, goals, 2, 10, seed=5)
    # per-task parameters take a batched matmul, shared ones a plain one: equal up to rounding,
    # not necessarily to the bit (that depends on the CPU's kernels)
    assert torch.allclose(c.actions[0], a.actions[0], rtol=0, atol=1e-5)
    assert torch.allclose(c.actions[2], a.actions[2], rtol=0, atol=1e-5)
    assert (c.actions[1] - a.actions[1]).abs().max() > 0.1


def test_tasks_are_seeded_and_disjoint():
    train, test = NavigationTasks(0, "train").sample(500), NavigationTasks(0, "test").sample(500)
    assert torch.equal(train, NavigationTasks(0, "train").sample(500))
    assert (train.abs() <= 0.5).all() and (test.abs() <= 0.5).all()
    assert not (train.unsqueeze(1) == test.unsqueeze(0)).all(-1).any()
    with pytest.raises(ValueError, match="split"):
        NavigationTasks(0, "validation")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 4))
def test_log_prob_is_the_gaussian_density(seed, m, n):
    policy = GaussianMLPPolicy(hidden=(5, 4), init_std=0.7)
    params = {k: v.clone() for k, v in expand_params(policy.init(seed, dtype=torch.float64), m).items()}
    g = torch.Generator().manual_seed(seed)
    params["log_std"] = params["log_std"] + torch.randn(m, 2, generator=g, dtype=torch.float64)
    obs = torch.randn(m, n, 3, 2, generator=g, dtype=torch.float64)
    actions = torch.randn(m, n, 3, 2, generator=g, dtype=torch.float64)
    got = policy.log_prob(params, obs, actions)
    for i in range(m):  # one task at a time, with torch.distributions as the reference
        x = obs[i]
        for j in (1, 2):
            x = torch.relu(x @ params[f"W{j}"][i] + params[f"b{j}"][i])
        mu = x @ params["W3"][i] + params["b3"][i]
        ref = torch.distributions.Normal(mu, params["log_std"][i].exp()).log_prob(actions[i]).sum(-1)
        assert torch.allclose(got[i], ref, atol=1e-12)


def test_oracle_is_far_better_than_a_random_policy():
    goals = NavigationTasks(0, "test").sample(20)
    policy = GaussianMLPPolicy()
    random_returns = rollout(policy, policy.init(0), goals, 10).returns.mean()
    oracle = oracle_returns(goals)
    assert (oracle <= 0).all() and oracle.mean() > 0.1 * random_returns
