"""MAML with a policy-gradient inner loop (metalearn_lite.rl.maml_rl).

The meta-gradient is checked where it can be known exactly: a two-step MDP with two actions and a
tabular softmax policy has four possible episodes per task, so J(θ) = Σ_τ p_θ(τ) R(τ) is a finite
sum, and weighting each enumerated episode by its probability (held constant) turns the DiCE
estimates into exact values of every order. The library's meta-gradient must then equal central
finite differences of the true meta-objective Σ_i J_i(θ + α ∇J_i(θ)), computed here by plain
formulas; the first-order variant must equal Σ_i ∇J_i(θ'_i); a baseline must change nothing.
"""
import itertools
import math

import pytest
import torch

from metalearn_lite.rl.maml_rl import (
    adapt, adaptation_returns, dice_objective, discounted_returns, linear_feature_baseline, magic_box, train_maml_rl,
    train_pretrained,
)
from metalearn_lite.rl.navigation import GaussianMLPPolicy, NavigationTasks, Trajectories, expand_params, rollout

GAMMA, ALPHA = 0.9, 0.7
EPISODES = list(itertools.product((0, 1), repeat=2))  # (a0, a1): state 0, then state 1 + a0


def reward_tables():
    """Two tasks: r(state, action) for the 3 states x 2 actions."""
    return torch.tensor([[[1.0, -0.5], [0.3, 2.0], [-1.0, 0.4]],
                         [[-0.2, 0.6], [1.5, -0.7], [0.2, 1.1]]], dtype=torch.float64)


def tabular_log_prob(params, obs, actions):
    """log π(a|s) for a tabular softmax policy: params["logits"] (m, 3, 2); obs, actions (m, n, T) ints."""
    log_pi = torch.log_softmax(params["logits"], dim=-1)  # (m, 3, 2)
    m = log_pi.shape[0]
    rows = torch.arange(m).view(m, 1, 1).expand_as(obs)
    return log_pi[rows, obs, actions]


def exact_return(logits, rewards):
    """J(θ) = Σ_τ p_θ(τ) (r_0 + γ r_1) for one task, by plain enumeration."""
    pi = torch.softmax(logits, dim=-1)
    total = 0.0
    for a0, a1 in EPISODES:
        s1 = 1 + a0
        total = total + pi[0, a0] * pi[s1, a1] * (rewards[0, a0] + GAMMA * rewards[s1, a1])
    return total


def meta_objective(theta, rewards):
    """Σ_i J_i(θ + α ∇J_i(θ)), the exact gradient ∇J_i by autograd on the exact sum."""
    total = 0.0
    for r in rewards:
        t = theta.detach().clone().requires_grad_()
        (grad,) = torch.autograd.grad(exact_return(t, r), t)
        total = total + exact_return(theta + ALPHA * grad, r)
    return total


def enumerated(logits, rewards):
    """All four episodes of every task, weighted by their probability under ``logits`` (m, 3, 2)."""
    m = logits.shape[0]
    obs = torch.tensor([[0, 1 + a0] for a0, _ in EPISODES]).expand(m, 4, 2)
    actions = torch.tensor([list(e) for e in EPISODES]).expand(m, 4, 2)
    rows = torch.arange(m).view(m, 1, 1)
    r = rewards[rows, obs, actions]
    with torch.no_grad():
        weights = tabular_log_prob({"logits": logits}, obs, actions).sum(-1).exp()
    return Trajectories(obs=obs, actions=actions, rewards=r, mask=torch.ones_like(r), weights=weights)


def library_meta_gradient(theta, rewards, first_order, baseline_seed=None):
    m = rewards.shape[0]
    theta = theta.detach().clone().requires_grad_()
    per_task = expand_params({"logits": theta}, m)
    support = enumerated(per_task["logits"].detach(), rewards)
    b = None
    if baseline_seed is not None:  # any function of (task, state, t): it must not see a_t or later actions
        table = torch.randn(m, 3, 2, generator=torch.Generator().manual_seed(baseline_seed), dtype=torch.float64)
        b = table[torch.arange(m).view(m, 1, 1), support.obs, torch.arange(2).view(1, 1, 2)]
    adapted = adapt(tabular_log_prob, per_task, support, ALPHA, GAMMA, first_order=first_order, baseline=b)
    query = enumerated(adapted["logits"].detach(), rewards)
    j = dice_objective(tabular_log_prob(adapted, query.obs, query.actions), query, GAMMA,
                       None if b is None else -b).sum()
    (grad,) = torch.autograd.grad(j, theta)
    return grad, adapted["logits"].detach()


