"""metalearn_lite.rl refuses bad input with a message that says what is wrong, stops training at
the first non-finite loss or weight (naming the step), and accepts NumPy scalars wherever Python
numbers are accepted. Tiny sizes throughout: the whole file runs in seconds."""
import math

import numpy as np
import pytest
import torch

from metalearn_lite.rl import (
    UCB1, BanditPolicy, BanditTasks, BernoulliBanditEnv, EpsilonGreedy, GaussianMLPPolicy, Gittins, NavigationTasks,
    PointNavigationEnv, RandomArm, RL2Policy, Thompson, adapt, adaptation_returns, dice_objective, evaluate,
    expected_regret, oracle_returns, rollout, run_trials, train_es_maml, train_maml_rl, train_pretrained, train_rl2,
)
from metalearn_lite.rl.baselines import beta_integer, gittins_table
from metalearn_lite.rl.es import centered_ranks, es_gradient, flatten, unflatten
from metalearn_lite.rl.maml_rl import linear_feature_baseline
from metalearn_lite.rl.navigation import expand_params
from metalearn_lite.rl.rl2 import a2c_loss, discounted_returns, sample_categorical

NAN = float("nan")
TINY = dict(meta_batch=2, episodes=2, horizon=5)  # navigation training in milliseconds


def small_policy():
    return GaussianMLPPolicy(hidden=(4,))


def trajectories(policy=None, params=None):
    policy = policy or small_policy()
    return rollout(policy, params if params is not None else policy.init(0), torch.zeros(2, 2), 2, 5)


def per_task(params, m=2):
    return {k: v.clone().requires_grad_() for k, v in expand_params(params, m).items()}


# --- RL²: NaN weights from normalising one advantage -----------------------------------------------
def test_train_rl2_refuses_to_normalise_a_single_advantage():
    with pytest.raises(ValueError, match=r"normalize_advantages needs at least 2 advantages.*batch · n = 1.*batch >= 2"):
        train_rl2(k=2, n=1, steps=1, batch=1)
    with pytest.raises(ValueError, match="normalize_advantages needs at least 2 advantages"):
        a2c_loss(torch.zeros(1, 1, 2), torch.zeros(1, 1), torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1),
                 0.9, 0.1, 0.1, normalize_advantages=True)


def test_train_rl2_on_one_trial_of_one_pull_works_without_normalisation():
    policy, history = train_rl2(k=2, n=1, steps=3, batch=1, normalize_advantages=False)
    assert all(torch.isfinite(p).all() for p in policy.parameters())
    assert all(math.isfinite(loss) for loss in history.train["loss"])
    policy, _ = train_rl2(k=2, n=2, steps=2, batch=1)  # two advantages: normalising is fine
    assert all(torch.isfinite(p).all() for p in policy.parameters())


def test_train_rl2_stops_at_the_first_non_finite_loss_naming_the_step(monkeypatch):
    import metalearn_lite.rl.rl2 as rl2

    real = rl2.a2c_loss
    calls = []

    def broken_at_step_2(*args, **kwargs):
        loss, metrics = real(*args, **kwargs)
        calls.append(1)
        return (loss * NAN if len(calls) == 2 else loss), metrics

    monkeypatch.setattr(rl2, "a2c_loss", broken_at_step_2)
    with pytest.raises(FloatingPointError, match=r"RL² training loss became nan at step 2; try a smaller learning rate"):
        train_rl2(k=2, n=2, steps=3, batch=2)


def test_rl2_policy_with_nan_weights_is_refused_not_evaluated():
    policy = RL2Policy(2, hidden=4)
    with torch.no_grad():
        policy.policy_head.bias.fill_(NAN)
    with pytest.raises(ValueError, match=r"weights hold NaN or ±inf \(first: policy_head.bias\).*train it again"):
        evaluate(policy, torch.rand(4, 2), n=2)
    with pytest.raises(ValueError, match="continue training holds NaN"):
        train_rl2(k=2, n=2, steps=1, batch=2, policy=policy)
    with pytest.raises(FloatingPointError, match="logits are NaN"):
        sample_categorical(torch.full((2, 3), NAN), torch.rand(2))


# --- MAML, pretrained, adaptation: NaN θ --------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"alpha": 1e4}, {"lr": 1e4}])
def test_train_maml_rl_stops_at_the_first_non_finite_value(kwargs):
    with pytest.raises(FloatingPointError, match=r"NaN or ±inf.* at step \d+; try a smaller learning rate"):
        train_maml_rl(small_policy(), 5, **TINY, **kwargs)


