"""Bad input to the learners, `evaluate` and `meta_loss` gives a clear error, never a silent
wrong number: NaN or ±inf in the images, query labels outside the support's classes."""
import math

import pytest
import torch
from helpers import image_episode
from torch import nn

import metalearn_lite as ml
from metalearn_lite import EpisodeBatch
from metalearn_lite.gradient import ANIL, MAML, MetaSGD, Reptile
from metalearn_lite.memory import MANN, MetaNetwork
from metalearn_lite.metric import MatchingNetwork, ProtoNet, RelationNetwork


def learners():
    """One small learner of every kind, for 3-way episodes of 28×28 images."""
    ml.seed_everything(0)
    return {
        "protonet": lambda: ProtoNet(ml.ConvNet4(hidden=8)),
        "matching": lambda: MatchingNetwork(ml.ConvNet4(hidden=8)),
        "relation": lambda: RelationNetwork(hidden=8, relation_channels=8),
        "maml": lambda: MAML(ml.ConvNet4(hidden=8, out_features=3), alpha=0.1),
        "meta-sgd": lambda: MetaSGD(ml.ConvNet4(hidden=8, out_features=3), alpha=0.1),
        "anil": lambda: ANIL(ml.ConvNet4(hidden=8), nn.Linear(ml.ConvNet4(hidden=8).feature_dim, 3), alpha=0.1),
        "reptile": lambda: Reptile(ml.ConvNet4(hidden=8, out_features=3), inner_lr=0.1, inner_steps=1),
        "mann": lambda: MANN(controller_size=16, memory_slots=12, memory_width=8, read_heads=2, max_way=5),
        "metanet": lambda: MetaNetwork(ml.ConvNet4(hidden=8), ml.ConvNet4(hidden=8), hidden=8, representation_dim=8, max_way=5),
        "nearest-neighbour": lambda: ml.NearestNeighbour(),
    }


def with_nan(episode, field, value=math.nan, index=1):
    x = getattr(episode, field).clone()
    x[index, 0, 3, 4] = value
    setattr(episode, field, x)
    return episode


@pytest.mark.parametrize("name", list(learners()))
@pytest.mark.parametrize("field, value", [("support_x", math.nan), ("query_x", math.inf), ("query_x", -math.inf)])
def test_non_finite_images_raise_naming_the_tensor(name, field, value):
    learner = learners()[name]()
    episode = with_nan(image_episode(), field, value)
    with pytest.raises(ValueError, match=rf"episode 0 of the 1 evaluated: {field} holds non-finite values .* in 1 of its 6 "
                                         rf"examples, the first at index 1: repair or drop those examples"):
        ml.evaluate(learner, [episode])
    if name != "nearest-neighbour":  # pixel nearest neighbour has nothing to meta-train
        with pytest.raises(ValueError, match=rf"episode 0 of the meta-batch: {field} holds non-finite values"):
            learner.meta_loss(EpisodeBatch.stack([episode]))


@pytest.mark.parametrize("name", list(learners()))
def test_query_labels_outside_the_support_classes_raise(name):
    learner = learners()[name]()
    episode = image_episode()
    episode.query_y = torch.tensor([0, 0, 1, 1, 2, 4])
    message = r"query labels must lie in 0..2, the support set's classes, got \[4\]: number the query set's classes"
    with pytest.raises(ValueError, match="episode 0 of the 1 evaluated: " + message):
        ml.evaluate(learner, [episode])
    if name != "nearest-neighbour":
        batch = EpisodeBatch.stack([image_episode(seed=1), episode])
        with pytest.raises(ValueError, match="episode 1 of the meta-batch: " + message):
            learner.meta_loss(batch)


def test_regression_episodes_are_checked_for_finite_inputs_only():
    learner = MAML(ml.MLP(1, 1, (8,)), alpha=0.01, task_type="regression")
    episode = ml.SinusoidTasks(k_shot=5, seed=0).episode()
    assert ml.evaluate(learner, [episode]).episodes == 1  # float targets are not labels
    episode.support_x = episode.support_x.clone()
    episode.support_x[2, 0] = math.nan
    with pytest.raises(ValueError, match=r"support_x holds non-finite values \(1 NaN, 0 ±inf\) in 1 of its 5 examples, the first at index 2"):
        ml.evaluate(learner, [episode])


def test_check_query_lives_in_protocol_and_is_still_importable_from_protonet():
    from metalearn_lite import protocol
    from metalearn_lite.metric import matching, protonet

    assert protonet.check_query is protocol.check_query is matching.check_query