def theta0():
    return torch.tensor([[0.3, -0.2], [0.1, 0.5], [-0.4, 0.2]], dtype=torch.float64)


def test_dice_values_are_exact_expectations_over_enumerated_episodes():
    rewards, theta = reward_tables(), theta0().requires_grad_()
    per_task = expand_params({"logits": theta}, 2)
    traj = enumerated(per_task["logits"].detach(), rewards)
    j = dice_objective(tabular_log_prob(per_task, traj.obs, traj.actions), traj, GAMMA)
    ref = [exact_return(theta, r) for r in rewards]
    assert torch.allclose(j, torch.stack(ref).detach(), atol=1e-14)
    # first and second derivatives: the DiCE ones equal those of the exact sum
    (g,) = torch.autograd.grad(j.sum(), theta, create_graph=True)
    (g_ref,) = torch.autograd.grad(sum(ref), theta, create_graph=True)
    assert torch.allclose(g, g_ref, atol=1e-13)
    h = torch.stack([torch.autograd.grad(g.flatten()[k], theta, retain_graph=True)[0].flatten() for k in range(6)])
    h_ref = torch.stack([torch.autograd.grad(g_ref.flatten()[k], theta, retain_graph=True)[0].flatten()
                         for k in range(6)])
    assert torch.allclose(h, h_ref, atol=1e-12) and h.abs().max() > 0.05


@pytest.mark.parametrize("baseline_seed", [None, 3])
def test_exact_meta_gradient_matches_finite_differences(baseline_seed):
    rewards, theta = reward_tables(), theta0()
    grad, _ = library_meta_gradient(theta, rewards, first_order=False, baseline_seed=baseline_seed)
    eps, fd = 1e-6, torch.zeros(6, dtype=torch.float64)
    for k in range(6):
        d = torch.zeros(6, dtype=torch.float64)
        d[k] = eps
        d = d.view(3, 2)
        fd[k] = (meta_objective(theta + d, rewards) - meta_objective(theta - d, rewards)) / (2 * eps)
    assert torch.allclose(grad.flatten(), fd, atol=1e-8), (grad.flatten(), fd)


def test_first_order_is_the_gradient_at_the_adapted_parameters():
    rewards, theta = reward_tables(), theta0()
    grad, adapted = library_meta_gradient(theta, rewards, first_order=True)
    ref = 0.0
    for i, r in enumerate(rewards):
        t = adapted[i].clone().requires_grad_()
        ref = ref + torch.autograd.grad(exact_return(t, r), t)[0]
        # the adapted parameters are one exact policy-gradient step
        t0 = theta.clone().requires_grad_()
        step = torch.autograd.grad(exact_return(t0, r), t0)[0]
        assert torch.allclose(adapted[i], theta + ALPHA * step, atol=1e-14)
    assert torch.allclose(grad, ref, atol=1e-13)
    exact, _ = library_meta_gradient(theta, rewards, first_order=False)
    assert (exact - grad).abs().max() > 1e-2  # the Hessian term matters here