def test_train_pretrained_stops_at_the_first_non_finite_value():
    with pytest.raises(FloatingPointError, match=r"NaN or ±inf.* at step \d+; try a smaller learning rate \(lr=10000.0\)"):
        train_pretrained(small_policy(), 5, **TINY, lr=1e4)


def test_adaptation_returns_stops_at_a_non_finite_adapted_policy():
    policy = small_policy()
    with pytest.raises(FloatingPointError, match=r"actions became NaN or ±inf .* after 1 adaptation step; try a smaller inner step size \(alpha=1000000.0\)"):
        adaptation_returns(policy, policy.init(0), torch.zeros(2, 2), steps=2, alpha=1e6, episodes=2, horizon=5)


def test_adapt_refuses_a_non_finite_result():
    policy = small_policy()
    traj = trajectories(policy)
    params = per_task(policy.init(0))
    params["b1"] = params["b1"].detach().clone()
    params["b1"][0, 0] = math.inf
    params["b1"].requires_grad_()
    with pytest.raises(FloatingPointError, match=r"adapt: θ' = θ \+ α∇Ĵ became NaN or ±inf \(first: .*\); try a smaller"):
        adapt(policy.log_prob, params, traj, 0.1)


def test_learning_rates_are_checked_up_front():
    for train in (train_maml_rl, train_pretrained, train_es_maml):
        with pytest.raises(ValueError, match=r"lr \(the learning rate\) must be a positive number below 3.4e\+38"):
            train(small_policy(), 1, lr=1e300)
        with pytest.raises(ValueError, match="lr"):
            train(small_policy(), 1, lr=0)
    with pytest.raises(ValueError, match="lr .*positive number below"):
        train_rl2(2, 2, 1, batch=2, lr=1e300)
    with pytest.raises(ValueError, match="lr .*positive number below"):
        train_rl2(2, 2, 1, batch=2, lr=NAN)


# --- ES -------------------------------------------------------------------------------------------
def test_train_es_maml_never_updates_on_non_finite_fitness():
    with pytest.raises(FloatingPointError, match=r"at step 1; try a smaller perturbation scale \(sigma=1000000.0\)"):
        train_es_maml(small_policy(), 2, population=2, sigma=1e6, **TINY)


def test_centered_ranks_refuses_nan_and_es_gradient_non_finite_fitness():
    with pytest.raises(ValueError, match=r"x holds NaN at \[0, 3\], which has no rank"):
        centered_ranks(torch.tensor([NAN, 1.0, 2.0, NAN]))
    with pytest.raises(ValueError, match="1-D"):
        centered_ranks(torch.zeros(2, 2))
    assert centered_ranks(torch.tensor([math.inf, 0.0, -math.inf])).tolist() == [0.5, 0.0, -0.5]  # ±inf are ordered
    with pytest.raises(FloatingPointError, match="ES fitness became NaN or ±inf"):
        es_gradient(torch.tensor([NAN, 1.0]), torch.zeros(1, 3), 0.1)
    with pytest.raises(ValueError, match="sigma"):
        es_gradient(torch.tensor([0.0, 1.0]), torch.zeros(1, 3), 0.0)


def test_flatten_and_unflatten_check_their_input():
    params = small_policy().init(0)
    with pytest.raises(ValueError, match="non-empty dict of tensors"):
        flatten({})
    with pytest.raises(ValueError, match=r"vector must have shape \(\.\.\., 24\)"):
        unflatten(torch.zeros(5), params)
    assert torch.equal(unflatten(flatten(params), params)["W2"], params["W2"])


# --- params dicts --------------------------------------------------------------------------------
def test_empty_params_are_refused_not_replaced():
    with pytest.raises(ValueError, match=r"params do not fit GaussianMLPPolicy.*missing \['W1', 'b1', 'W2', 'b2', 'log_std'\]"):
        train_maml_rl(small_policy(), 1, **TINY, params={})


