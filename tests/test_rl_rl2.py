"""RL² (Duan et al. 2016): the GRU policy's memory spans exactly one trial, the A2C loss is the
one written down, and a short meta-training run beats random arms on held-out tasks."""
import pytest
import torch

from metalearn_lite.rl import BanditTasks, RandomArm, RL2Policy, evaluate, run_trials, train_rl2
from metalearn_lite.rl.rl2 import a2c_loss, discounted_returns, sample_categorical


def scripted_trial(policy, probs, actions, rewards):
    """Drive the policy through one batch of trials by hand (reset, then act/observe n times),
    with the given rewards; returns the logits at every pull, (batch, n, k)."""
    policy.reset(probs, rewards.shape[1])
    logits = []
    for t in range(rewards.shape[1]):
        policy.act(t, torch.Generator().manual_seed(t))
        logits.append(policy.last_logits)
        policy.observe(actions[:, t], rewards[:, t])
    return torch.stack(logits, 1)


def test_inputs_are_previous_action_reward_and_first_flag():
    policy = RL2Policy(3, hidden=4)
    assert policy.inputs(None, None, 2).tolist() == [[0, 0, 0, 0, 1]] * 2
    x = policy.inputs(torch.tensor([2, 0]), torch.tensor([1.0, 0.0]), 2)
    assert x.tolist() == [[0, 0, 1, 1, 0], [1, 0, 0, 0, 0]]


def test_hidden_state_spans_the_trial_and_is_reset_between_trials():
    torch.manual_seed(0)
    policy = RL2Policy(4, hidden=8)
    probs = torch.full((3, 4), 0.5)
    actions = torch.tensor([[0, 1, 2, 3, 0, 1]] * 3)
    rewards = torch.tensor([[1.0, 0, 1, 1, 0, 1]] * 3)
    with torch.no_grad():
        first = scripted_trial(policy, probs, actions, rewards)
        # the same trial run twice: identical outputs at every pull
        assert torch.equal(scripted_trial(policy, probs, actions, rewards), first)
        # a different reward at pull 0 changes every later output of the trial, not pull 0's
        changed = rewards.clone()
        changed[:, 0] = 0.0
        other = scripted_trial(policy, probs, actions, changed)
        assert torch.equal(other[:, 0], first[:, 0])
        assert all(not torch.allclose(other[:, t], first[:, t]) for t in range(1, 6))
        # ... and nothing of the next trial: reset() forgets it
        assert torch.equal(scripted_trial(policy, probs, actions, rewards), first)
        # teacher forcing (unroll) gives the same logits, and pull t sees only pulls < t
        logits, values = policy.unroll(actions, rewards)
        assert torch.allclose(logits, first, atol=1e-6) and values.shape == (3, 6)
        late = rewards.clone()
        late[:, 3] = 0.0
        logits_late, _ = policy.unroll(actions, late)
        assert torch.equal(logits_late[:, :4], logits[:, :4]) and not torch.allclose(logits_late[:, 4:], logits[:, 4:])


def test_run_trials_with_rl2_repeats_and_matches_unroll():
    torch.manual_seed(1)
    policy = RL2Policy(5, hidden=16)
    probs = BanditTasks(5, 12, seed=0, split="test").sample(40)
    with torch.no_grad():
        a = run_trials(policy, probs, 12, seed=3)
        b = run_trials(policy, probs, 12, seed=3)
        assert torch.equal(a.actions, b.actions) and torch.equal(a.rewards, b.rewards)
        # the actions are samples from π at each pull of the trial that was actually played
        logits, _ = policy.unroll(a.actions, a.rewards)
        log_pi = torch.log_softmax(logits, -1).gather(-1, a.actions.unsqueeze(-1))
        assert (log_pi > -30).all()
        policy.greedy = True
        greedy = run_trials(policy, probs, 12, seed=3)
        logits, _ = policy.unroll(greedy.actions, greedy.rewards)
        assert torch.equal(logits.argmax(-1), greedy.actions)
    with pytest.raises(ValueError, match="built for k = 5 arms, but the tasks have 3"):
        run_trials(policy, torch.full((2, 3), 0.5), 4)