def test_dice_gradient_is_reinforce_with_reward_to_go_on_sampled_episodes():
    """For sampled (unweighted) episodes, ∇Ĵ = (1/n) Σ_episodes Σ_t ∇ℓ_t (Σ_{t'≥t} γ^t' r_t' − γ^t b_t)."""
    policy = GaussianMLPPolicy(hidden=(6,), init_std=0.5)
    theta = policy.init(2, dtype=torch.float64)
    goals = torch.tensor([[0.2, -0.1], [-0.3, 0.3]], dtype=torch.float64)
    traj = rollout(policy, theta, goals, episodes=3, horizon=7, seed=1)
    b = torch.randn(2, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    params = {k: v.clone().requires_grad_() for k, v in theta.items()}
    j = dice_objective(policy.log_prob(params, traj.obs, traj.actions), traj, GAMMA, b)
    assert torch.allclose(j, (traj.rewards * GAMMA ** torch.arange(7)).sum(-1).mean(-1), atol=1e-13)
    got = torch.autograd.grad(j.sum(), list(params.values()))
    surrogate = 0.0
    for i, e, t in itertools.product(range(2), range(3), range(7)):  # the slow loop
        to_go = sum(GAMMA ** u * traj.rewards[i, e, u] for u in range(t, 7))
        ell = policy.log_prob(params, traj.obs[i:i + 1, e:e + 1, t:t + 1], traj.actions[i:i + 1, e:e + 1, t:t + 1])
        surrogate = surrogate + ell.sum() * (to_go - GAMMA ** t * b[i, e, t]) / 3
    ref = torch.autograd.grad(surrogate, list(params.values()))
    for a, r in zip(got, ref):
        assert torch.allclose(a, r, atol=1e-11)


def test_magic_box_and_discounted_returns():
    x = torch.tensor([0.3, -1.2], requires_grad=True)
    y = magic_box(x)
    assert torch.equal(y.detach(), torch.ones(2))
    assert torch.allclose(torch.autograd.grad(y.sum(), x)[0], torch.ones(2))
    r = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.allclose(discounted_returns(r, 0.5), torch.tensor([[1 + 1 + 0.75, 2 + 1.5, 3.0]]))


def test_linear_feature_baseline_is_the_least_squares_fit():
    policy = GaussianMLPPolicy(hidden=(4,))
    traj = rollout(policy, policy.init(0, dtype=torch.float64), torch.tensor([[0.1, 0.2]], dtype=torch.float64),
                   episodes=5, horizon=12, seed=0)
    b = linear_feature_baseline(traj, GAMMA, reg=0.0)
    s, tau = traj.obs[0].reshape(-1, 2), (torch.arange(12, dtype=torch.float64) / 100).repeat(5).unsqueeze(-1)
    x = torch.cat([s, s * s, tau, tau ** 2, tau ** 3, torch.ones_like(tau)], -1)
    y = discounted_returns(traj.rewards[0], GAMMA).reshape(-1)
    coef = torch.linalg.lstsq(x, y.unsqueeze(-1)).solution
    assert torch.allclose(b[0].reshape(-1), (x @ coef).squeeze(-1), atol=1e-8)


def test_adapt_needs_one_parameter_set_per_task():
    rewards = reward_tables()
    traj = enumerated(expand_params({"logits": theta0()}, 2)["logits"], rewards)
    with pytest.raises(ValueError, match="expand_params"):
        adapt(tabular_log_prob, {"logits": theta0().requires_grad_()}, traj, ALPHA, GAMMA)


@pytest.mark.parametrize("first_order", [False, True])
def test_short_maml_training_beats_the_untrained_policy_on_held_out_goals(first_order):
    policy = GaussianMLPPolicy(hidden=(32, 32))
    kwargs = dict(alpha=1e-2, episodes=10, horizon=30)
    theta, history = train_maml_rl(policy, steps=30, meta_batch=10, lr=1e-2, seed=0, first_order=first_order, **kwargs)
    assert len(history.train["return_after"]) == 30 and history.train["env_steps"][-1] > 0
    goals = NavigationTasks(0, "test").sample(16)
    trained = adaptation_returns(policy, theta, goals, steps=1, seed=1, **kwargs).mean(1)
    untrained = adaptation_returns(policy, policy.init(0), goals, steps=1, seed=1, **kwargs).mean(1)
    assert trained[1] > untrained[1] + 0.3 * abs(untrained[1]), (trained, untrained)  # better after one step
    assert trained[1] > trained[0] + 0.1 * abs(trained[0])  # and the step itself helps


def test_short_pretraining_beats_the_untrained_policy_on_held_out_goals():
    policy = GaussianMLPPolicy(hidden=(32, 32))
    theta, history = train_pretrained(policy, steps=30, meta_batch=10, episodes=20, lr=1e-2, horizon=30, seed=0)
    assert len(history.train["return"]) == 30 and history.train["env_steps"][-1] > 0
    goals = NavigationTasks(0, "test").sample(16)
    kwargs = dict(alpha=1e-2, episodes=10, horizon=30, seed=1)
    trained = adaptation_returns(policy, theta, goals, steps=0, **kwargs).mean(1)
    untrained = adaptation_returns(policy, policy.init(0), goals, steps=0, **kwargs).mean(1)
    assert trained[0] > untrained[0] + 0.2 * abs(untrained[0]), (trained, untrained)