def test_params_keys_and_shapes_are_checked_against_the_policy():
    policy = small_policy()
    theta = policy.init(0)
    missing = {k: v for k, v in theta.items() if k != "W2"}
    with pytest.raises(ValueError, match=r"missing \['W2'\] \(it needs"):
        rollout(policy, missing, torch.zeros(2, 2), 2, 5)
    with pytest.raises(ValueError, match=r"unexpected \['W9'\]"):
        rollout(policy, {**theta, "W9": torch.zeros(1)}, torch.zeros(2, 2), 2, 5)
    with pytest.raises(ValueError, match=r"wrong shapes .*'W2': \(5, 5\).*'W2': '\(\.\.\., 4, 2\)'"):
        policy.mean({**theta, "W2": torch.zeros(5, 5)}, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="floating-point tensors"):
        policy.log_prob({**theta, "b1": [0.0] * 4}, torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2))
    with pytest.raises(ValueError, match="one dtype and device"):
        rollout(policy, {**theta, "W1": theta["W1"].double()}, torch.zeros(2, 2), 2, 5)
    with pytest.raises(ValueError, match="same leading .batch. dimensions"):
        rollout(policy, {**expand_params(theta, 2), "log_std": theta["log_std"]}, torch.zeros(2, 2), 2, 5)
    with pytest.raises(ValueError, match=r"one per goal \(leading dimension 2\)"):
        rollout(policy, expand_params(theta, 3), torch.zeros(2, 2), 2, 5)
    with pytest.raises(ValueError, match=r"params hold NaN or ±inf \(first: b1\)"):
        rollout(policy, {**theta, "b1": torch.full((4,), NAN)}, torch.zeros(2, 2), 2, 5)
    with pytest.raises(ValueError, match=r"params hold NaN or ±inf \(first: b1\)"):
        train_maml_rl(policy, 1, **TINY, params={**theta, "b1": torch.full((4,), NAN)})
    with pytest.raises(ValueError, match="without batch dimensions"):
        adaptation_returns(policy, expand_params(theta, 2), torch.zeros(2, 2), steps=1, episodes=2, horizon=5)
    with pytest.raises(ValueError, match="must be a dict of tensors"):
        rollout(policy, [theta], torch.zeros(2, 2), 2, 5)
    with pytest.raises(ValueError, match="GaussianMLPPolicy"):
        rollout("policy", theta, torch.zeros(2, 2), 2, 5)


def test_rollout_refuses_non_finite_actions():
    policy = small_policy()
    theta = {**policy.init(0), "log_std": torch.full((2,), 200.0)}  # σ = e^200 overflows float32
    with pytest.raises(FloatingPointError, match="actions became NaN or ±inf"):
        rollout(policy, theta, torch.zeros(2, 2), 2, 5)


def test_policy_methods_check_obs_actions_and_noise():
    policy = small_policy()
    theta = policy.init(0)
    with pytest.raises(ValueError, match=r"obs must be a torch.float32 tensor .* got torch.float64"):
        policy.mean(theta, torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"obs and actions must both have shape"):
        policy.log_prob(theta, torch.zeros(1, 2, 3, 2), torch.zeros(1, 2, 4, 2))
    with pytest.raises(ValueError, match="noise must be a tensor of the shape of obs"):
        policy.sample(theta, torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="floating-point torch.dtype"):
        policy.init(0, dtype=torch.int64)  # would silently give all-zero weights
    with pytest.raises(ValueError, match=r"hidden must be a non-empty tuple .*\(100,\) for one layer"):
        GaussianMLPPolicy(hidden=100)


def test_adapt_and_objectives_check_their_arguments():
    policy = small_policy()
    traj = trajectories(policy)
    with pytest.raises(ValueError, match="do not require gradients"):
        adapt(policy.log_prob, expand_params(policy.init(0), 2), traj, 0.1)
    with pytest.raises(ValueError, match="non-empty dict"):
        adapt(policy.log_prob, {}, traj, 0.1)
    with pytest.raises(ValueError, match="log_prob must be a function"):
        adapt(None, per_task(policy.init(0)), traj, 0.1)
    with pytest.raises(ValueError, match="alpha"):
        adapt(policy.log_prob, per_task(policy.init(0)), traj, -1.0)
    with pytest.raises(ValueError, match="Trajectories"):
        adapt(policy.log_prob, per_task(policy.init(0)), "episodes", 0.1)
    with pytest.raises(ValueError, match="first_order must be True or False"):
        adapt(policy.log_prob, per_task(policy.init(0)), traj, 0.1, first_order="yes")
    with pytest.raises(ValueError, match=r"baseline must have the rewards' shape \(m, n, T\) = \(2, 2, 5\)"):
        dice_objective(torch.zeros(2, 2, 5), traj, 0.9, baseline=torch.zeros(3))
    with pytest.raises(ValueError, match="reg"):
        linear_feature_baseline(traj, 0.9, reg=-1.0)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, NAN, "0.9", True])
