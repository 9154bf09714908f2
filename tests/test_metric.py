"""Metric-based meta-learners: Matching Networks (with and without FCE), Prototypical Networks, Relation Networks.

The formulas are checked against hand computations on tiny examples (attention, ŷ, prototypes,
the linear classifier of Snell et al.'s eq. 8), the invariances against permuted support sets,
the input checks against bad episodes, and every method must actually learn: a few seconds of
meta-training on Omniglot ``small1`` and clearly above chance on alphabets it never saw.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import metalearn_lite as ml
from helpers import image_episode
from metalearn_lite import EpisodeSampler
from metalearn_lite.metric import (
    MatchingNetwork, ProtoNet, RelationEncoder, RelationNetwork, cosine_attention, label_distribution,
    prototype_linear_classifier,
)


def all_learners(hidden=8):
    return {
        "protonet": ProtoNet(ml.ConvNet4(hidden=hidden)),
        "protonet-cosine": ProtoNet(ml.ConvNet4(hidden=hidden), distance="cosine"),
        "matching": MatchingNetwork(ml.ConvNet4(hidden=hidden)),
        "matching-fce": MatchingNetwork(ml.ConvNet4(hidden=hidden), fce=True, processing_steps=2),
        "relation": RelationNetwork(hidden=hidden, relation_channels=hidden),
    }


# --- Matching Networks: the formulas ------------------------------------------------------------
def test_matching_attention_and_prediction_equal_a_hand_computation():
    # identity embedding on 2-d points: the cosines are easy to write down
    support_x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    support_y = torch.tensor([0, 1, 1])
    query_x = torch.tensor([[2.0, 0.0], [-1.0, 1.0]])
    for scale in (1.0, 5.0):
        learner = MatchingNetwork(nn.Identity(), scale=scale)
        r = 1 / math.sqrt(2)
        cosines = [[1.0, 0.0, r], [-r, r, 0.0]]  # c(x̂_q, x_i)
        hand_a = torch.tensor([[math.exp(scale * c) for c in row] for row in cosines])
        hand_a = hand_a / hand_a.sum(1, keepdim=True)
        hand_y = torch.stack([hand_a[:, 0], hand_a[:, 1] + hand_a[:, 2]], dim=1)  # Σᵢ a(x̂, xᵢ) one_hot(yᵢ)

        attention = learner.attention(support_x, support_y, query_x)
        assert torch.allclose(attention, hand_a, atol=1e-6)
        assert torch.allclose(cosine_attention(query_x, support_x, scale), hand_a, atol=1e-6)
        assert torch.allclose(label_distribution(attention, support_y, 2), hand_y, atol=1e-6)
        scores = learner.adapt(support_x, support_y)(query_x)
        assert scores.shape == (2, 2)
        assert torch.allclose(scores.exp(), hand_y, atol=1e-6)  # scores are log ŷ
        assert torch.allclose(scores.softmax(-1), hand_y, atol=1e-6)
        # cross-entropy on the scores is the paper's loss, −log ŷ of the true class
        targets = torch.tensor([0, 1])
        assert F.cross_entropy(scores, targets).item() == pytest.approx(-hand_y[[0, 1], [0, 1]].log().mean().item(), rel=1e-5)


@pytest.mark.parametrize("fce", [False, True])
def test_matching_attention_is_a_distribution_and_predictions_are_convex_combinations_of_labels(fce):
    ml.seed_everything(0)
    learner = MatchingNetwork(ml.ConvNet4(hidden=8), fce=fce, scale=10.0, processing_steps=2)
    ep = image_episode(n_way=4, k_shot=3, q_queries=2)
    with torch.no_grad():
        attention = learner.attention(ep.support_x, ep.support_y, ep.query_x)
        y_hat = label_distribution(attention, ep.support_y, 4)
        log_y_hat = learner.adapt(ep.support_x, ep.support_y)(ep.query_x)
    assert attention.shape == (8, 12) and (attention >= 0).all()
    assert torch.allclose(attention.sum(1), torch.ones(8), atol=1e-6)
    assert y_hat.shape == (8, 4) and (y_hat >= 0).all() and (y_hat <= 1).all()
    assert torch.allclose(y_hat.sum(1), torch.ones(8), atol=1e-6)
    # ŷ_k is the total attention on the support examples of class k
    for k in range(4):
        assert torch.allclose(y_hat[:, k], attention[:, ep.support_y == k].sum(1), atol=1e-6)
    assert torch.allclose(log_y_hat.exp(), y_hat, atol=1e-5)


# --- Prototypical Networks: the formulas ----------------------------------------------------------
def test_prototypes_are_class_means_and_scores_equal_the_linear_classifier_of_eq8():
    ml.seed_everything(1)
    learner = ProtoNet(ml.ConvNet4(hidden=8))
    ep = image_episode(n_way=3, k_shot=3, q_queries=4)
    support_y = torch.tensor([2, 0, 1, 0, 2, 1, 1, 0, 2])  # not sorted by class
    with torch.no_grad():
        prototypes = learner.prototypes(ep.support_x, support_y)
        z = learner.embed(ep.support_x)
        predictor = learner.adapt(ep.support_x, support_y)
        scores = predictor(ep.query_x)
        f = learner.embed(ep.query_x)
    assert prototypes.shape == (3, 64 // 8)  # hidden=8 filters × 1×1
    for k in range(3):
        assert torch.allclose(prototypes[k], z[support_y == k].mean(0), atol=1e-6)
    assert torch.allclose(predictor.prototypes, prototypes)
    # scores = −‖f − c_k‖²
    hand = -torch.stack([((f - c) ** 2).sum(1) for c in prototypes], dim=1)
    assert torch.allclose(scores, hand, atol=1e-4)
    # eq. 8: w_k = 2 c_k, b_k = −‖c_k‖² gives the same scores up to a per-query constant ‖f‖²
    w, b = prototype_linear_classifier(prototypes)
    assert torch.allclose(w, 2 * prototypes) and torch.allclose(b, -(prototypes**2).sum(1))
    linear = f @ w.T + b
    assert torch.allclose(linear - scores, (f**2).sum(1, keepdim=True).expand_as(scores), atol=1e-4)
    assert torch.equal(linear.argmax(1), scores.argmax(1))
    assert torch.allclose(linear.softmax(1), scores.softmax(1), atol=1e-5)


def test_cosine_protonet_scores_are_scaled_cosines_to_the_prototypes():
    learner = ProtoNet(nn.Identity(), distance="cosine", scale=3.0)
    support_x = torch.tensor([[2.0, 0.0], [4.0, 0.0], [0.0, 1.0]])
    scores = learner.adapt(support_x, torch.tensor([0, 0, 1]))(torch.tensor([[1.0, 1.0]]))
    r = 1 / math.sqrt(2)
    assert torch.allclose(scores, torch.tensor([[3 * r, 3 * r]]), atol=1e-6)
    with pytest.raises(ValueError, match="distance must be one of"):
        ProtoNet(distance="manhattan")


# --- invariance to the order of the support set ----------------------------------------------------
@pytest.mark.parametrize("name", ["protonet", "protonet-cosine", "matching"])
def test_order_of_the_support_set_does_not_matter(name):
    ml.seed_everything(2)
    learner = all_learners()[name]  # ConvNet4 with batch statistics: a permuted batch has the same statistics
    ep = image_episode(n_way=4, k_shot=3, q_queries=2)
    perm = torch.randperm(12)
    with torch.no_grad():
        scores = learner.adapt(ep.support_x, ep.support_y)(ep.query_x)
        permuted = learner.adapt(ep.support_x[perm], ep.support_y[perm])(ep.query_x)
    assert torch.allclose(scores, permuted, atol=1e-5)


def test_full_context_embeddings_depend_on_the_order_and_content_of_the_support_set():
    ml.seed_everything(3)
    encoder = ml.ConvNet4(hidden=8, norm="layer")  # per-example: without FCE, g(xᵢ) depends on xᵢ only
    plain = MatchingNetwork(encoder)
    fce = MatchingNetwork(encoder, fce=True, processing_steps=3)
    ep = image_episode(n_way=3, k_shot=2, q_queries=2)
    changed = ep.support_x.clone()
    changed[0] = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(9))
    perm = torch.tensor([1, 0, 3, 2, 5, 4])
    with torch.no_grad():
        # without FCE: other support examples and the queries keep their embeddings
        assert torch.allclose(plain.embed_support(changed)[1:], plain.embed_support(ep.support_x)[1:], atol=1e-6)
        g = plain.embed_support(ep.support_x)
        assert torch.allclose(plain.embed_query(ep.query_x, plain.embed_support(changed)), plain.embed_query(ep.query_x, g))
        # with FCE: changing one support example changes the others' g and every query's f
        g_fce, g_changed = fce.embed_support(ep.support_x), fce.embed_support(changed)
        assert not torch.allclose(g_fce[1:], g_changed[1:], atol=1e-4)
        assert not torch.allclose(fce.embed_query(ep.query_x, g_fce), fce.embed_query(ep.query_x, g_changed), atol=1e-4)
        # ... and reordering it changes the embeddings (not just their order) and the predictions
        assert not torch.allclose(fce.embed_support(ep.support_x[perm]), g_fce[perm], atol=1e-4)
        scores = fce.adapt(ep.support_x, ep.support_y)(ep.query_x)
        permuted = fce.adapt(ep.support_x[perm], ep.support_y[perm])(ep.query_x)
        assert not torch.allclose(scores, permuted, atol=1e-4)
        # with zero processing steps f is f' (only g sees the context)
        fce.fce.processing_steps = 0
        assert torch.allclose(fce.embed_query(ep.query_x, g_fce), fce.embed(ep.query_x))


# --- Relation Networks -------------------------------------------------------------------------------
def test_relation_network_sums_class_feature_maps_and_scores_pairs_in_0_1():
    ml.seed_everything(4)
    learner = RelationNetwork(hidden=8, relation_channels=8, norm="layer")
    ep = image_episode(n_way=3, k_shot=2, q_queries=2)
    with torch.no_grad():
        maps = learner.encoder(ep.support_x)
        class_maps = learner.class_feature_maps(ep.support_x, ep.support_y)
        scores = learner.adapt(ep.support_x, ep.support_y)(ep.query_x)
        query_maps = learner.encoder(ep.query_x)
        by_hand = learner.relation(torch.cat([class_maps[2], query_maps[1]])[None])
    assert maps.shape == (6, 8, 7, 7) and learner.feature_shape == (8, 7, 7)  # 28 -> 14 -> 7 -> 7 -> 7
    assert torch.allclose(class_maps, maps.view(3, 2, 8, 7, 7).sum(1), atol=1e-6)  # K-shot: sum per class
    assert scores.shape == (6, 3) and (scores >= 0).all() and (scores <= 1).all()
    assert torch.allclose(scores[1, 2], by_hand[0], atol=1e-6)  # per-example norm: a pair alone gives the same score
    # the loss is the MSE to one-hot targets (eq. 2), and meta_loss uses it
    targets = ep.query_y
    assert learner.loss(scores, targets).item() == pytest.approx(((scores - F.one_hot(targets, 3)) ** 2).mean().item())
    loss, metrics = learner.meta_loss(ml.EpisodeBatch.stack([ep, ep]))
    assert set(metrics) == {"loss", "accuracy"} and metrics["loss"] == pytest.approx(loss.item())
    assert loss.item() == pytest.approx(learner.loss(learner.adapt(ep.support_x, ep.support_y)(ep.query_x), targets).item(), rel=1e-5)
    # class_pooling="mean" averages the K maps instead (a class map that does not grow with K)
    learner.class_pooling = "mean"
    with torch.no_grad():
        assert torch.allclose(learner.class_feature_maps(ep.support_x, ep.support_y), class_maps / 2, atol=1e-6)


def test_relation_network_needs_feature_maps():
    with pytest.raises(ValueError, match="must return feature maps"):
        RelationNetwork(encoder=ml.ConvNet4(hidden=8))
    with pytest.raises(ValueError, match="too small"):
        RelationNetwork(encoder=RelationEncoder(hidden=8, image_size=12), image_shape=(1, 12, 12))
    with pytest.raises(ValueError, match="class_pooling must be"):
        RelationNetwork(hidden=8, class_pooling="max")


# --- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["protonet", "matching", "matching-fce", "relation"])
def test_bad_episodes_raise_clear_errors(name):
    learner = all_learners()[name]
    ep = image_episode(n_way=3, k_shot=2, q_queries=1)
    x, y = ep.support_x, ep.support_y
    with torch.no_grad():
        with pytest.raises(ValueError, match=r"no example of class \[1\]"):
            learner.adapt(x, torch.tensor([0, 0, 2, 2, 2, 0]))
        with pytest.raises(ValueError, match=r"no example of class \[0\]"):
            learner.adapt(x, y + 1)  # labels 1..3 instead of 0..2
        with pytest.raises(ValueError, match="6 examples but support_y has 5 labels"):
            learner.adapt(x, y[:5])
        with pytest.raises(ValueError, match="int64"):
            learner.adapt(x, y.float())
        with pytest.raises(ValueError, match=r"expects images of shape \(batch, 1, 28, 28\)"):
            learner.adapt(torch.rand(6, 1, 32, 32), y)
        with pytest.raises(ValueError, match=r"expects images of shape"):
            learner.adapt(torch.rand(6, 28, 28), y)  # channel dimension missing
        predictor = learner.adapt(x, y)
        with pytest.raises(ValueError, match=r"query_x has shape \(2, 1, 32, 32\) but the support examples have shape \(1, 28, 28\)"):
            predictor(torch.rand(2, 1, 32, 32))
        with pytest.raises(ValueError, match=r"query_x has shape \(1, 28, 28\)"):
            predictor(x[0])  # one query without its batch dimension
        assert predictor(ep.query_x).shape == (3, 3)


def test_negative_labels_raise_a_clear_error():
    with pytest.raises(ValueError, match="0..N-1"):
        ProtoNet(ml.ConvNet4(hidden=8)).adapt(torch.rand(2, 1, 28, 28), torch.tensor([-1, 0]))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="scale must be positive"):
        MatchingNetwork(scale=0.0)
    with pytest.raises(ValueError, match="processing_steps must be an integer >= 0"):
        MatchingNetwork(fce=True, processing_steps=-1)
    with pytest.raises(ValueError, match="pass embedding_dim="):
        MatchingNetwork(nn.Sequential(nn.Flatten(), nn.Linear(784, 16)), fce=True)
    assert MatchingNetwork(nn.Sequential(nn.Flatten(), nn.Linear(784, 16)), fce=True, embedding_dim=16).fce.dim == 16


# --- meta-training on Omniglot ----------------------------------------------------------------------
def test_protonet_trains_with_more_ways_than_it_is_tested_on(omniglot):
    train, test = omniglot
    ml.seed_everything(0)
    learner = ProtoNet(ml.ConvNet4(hidden=8))
    history = ml.meta_train(learner, EpisodeSampler(train, 20, 1, 1, seed=0), steps=2, meta_batch_size=1, progress=False)
    assert len(history.train["loss"]) == 2
    for n_way in (5, 20):
        result = ml.evaluate(learner, EpisodeSampler(test, n_way, 1, 1, seed=1), 3)
        assert result.episodes == 3


# method -> (learner factory, accuracy it must beat on unseen alphabets, 5-way 1-shot; chance is 0.2)
METHODS = {
    "protonet": (lambda: ProtoNet(ml.ConvNet4(hidden=16)), 0.5),
    "matching": (lambda: MatchingNetwork(ml.ConvNet4(hidden=16)), 0.35),
    "matching-fce": (lambda: MatchingNetwork(ml.ConvNet4(hidden=16), fce=True, processing_steps=3), 0.35),
    "relation": (lambda: RelationNetwork(hidden=16, relation_channels=16), 0.35),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_meta_training_on_omniglot_transfers_to_unseen_alphabets(name, omniglot):
    train, test = omniglot
    make, threshold = METHODS[name]
    ml.seed_everything(0)
    learner = make()
    history = ml.meta_train(learner, EpisodeSampler(train, 5, 1, 3, seed=0), steps=100, meta_batch_size=2, lr=1e-3, progress=False)
    result = ml.evaluate(learner, EpisodeSampler(test, 5, 1, 3, seed=1), 60)
    losses = history.train["loss"]
    assert sum(losses[-20:]) < sum(losses[:20])
    assert result.mean - result.ci95 > threshold, f"{name}: {result}"
    if name == "protonet":  # the learner also runs Lake et al.'s 20-way benchmark (chance: 95% errors)
        lake = ml.evaluate_lake(learner)
        assert lake.total == 400 and lake.error < 0.8, str(lake)
