"""Bad input to the learners, `evaluate` and `meta_loss` gives a clear error, never a silent
wrong number or a deep torch error: NaN or ±inf in the images, query labels outside the support's
classes, a Reptile model with the wrong number of outputs, NumPy arrays or lists as inputs; NumPy
integers are accepted wherever a size is."""
import math

import numpy as np
import pytest
import torch
from helpers import image_episode
from torch import nn

import metalearn_lite as ml
from metalearn_lite import EpisodeBatch
from metalearn_lite.gradient import ANIL, MAML, MetaSGD, Reptile
from metalearn_lite.memory import MANN, MetaNetwork
from metalearn_lite.metric import MatchingNetwork, ProtoNet, RelationNetwork, SiameseNetwork


def learners():
    """One small learner of every kind, for 3-way episodes of 28×28 images."""
    ml.seed_everything(0)
    return {
        "protonet": lambda: ProtoNet(ml.ConvNet4(hidden=8)),
        "matching": lambda: MatchingNetwork(ml.ConvNet4(hidden=8)),
        "relation": lambda: RelationNetwork(hidden=8, relation_channels=8),
        "siamese": lambda: SiameseNetwork(ml.ConvNet4(hidden=8)),
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
    message = r"support_x holds non-finite values \(1 NaN, 0 ±inf\) in 1 of its 5 examples, the first at index 2"
    with pytest.raises(ValueError, match=message):
        ml.evaluate(learner, [episode])


def test_check_query_lives_in_protocol_and_is_still_importable_from_protonet():
    from metalearn_lite import protocol
    from metalearn_lite.metric import matching, protonet

    assert protonet.check_query is protocol.check_query is matching.check_query


# --- Reptile's output check, NumPy integers as sizes, NumPy arrays and lists as inputs ----------------
@pytest.mark.parametrize("outputs", [2, 5])
def test_reptile_refuses_a_model_whose_outputs_do_not_match_the_ways(outputs):
    learner = Reptile(ml.ConvNet4(hidden=8, out_features=outputs), inner_lr=0.1, inner_steps=1)
    episode = image_episode(n_way=3)
    message = r"the model outputs scores of shape \(\d+, %d\) but the task has 3 classes; build it with 3 outputs" % outputs
    with pytest.raises(ValueError, match=message):
        learner.adapt(episode.support_x, episode.support_y)
    with pytest.raises(ValueError, match=message):
        learner.meta_loss(EpisodeBatch.stack([episode]))


def test_numpy_integers_are_accepted_as_sizes():
    n = np.int64
    sampler = ml.EpisodeSampler(ml.make_blob_classes(), n_way=n(3), k_shot=np.int32(2), q_queries=n(1))
    assert (sampler.n_way, sampler.k_shot, sampler.q_queries) == (3, 2, 1) and type(sampler.n_way) is int
    assert len(sampler.sample(n(2))) == 2
    maml = MAML(ml.MLP(4, 3, (8,)), alpha=np.float32(0.1), inner_steps=n(2))
    assert maml.inner_steps == maml.test_inner_steps == 2 and type(maml.inner_steps) is int
    reptile = Reptile(ml.MLP(4, 3, (8,)), inner_lr=0.1, inner_steps=n(3), test_inner_steps=n(4))
    assert (reptile.inner_steps, reptile.test_inner_steps) == (3, 4)
    assert ml.FineTune(ml.ConvNet4(hidden=8), steps=n(2), lr=np.float32(0.01)).steps == 2
    assert MatchingNetwork(ml.ConvNet4(hidden=8), fce=True, processing_steps=n(1)).fce.processing_steps == 1
    mann = MANN(controller_size=n(16), memory_slots=n(12), memory_width=n(8), read_heads=n(2), max_way=n(5))
    assert mann.max_way == 5 and mann.heads == 2
    assert MetaNetwork(ml.ConvNet4(hidden=8), ml.ConvNet4(hidden=8), hidden=n(8), representation_dim=n(8), max_way=n(5)).max_way == 5
    history = ml.meta_train(ProtoNet(ml.MLP(32, 8, (8,))), ml.EpisodeSampler(ml.make_blob_classes(dim=32), 3, 1, 1),
                            steps=n(2), meta_batch_size=n(2), progress=False)
    assert history.train["step"] == [1, 2]
    for bad in (True, 2.0, "2", None):
        with pytest.raises(ValueError, match="must be a positive integer"):
            ml.EpisodeSampler(ml.make_blob_classes(), n_way=bad, k_shot=1)
        with pytest.raises(ValueError, match="must be an integer >= 0"):
            Reptile(ml.MLP(4, 3, (8,)), inner_lr=0.1, inner_steps=bad)


@pytest.mark.parametrize("name", ["protonet", "siamese", "maml", "reptile", "mann", "nearest-neighbour"])
def test_numpy_arrays_and_lists_as_inputs_get_a_clear_error(name):
    learner = learners()[name]()
    episode = image_episode()
    with pytest.raises(TypeError, match=r"support_x must be a torch.Tensor, got a numpy.ndarray: convert it first, "
                                        r"e.g. support_x = torch.as_tensor\(support_x, dtype=torch.float32\)"):
        learner.adapt(episode.support_x.numpy(), episode.support_y)
    with pytest.raises(TypeError, match=r"support_y must be a torch.Tensor, got a list: .*dtype=torch.long"):
        learner.adapt(episode.support_x, episode.support_y.tolist())
    numpy_queries = ml.Episode(episode.support_x, episode.support_y, episode.query_x.numpy(), episode.query_y)
    with pytest.raises(TypeError, match=r"query_x must be a torch.Tensor, got a numpy.ndarray"):
        ml.evaluate(learner, [numpy_queries])
    list_labels = ml.Episode(episode.support_x, episode.support_y, episode.query_x, episode.query_y.tolist())
    with pytest.raises(TypeError, match=r"query_y must be a torch.Tensor, got a list"):
        ml.evaluate(learner, [list_labels])