def test_gamma_outside_0_1_is_refused_everywhere(gamma):
    policy = small_policy()
    traj = trajectories(policy)
    checks = [
        lambda: discounted_returns(torch.ones(2, 3), gamma),
        lambda: dice_objective(torch.zeros(2, 2, 5), traj, gamma),
        lambda: linear_feature_baseline(traj, gamma),
        lambda: adapt(policy.log_prob, per_task(policy.init(0)), traj, 0.1, gamma),
        lambda: train_rl2(2, 2, 1, batch=2, gamma=gamma),
        lambda: train_maml_rl(policy, 1, **TINY, gamma=gamma),
        lambda: train_pretrained(policy, 1, **TINY, gamma=gamma),
        lambda: train_es_maml(policy, 1, population=2, **TINY, gamma=gamma),
        lambda: adaptation_returns(policy, policy.init(0), torch.zeros(2, 2), gamma=gamma, episodes=2, horizon=5),
    ]
    for call in checks:
        with pytest.raises(ValueError, match=r"gamma \(the discount\) must be a number in \[0, 1\]"):
            call()


@pytest.mark.parametrize("cpu_seconds", [0, -1.0, NAN, "10"])
def test_cpu_seconds_must_be_positive(cpu_seconds):
    for call in (lambda: train_rl2(2, 2, 1, batch=2, cpu_seconds=cpu_seconds),
                 lambda: train_maml_rl(small_policy(), 1, **TINY, cpu_seconds=cpu_seconds),
                 lambda: train_pretrained(small_policy(), 1, **TINY, cpu_seconds=cpu_seconds),
                 lambda: train_es_maml(small_policy(), 1, population=2, **TINY, cpu_seconds=cpu_seconds)):
        with pytest.raises(ValueError, match="cpu_seconds must be a positive finite number"):
            call()


# --- legitimate edge cases keep working -----------------------------------------------------------
def test_no_adaptation_is_allowed():
    policy = small_policy()
    theta = policy.init(0)
    goals = torch.zeros(2, 2)
    assert adaptation_returns(policy, theta, goals, steps=0, episodes=2, horizon=5).shape == (1, 2)
    same = adaptation_returns(policy, theta, goals, steps=1, alpha=0.0, episodes=2, horizon=5)
    assert same.shape == (2, 2) and torch.isfinite(same).all()
    params = per_task(theta)
    adapted = adapt(policy.log_prob, params, trajectories(policy), 0.0)
    assert all(torch.equal(adapted[k], params[k]) for k in params)
    _, history = train_maml_rl(policy, 1, **TINY, alpha=0)
    assert math.isfinite(history.train["return_after"][0])
    _, history = train_es_maml(policy, 1, population=2, **TINY, alpha=0)
    assert math.isfinite(history.train["fitness"][0])
    params, _ = train_maml_rl(policy, 1, **TINY, params=policy.init(3))
    assert set(params) == set(theta)


def test_greedy_and_no_bonus_baselines_are_allowed():
    probs = torch.rand(3, 4, generator=torch.Generator().manual_seed(0))
    assert run_trials(EpsilonGreedy(0), probs, 5, seed=0).actions.shape == (3, 5)
    assert run_trials(UCB1(c=0), probs, 5, seed=0).actions.shape == (3, 5)
    assert run_trials(RandomArm(), probs, 2, noise=torch.zeros(3, 2)).rewards.eq(1).all() == bool((probs > 0).all())


# --- bandits: run_trials -------------------------------------------------------------------------
class ConstantArm(BanditPolicy):
    def __init__(self, arm, dtype=torch.long, shape=None):
        self.arm, self.dtype_, self.shape = arm, dtype, shape

    def act(self, t, generator):
        return torch.full(self.shape or (self.batch,), self.arm, dtype=self.dtype_)


