"""Memory-based meta-learners: MANN (Santoro et al. 2016) and Meta Networks (Munkhdalai & Yu 2017).

The memory mechanics of MANN are checked against hand computations (least-used weights, LRUA
write weights, the usage update with decay γ, cosine read weights), and in a running model:
read weights are distributions, writes land on the least-used slots, the other slots are left
alone, and nothing leaks from one episode to the next. Bad input raises clear errors. Both
learners must actually learn: a few seconds of meta-training on Omniglot ``small1`` and MANN
reads the label back on a class's 2nd presentation far better than it guesses on the 1st, and
Meta Networks classify 5-way 1-shot episodes of alphabets they never saw well above chance.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import metalearn_lite as ml
from helpers import image_episode
from metalearn_lite import EpisodeSampler
from metalearn_lite.memory import (
    MANN, MetaNetwork, PixelEncoder, accuracy_by_presentation, cosine_read_weights, least_used_weights,
    lrua_write_weights, preprocess_gradients, presentation_numbers, update_usage,
)


def small_mann(**kwargs):
    ml.seed_everything(0)
    return MANN(**{"controller_size": 16, "memory_slots": 12, "memory_width": 8, "read_heads": 2, "max_way": 5, **kwargs})


def small_metanet(**kwargs):
    ml.seed_everything(0)
    return MetaNetwork(ml.ConvNet4(hidden=8), ml.ConvNet4(hidden=8), hidden=8, representation_dim=8, max_way=5, **kwargs)


# --- MANN: the memory mechanics by hand ----------------------------------------------------------------
def test_least_used_weights_mark_the_n_smallest_usages_in_order():
    usage = torch.tensor([[0.5, 0.1, 0.0, 0.3, 0.1]])
    w = least_used_weights(usage, 3)
    assert w.shape == (1, 3, 5)
    # smallest: slot 2 (0.0), then the tie 0.1 at slots 1 and 4 (lower index first)
    assert w[0].argmax(-1).tolist() == [2, 1, 4]
    assert torch.equal(w.sum(1), torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]]))  # the paper's w^lu
    with pytest.raises(ValueError, match="1 <= n <= 5"):
        least_used_weights(usage, 6)


def test_lrua_write_weights_and_usage_update_equal_a_hand_computation():
    prev_read = torch.tensor([[[0.7, 0.2, 0.1, 0.0]]])  # (B=1, H=1, S=4)
    prev_usage = torch.tensor([[1.0, 0.4, 0.0, 2.0]])
    least = least_used_weights(prev_usage, 1)
    assert least.tolist() == [[[0.0, 0.0, 1.0, 0.0]]]
    gate = torch.tensor([[0.25]])  # σ(α)
    write = lrua_write_weights(prev_read, least, gate)
    hand_write = [0.25 * 0.7, 0.25 * 0.2, 0.25 * 0.1 + 0.75, 0.0]
    assert torch.allclose(write, torch.tensor([[hand_write]]))
    read = torch.tensor([[[0.1, 0.1, 0.5, 0.3]]])
    usage = update_usage(prev_usage, read, write, gamma=0.95)
    hand_usage = [0.95 * u + r + w for u, r, w in zip([1.0, 0.4, 0.0, 2.0], [0.1, 0.1, 0.5, 0.3], hand_write)]
    assert torch.allclose(usage, torch.tensor([hand_usage]))
    # with no reads and no writes, usage only decays: u_t = γ u_{t-1}
    zero = torch.zeros_like(read)
    assert torch.allclose(update_usage(prev_usage, zero, zero, 0.5), 0.5 * prev_usage)


def test_cosine_read_weights_equal_a_hand_computation():
    keys = torch.tensor([[[1.0, 0.0]]])  # (1, 1, 2)
    memory = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [0.0, 0.0]]])  # the last slot is empty
    for beta in (1.0, 4.0):
        w = cosine_read_weights(keys, memory, torch.tensor([[beta]]))
        cos = torch.tensor([1.0, 0.0, 1 / math.sqrt(2), 0.0])
        assert torch.allclose(w[0, 0], torch.softmax(beta * cos, 0), atol=1e-6)
        assert torch.allclose(w.sum(-1), torch.ones(1, 1))


def test_presentation_numbers_count_earlier_occurrences():
    assert presentation_numbers(torch.tensor([0, 1, 0, 2, 1, 0])).tolist() == [1, 1, 2, 1, 2, 3]


# --- MANN: the mechanics in a running model ----------------------------------------------------------------
def test_read_weights_are_distributions_and_usage_follows_the_update_rule():
    learner = small_mann()
    ep = image_episode(n_way=3, k_shot=3)
    trace = learner.memory_trace(ep.support_x, ep.support_y)
    t, h, s = 9, 2, 12
    assert trace.read_weights.shape == (t, h, s) and trace.write_weights.shape == (t, h, s) and trace.usage.shape == (t, s)
    assert (trace.read_weights >= 0).all()
    assert torch.allclose(trace.read_weights.sum(-1), torch.ones(t, h), atol=1e-5)
    assert trace.scores.shape == (t, 3)
    assert trace.presentation.tolist() == [1, 2, 3, 1, 2, 3, 1, 2, 3]
    # u_t = γ u_{t−1} + Σ w^r_t + Σ w^w_t, from u_0 = 0
    previous = torch.zeros(s)
    for step in range(t):
        expected = learner.gamma * previous + trace.read_weights[step].sum(0) + trace.write_weights[step].sum(0)
        assert torch.allclose(trace.usage[step], expected, atol=1e-5)
        previous = trace.usage[step]


def test_writes_go_to_the_least_used_slots_and_leave_the_others_alone():
    learner = small_mann()
    with torch.no_grad():  # σ(α) → 0: LRUA writes only to the least-used slots
        for head in range(learner.heads):
            learner.interface.bias[head * (2 * learner.width + 2) + 2 * learner.width] = -50.0
    ep = image_episode(n_way=3, k_shot=3)
    trace = learner.memory_trace(ep.support_x, ep.support_y)
    usage = torch.cat([torch.zeros(1, learner.slots), trace.usage[:-1]])  # u_{t−1}
    for step in range(len(ep.support_y)):
        least = least_used_weights(usage[step:step + 1], learner.heads)[0]  # head j → j-th least used
        assert torch.allclose(trace.write_weights[step], least, atol=1e-6)
        assert torch.equal(trace.least_used[step], least.sum(0))
    # one step by hand: slots that are neither erased nor written keep their content exactly
    state = learner.initial_state(1)
    state.memory = torch.randn(1, learner.slots, learner.width)
    state.usage = torch.rand(1, learner.slots)
    features = learner.embed(ep.support_x[:1]).detach()
    with torch.no_grad():
        _, new, info = learner.step(state, features, F.one_hot(torch.tensor([1]), learner.max_way).float())
    untouched = info["least_used"][0] == 0
    assert int(untouched.sum()) == learner.slots - learner.heads
    assert torch.equal(new.memory[0, untouched], state.memory[0, untouched])
    assert not torch.allclose(new.memory[0, ~untouched], state.memory[0, ~untouched])


def test_memory_is_reset_between_episodes():
    learner = small_mann().eval()
    a, b = image_episode(seed=1), image_episode(seed=2)
    with torch.no_grad():
        first = learner.adapt(a.support_x, a.support_y)(a.query_x)
        again = learner.adapt(a.support_x, a.support_y)(a.query_x)  # the same episode, right after
        learner.adapt(b.support_x, b.support_y)(b.query_x)  # another episode in between
        after_b = learner.adapt(a.support_x, a.support_y)(a.query_x)
    assert first.shape == (6, 3)
    assert torch.equal(first, again) and torch.equal(first, after_b)
    # in a meta-batch the sequences run side by side: an episode's scores do not depend on its neighbours
    c = image_episode(seed=3)
    xa, ya = learner.episode_sequence(a, torch.Generator().manual_seed(0))
    xb, yb = learner.episode_sequence(b, torch.Generator().manual_seed(0))
    xc, yc = learner.episode_sequence(c, torch.Generator().manual_seed(0))
    with torch.no_grad():
        with_b, _ = learner.sequence_scores(torch.stack([xb, xa]), torch.stack([yb, ya]), random_slots=False)
        with_c, _ = learner.sequence_scores(torch.stack([xc, xa]), torch.stack([yc, ya]), random_slots=False)
    assert torch.allclose(with_b[1], with_c[1], atol=1e-6)


def test_queries_are_independent_of_each_other():
    learner = small_mann().eval()
    ep = image_episode(n_way=3, k_shot=2, q_queries=2)
    with torch.no_grad():
        predictor = learner.adapt(ep.support_x, ep.support_y)
        together = predictor(ep.query_x)
        alone = torch.cat([predictor(ep.query_x[i:i + 1]) for i in range(len(ep.query_x))])
        reversed_ = predictor(ep.query_x.flip(0)).flip(0)
    assert torch.allclose(together, alone, atol=1e-5) and torch.allclose(together, reversed_, atol=1e-5)


def test_mann_meta_loss_logs_first_and_later_presentations_and_trains():
    learner = small_mann()
    batch = ml.EpisodeBatch.stack([image_episode(seed=s) for s in range(3)])
    loss, metrics = learner.meta_loss(batch)
    assert set(metrics) == {"loss", "accuracy", "accuracy_1st", "accuracy_later"}
    loss.backward()
    assert all(p.grad is not None for p in learner.encoder.parameters())


# --- Meta Networks: the pieces -------------------------------------------------------------------------
def test_gradient_preprocessing_of_andrychowicz_et_al():
    g = torch.tensor([2.0, -1e-3, 1e-6, 0.0])
    out = preprocess_gradients(g, p=10.0)
    assert out.shape == (4, 3)
    assert torch.allclose(out[:2, 0], torch.log(g[:2].abs()) / 10) and out[:2, 1].tolist() == [1.0, -1.0]
    assert out[2:, 0].tolist() == [-1.0, -1.0]  # |g| < e^-10: (−1, e^10 g)
    assert torch.allclose(out[2:, 1], math.exp(10) * g[2:])
    assert torch.equal(out[:, 2], g)


def test_metanet_fast_weights_are_per_example_and_read_by_attention():
    learner = small_metanet().eval()
    ep = image_episode(n_way=3, k_shot=2, q_queries=2)
    with torch.no_grad():
        predictor = learner.adapt(ep.support_x, ep.support_y)
        scores = predictor(ep.query_x)
        memory_hidden, memory_output = predictor.memory
        # the gradients behind the fast weights are those of each support example's own loss
        h = learner.base_encoder(ep.support_x).flatten(1)
        grad_hidden, grad_output = learner.example_gradients(h, ep.support_y)
    assert scores.shape == (6, 3)
    assert memory_hidden.shape == (6, 8, 8) and memory_output.shape == (6, 5, 8)
    for i in (0, 3):
        hidden = learner.hidden_layer.weight.detach().clone().requires_grad_()
        output = learner.output_layer.weight.detach().clone().requires_grad_()
        z = F.relu(h[i] @ hidden.T + learner.hidden_layer.bias)
        s = (z @ output.T + learner.output_layer.bias)[:3]  # the 3 slots in play
        F.cross_entropy(s[None], ep.support_y[i:i + 1]).backward()
        assert torch.allclose(grad_hidden[i], hidden.grad, atol=1e-5)
        assert torch.allclose(grad_output[i], output.grad, atol=1e-5)
    assert torch.allclose(grad_output[:, 3:], torch.zeros(1))  # slots not in play get no gradient
    with torch.no_grad():
        again = learner.adapt(ep.support_x, ep.support_y)(ep.query_x)
    assert torch.equal(scores, again)  # nothing is kept from one adaptation to the next


# --- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [small_mann, small_metanet], ids=["mann", "metanet"])
def test_bad_episodes_raise_clear_errors(make):
    learner = make().eval()
    ep = image_episode(n_way=3, k_shot=2, q_queries=1)
    x, y = ep.support_x, ep.support_y
    with torch.no_grad():
        with pytest.raises(ValueError, match=r"no example of class \[1\]"):
            learner.adapt(x, torch.tensor([0, 0, 2, 2, 2, 0]))
        with pytest.raises(ValueError, match=r"no example of class \[0\]"):
            learner.adapt(x, y + 1)  # labels 1..3 instead of 0..2
        with pytest.raises(ValueError, match="0..N-1"):
            learner.adapt(x, y - 1)
        with pytest.raises(ValueError, match="6 examples but support_y has 5 labels"):
            learner.adapt(x, y[:5])
        with pytest.raises(ValueError, match="int64"):
            learner.adapt(x, y.float())
        with pytest.raises(ValueError, match=r"expects images of shape \(batch, 1, 28, 28\)"):
            learner.adapt(torch.rand(6, 1, 32, 32), y)
        with pytest.raises(ValueError, match="expects images of shape"):
            learner.adapt(torch.rand(6, 28, 28), y)  # channel dimension missing
        with pytest.raises(ValueError, match="this .* has 5 label slots"):
            learner.adapt(torch.rand(6, 1, 28, 28), torch.arange(6))
        predictor = learner.adapt(x, y)
        with pytest.raises(ValueError, match=r"query_x has shape \(2, 1, 32, 32\)"):
            predictor(torch.rand(2, 1, 32, 32))
        with pytest.raises(ValueError, match=r"query_x has shape \(1, 28, 28\)"):
            predictor(x[0])  # one query without its batch dimension
        assert predictor(ep.query_x).shape == (3, 3)


def test_mann_refuses_query_labels_outside_the_support_classes():
    learner = small_mann()
    ep = image_episode(n_way=3, k_shot=2, q_queries=1)
    ep.query_y = torch.tensor([0, 1, 3])
    with pytest.raises(ValueError, match=r"query labels must lie in 0..2"):
        learner.meta_loss(ml.EpisodeBatch.stack([ep]))
    with pytest.raises(ValueError, match="x has 6 examples but y has 5 labels"):
        learner.memory_trace(ep.support_x, ep.support_y[:5])
    with pytest.raises(TypeError, match="needs a MANN"):
        accuracy_by_presentation(small_metanet(), EpisodeSampler(ml.make_blob_classes(), 2, 1, 1))


def test_mann_refuses_an_encoder_with_batch_norm():
    # MANN embeds every step of every episode of a meta-batch in one batch: BatchNorm would mix them
    with pytest.raises(ValueError, match="BatchNorm layer .*mix images of different steps and episodes"):
        MANN(ml.ConvNet4(hidden=8))  # ConvNet4's default norm is "batch"
    with pytest.raises(ValueError, match="BatchNorm"):
        MANN(nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.BatchNorm1d(8)), feature_dim=8)
    for norm in ("layer", "group"):  # per-example normalisation is fine
        learner = MANN(ml.ConvNet4(hidden=8, norm=norm), controller_size=8, memory_slots=6, memory_width=4,
                       read_heads=2, max_way=3)
        ep = image_episode(n_way=3, k_shot=1, q_queries=1)
        assert learner.adapt(ep.support_x, ep.support_y)(ep.query_x).shape == (3, 3)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="gamma"):
        MANN(gamma=1.5)
    with pytest.raises(ValueError, match="read_heads=5 needs at least as many memory slots"):
        MANN(memory_slots=4, read_heads=5)
    with pytest.raises(ValueError, match="memory_width must be a positive integer"):
        MANN(memory_width=0)
    with pytest.raises(ValueError, match="binding_init=True needs previous_features=True"):
        MANN(previous_features=False)
    assert MANN(previous_features=False, interface_skip=False, binding_init=False, key_strength=False, max_way=5)
    with pytest.raises(ValueError, match="pass feature_dim="):
        MANN(nn.Flatten())
    with pytest.raises(ValueError, match="support_order"):
        MANN(support_order="sorted")
    with pytest.raises(ValueError, match="the encoder gives 784 features but feature_dim=10"):
        MANN(nn.Flatten(), feature_dim=10).adapt(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="pass base_dim="):
        MetaNetwork(base_encoder=nn.Flatten())
    with pytest.raises(ValueError, match="scale must be positive"):
        MetaNetwork(scale=0.0)
    with pytest.raises(ValueError, match="not divisible"):
        PixelEncoder(pool=3)


# --- learning on Omniglot ------------------------------------------------------------------------------
def test_mann_learns_to_bind_labels_on_omniglot(omniglot):
    """After ~80 meta-updates, the 2nd presentation of a class is read from memory (chance is 20%)."""
    train, test = omniglot
    ml.seed_everything(0)
    learner = MANN(controller_size=64, memory_slots=64, memory_width=32, read_heads=2)
    # 5-way episodes, each class presented 5 times (1 support + 4 query examples, shuffled together)
    history = ml.meta_train(learner, EpisodeSampler(train, 5, 1, 4, seed=0), steps=80, meta_batch_size=16, lr=3e-3,
                            progress=False)
    losses = history.train["loss"]
    assert sum(losses[-10:]) / 10 < 0.92 * math.log(5)
    curve = accuracy_by_presentation(learner, EpisodeSampler(test, 5, 1, 4, seed=1), episodes=100)
    assert len(curve.accuracy) == 5
    assert curve[2] - curve.ci95[1] > curve[1] + curve.ci95[0] + 0.1, str(curve)
    assert curve[2] > 0.3 and curve[5] > 0.4, str(curve)
    # the protocol: a 1-shot query is the 2nd presentation of its class
    result = ml.evaluate(learner, EpisodeSampler(test, 5, 1, 3, seed=2), 60)
    assert result.mean - result.ci95 > 0.28, str(result)


def test_meta_networks_learn_on_omniglot(omniglot):
    train, test = omniglot
    ml.seed_everything(0)
    learner = MetaNetwork(ml.ConvNet4(hidden=16), ml.ConvNet4(hidden=16))
    history = ml.meta_train(learner, EpisodeSampler(train, 5, 1, 3, seed=0), steps=100, meta_batch_size=2, lr=1e-3,
                            progress=False)
    losses = history.train["loss"]
    assert sum(losses[-20:]) / 20 < 0.75 * math.log(5)
    result = ml.evaluate(learner, EpisodeSampler(test, 5, 1, 3, seed=1), 60)
    assert result.mean - result.ci95 > 0.4, str(result)
    lake = ml.evaluate_lake(learner)  # 20-way, one model for any N ≤ max_way (chance: 95% errors)
    assert lake.total == 400 and lake.error < 0.9, str(lake)