def test_sample_categorical_is_the_inverse_cdf():
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]]))
    u = torch.tensor([0.0, 0.19, 0.21, 0.99])
    assert sample_categorical(logits.expand(4, 3), u).tolist() == [0, 0, 1, 2]
    draws = sample_categorical(logits.expand(20000, 3), torch.rand(20000, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(torch.bincount(draws, minlength=3) / 20000, torch.tensor([0.2, 0.5, 0.3]), atol=0.015)


def test_discounted_returns_and_a2c_loss_by_hand():
    r = torch.tensor([[1.0, 0.0, 1.0]])
    assert torch.allclose(discounted_returns(r, 0.5), torch.tensor([[1.25, 0.5, 1.0]]))
    assert torch.equal(discounted_returns(r, 1.0), torch.tensor([[2.0, 1.0, 1.0]]))
    torch.manual_seed(2)
    logits = torch.randn(2, 3, 4, requires_grad=True)
    values = torch.randn(2, 3, requires_grad=True)
    actions, rewards = torch.tensor([[0, 3, 1], [2, 2, 0]]), torch.tensor([[1.0, 0, 1], [0, 1, 1]])
    loss, metrics = a2c_loss(logits, values, actions, rewards, gamma=0.9, value_coef=0.5, entropy_coef=0.01)
    g = discounted_returns(rewards, 0.9)
    pi = torch.softmax(logits, -1)
    log_prob = torch.log(pi.gather(-1, actions.unsqueeze(-1)).squeeze(-1))
    entropy = -(pi * torch.log(pi)).sum(-1)
    by_hand = -(log_prob * (g - values.detach())).mean() + 0.5 * ((g - values) ** 2).mean() - 0.01 * entropy.mean()
    assert torch.allclose(loss, by_hand)
    assert metrics["entropy"] == pytest.approx(entropy.mean().item())
    # the advantage is a constant: the value head gets gradient from the value loss only
    (grad_v,) = torch.autograd.grad(loss, values)
    assert torch.allclose(grad_v, 0.5 * 2 * (values - g).detach() / 6)
    # normalised advantages: mean 0, standard deviation 1 over the batch
    loss_n, _ = a2c_loss(logits, values, actions, rewards, gamma=0.9, value_coef=0.5, entropy_coef=0.01,
                         normalize_advantages=True)
    adv = (g - values).detach()
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    by_hand_n = -(log_prob * adv).mean() + 0.5 * ((g - values) ** 2).mean() - 0.01 * entropy.mean()
    assert torch.allclose(loss_n, by_hand_n)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 1}, "k .*>= 2"), ({"n": 0}, "n .*positive integer"), ({"steps": 0}, "steps"), ({"batch": 0}, "batch"),
    ({"lr": 0}, "lr"), ({"gamma": 1.5}, "gamma"), ({"entropy_coef": -1}, "entropy_coef"),
    ({"cpu_seconds": 0}, "cpu_seconds"), ({"policy": RL2Policy(3)}, "RL2Policy for k = 5"),
])
def test_train_rl2_refuses_bad_arguments(kwargs, message):
    arguments = {"k": 5, "n": 10, "steps": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        train_rl2(**arguments)


def test_rl2_policy_refuses_bad_sizes():
    with pytest.raises(ValueError, match="k .*>= 2"):
        RL2Policy(1)
    with pytest.raises(ValueError, match="hidden"):
        RL2Policy(3, hidden=0)
    with pytest.raises(ValueError, match=r"shape \(batch, n\)"):
        RL2Policy(3).unroll(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 5))


def test_train_rl2_is_reproducible_and_logs_history():
    torch.set_num_threads(1)
    a, history = train_rl2(3, 4, steps=3, batch=8, hidden=8, seed=7)
    b, _ = train_rl2(3, 4, steps=3, batch=8, hidden=8, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not a.training and set(history.train) == {"reward", "loss", "policy_loss", "value_loss", "entropy", "cpu_seconds"}
    assert len(history.train["reward"]) == 3 and all(0 <= r <= 4 for r in history.train["reward"])
    _, short = train_rl2(3, 4, steps=10_000, batch=8, hidden=8, cpu_seconds=0.05)
    assert len(short.train["reward"]) < 10_000 and short.train["cpu_seconds"][-1] >= 0.05


def test_rl2_learns_to_beat_random_arms_on_held_out_tasks():
    """k = 5, n = 10: 700 A2C updates (about 8 s on one thread) give a clearly better agent than
    random arms on 1000 meta-test tasks (the same tasks and outcomes for both); measured margin
    (seed 0) about 5.6 times the summed CI half-widths, asserted 3."""
    torch.set_num_threads(1)
    policy, history = train_rl2(5, 10, steps=700, seed=0)
    probs = BanditTasks(5, 10, seed=0, split="test").sample(1000)
    rl2, random = evaluate(policy, probs, 10, seed=1), evaluate(RandomArm(), probs, 10, seed=1)
    print(f"RL² {rl2.mean:.2f} ± {rl2.ci95:.2f}, random {random.mean:.2f} ± {random.ci95:.2f}")
    assert rl2.mean > random.mean + 3 * (rl2.ci95 + random.ci95), (rl2, random)
    first, last = history.train["reward"][:50], history.train["reward"][-50:]
    assert sum(last) / 50 > sum(first) / 50 + 0.5  # it improved while training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runner_and_training_on_cuda_match_the_cpu():
    """Randomness is drawn on the CPU, so the same seed gives the same trials on the GPU."""
    from metalearn_lite.rl import UCB1, Thompson

    probs = BanditTasks(5, 20, seed=0, split="test").sample(64).double()
    for policy in (UCB1(), Thompson(), RandomArm()):
        cpu, gpu = run_trials(policy, probs, 20, seed=2), run_trials(policy, probs.cuda(), 20, seed=2)
        assert gpu.actions.device.type == "cuda" and torch.equal(cpu.actions, gpu.actions.cpu())
        assert torch.equal(cpu.rewards, gpu.rewards.cpu())
    policy, history = train_rl2(5, 10, steps=3, batch=16, hidden=8, device="cuda")
    assert next(policy.parameters()).device.type == "cuda" and len(history.train["reward"]) == 3
    assert evaluate(policy, probs.float().cuda(), 10, seed=0).episodes == 64