def test_run_trials_validates_the_policys_actions():
    probs = torch.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"ConstantArm.act \(at pull 0\) must be arm indices in 0 … 3 \(k = 4 arms\), got \[-1"):
        run_trials(ConstantArm(-1), probs, 2)
    with pytest.raises(ValueError, match=r"ConstantArm.act \(at pull 0\) must be arm indices in 0 … 3.*got \[4"):
        run_trials(ConstantArm(4), probs, 2)
    with pytest.raises(ValueError, match=r"ConstantArm.act \(at pull 0\) must be an integer tensor.*float32"):
        run_trials(ConstantArm(1, torch.float32), probs, 2)
    with pytest.raises(ValueError, match=r"ConstantArm.act \(at pull 0\) must have shape \(3,\), got \(3, 1\)"):
        run_trials(ConstantArm(1, shape=(3, 1)), probs, 2)
    trials = run_trials(ConstantArm(2, torch.int32), probs, 2)  # any integer dtype is fine
    assert trials.actions.dtype == torch.long and trials.regret.shape == (3,)

    class ReturnsAList(BanditPolicy):
        def act(self, t, generator):
            return [0] * self.batch

    with pytest.raises(ValueError, match=r"ReturnsAList.act \(at pull 0\) must be a torch tensor"):
        run_trials(ReturnsAList(), probs, 2)
    with pytest.raises(ValueError, match=r"pass a policy object, e.g. UCB1\(\), not the class"):
        run_trials(UCB1, probs, 2)
    with pytest.raises(ValueError, match="policy must be a BanditPolicy"):
        run_trials(None, probs, 2)


@pytest.mark.parametrize("bad", [NAN, 5.0, -0.1, 1.0])
def test_run_trials_refuses_noise_outside_0_1(bad):
    noise = torch.full((3, 2), 0.5)
    noise[1, 1] = bad
    with pytest.raises(ValueError, match=r"noise must hold uniform numbers in \[0, 1\)"):
        run_trials(UCB1(), torch.full((3, 4), 0.5), 2, noise=noise)


def test_expected_regret_checks_the_actions():
    probs = torch.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"actions must be arm indices in 0 … 3"):
        expected_regret(probs, torch.full((3, 2), -1))
    with pytest.raises(ValueError, match="integer tensor"):
        expected_regret(probs, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"shape \(batch, n\) = \(3, n\), got list"):
        expected_regret(probs, [[0, 1]] * 3)


def test_evaluate_checks_trials_and_n():
    with pytest.raises(ValueError, match="trials .* must be a positive integer"):
        evaluate(UCB1(), BanditTasks(3, 4), trials=0)
    with pytest.raises(ValueError, match="n .* must be a positive integer, got 2.0"):
        evaluate(UCB1(), torch.rand(3, 3), n=2.0)


# --- RL² policy ----------------------------------------------------------------------------------
def test_unroll_refuses_arms_out_of_range_and_bad_rewards():
    policy = RL2Policy(5, hidden=4)
    with pytest.raises(ValueError, match=r"actions must be arm indices in 0 … 4 \(k = 5 arms\), got \[7"):
        policy.unroll(torch.full((2, 3), 7), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="integer tensor"):
        policy.unroll(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="batch, n >= 1"):
        policy.unroll(torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 0))
    with pytest.raises(ValueError, match="rewards must be finite"):
        policy.unroll(torch.zeros(2, 3, dtype=torch.long), torch.full((2, 3), NAN))
    with pytest.raises(ValueError, match=r"prev_actions must be arm indices in 0 … 4"):
        policy.inputs(torch.tensor([7]), torch.tensor([1.0]), 1)
    with pytest.raises(ValueError, match="greedy must be True or False"):
        RL2Policy(5, greedy="no")


def test_environments_and_task_streams_check_their_arguments():
    env = BernoulliBanditEnv(3, 4)
    with pytest.raises(ValueError, match="options must be a dict"):
        env.reset(options=[0.5, 0.5, 0.5])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="arm index"):
        env.step(True)
    with pytest.raises(ValueError, match="split must be one of"):
        BanditTasks(3, 4, split=["train"])
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        BanditTasks(3, 4, seed=1.0)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, a CPU torch.Generator or None, got -1"):
        run_trials(UCB1(), torch.rand(2, 3), 2, seed=-1)
    nav = PointNavigationEnv()
    with pytest.raises(ValueError, match=r"options\['goal'\] must be two finite numbers"):
        nav.reset(options={"goal": "ab"})
    nav.reset(seed=0)
    with pytest.raises(ValueError, match="action must be two finite numbers"):
        nav.step("ab")
    with pytest.raises(ValueError, match="greedy must be True or False"):
        rollout(small_policy(), small_policy().init(0), torch.zeros(1, 2), 1, 5, greedy="yes")
    with pytest.raises(ValueError, match="integer parameters >= 1"):
        beta_integer(torch.tensor([NAN]), torch.ones(1), torch.Generator())


# --- NumPy scalars are numbers ---------------------------------------------------------------------
def test_numpy_scalars_are_accepted_everywhere():
    i, f = np.int64, np.float32
    assert UCB1(f(1)).c == 1.0 and EpsilonGreedy(np.float64(0.2)).epsilon == 0.2 and Gittins(i(11)).grid == 11
    assert GaussianMLPPolicy(hidden=(i(3),), init_std=f(1)).init_std == 1.0
    assert gittins_table(i(3), grid=i(11)).shape == (4, 4, 4)
    env = BernoulliBanditEnv(i(3), np.int32(4))
    env.reset(seed=i(1))
    assert env.step(i(1))[3] is False
    assert PointNavigationEnv(i(3)).reset(seed=i(0))[0].shape == (2,)
    probs = BanditTasks(i(3), i(4), seed=i(2)).sample(i(5))
    for policy in (UCB1(), Thompson(), RandomArm(), RL2Policy(i(3), hidden=i(4), greedy=np.bool_(True))):
        assert run_trials(policy, probs, i(4), seed=i(1)).actions.shape == (5, 4)
    assert evaluate(UCB1(), BanditTasks(3, 4), trials=i(5), seed=i(0)).episodes == 5
    _, history = train_rl2(i(2), i(2), i(1), batch=i(2), hidden=i(4), lr=f(0.01), gamma=f(0.9), value_coef=f(0.1),
                           entropy_coef=f(0.01), max_grad_norm=f(1), seed=i(0), cpu_seconds=np.float64(60))
    assert len(history.train["loss"]) == 1
    policy = small_policy()
    theta = policy.init(i(3))
    goals = NavigationTasks(i(1)).sample(i(2))
    assert rollout(policy, theta, goals, i(2), i(5), seed=i(3)).returns.shape == (2, 2)
    assert oracle_returns(goals, i(5)).shape == (2,)
    assert expand_params(theta, i(2))["W1"].shape == (2, 2, 4)
    assert adapt(policy.log_prob, per_task(theta), trajectories(policy), f(0.1), f(0.9))["W1"].shape == (2, 2, 4)
    returns = adaptation_returns(policy, theta, goals, steps=i(1), alpha=f(0.01), episodes=i(2), gamma=f(0.9),
                                 horizon=i(5), seed=i(1))
    assert returns.shape == (2, 2)
    small = dict(meta_batch=i(2), episodes=i(2), horizon=i(5), lr=f(0.01), gamma=f(0.9), seed=i(0),
                 cpu_seconds=np.float64(60))
    assert len(train_maml_rl(policy, i(1), alpha=f(0.01), **small)[1].train["return_after"]) == 1
    assert len(train_pretrained(policy, i(1), **small)[1].train["return"]) == 1
    assert len(train_es_maml(policy, i(1), population=i(2), sigma=f(0.02), alpha=f(0.001), **small)[1].train["fitness"]) == 1
    assert es_gradient(torch.tensor([0.0, 1.0]), torch.ones(1, 3), f(0.1)).shape == (3,)


def test_sample_categorical_and_a2c_loss_check_their_input():
    with pytest.raises(ValueError, match=r"u must hold uniform numbers in \[0, 1\)"):
        sample_categorical(torch.zeros(2, 3), torch.tensor([0.5, NAN]))
    with pytest.raises(ValueError, match=r"logits \(batch, k\) and u \(batch,\)"):
        sample_categorical(torch.zeros(2, 3), torch.rand(3))
    assert sample_categorical(torch.zeros(2, 3), torch.tensor([0.0, 0.99])).tolist() == [0, 2]
    with pytest.raises(ValueError, match=r"logits \(B, n, k\) and values, actions, rewards \(B, n\)"):
        a2c_loss(torch.zeros(2, 3, 2), torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4),
                 0.9, 0.1, 0.1)
    with pytest.raises(ValueError, match=r"actions must be arm indices in 0 … 1"):
        a2c_loss(torch.zeros(2, 3, 2), torch.zeros(2, 3), torch.full((2, 3), 2), torch.zeros(2, 3), 0.9, 0.1, 0.1)
    with pytest.raises(ValueError, match="value_coef"):
        a2c_loss(torch.zeros(2, 3, 2), torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3),
                 0.9, -1.0, 0.1)
