"""Transfer learning (metalearn_lite.transfer): pretraining works, fine-tuning never touches the
pretrained body, beats training from scratch on new classes, and bad arguments say what is wrong."""
import copy

import pytest
import torch
from torch import nn

import metalearn_lite as ml
from metalearn_lite.transfer import FineTune, feature_dim, pretrain


def mlp_body(dim: int = 32, width: int = 32) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, width), nn.ReLU())


def last_epoch_accuracy(history) -> float:
    last = max(history.train["epoch"])
    accs = [a for a, e in zip(history.train["accuracy"], history.train["epoch"]) if e == last]
    return sum(accs) / len(accs)


@pytest.fixture(scope="module")
def blob_split():
    return ml.make_blob_classes().split_by_alphabet(["group0", "group1", "group2"])


@pytest.fixture(scope="module")
def pretrained_blob_body(blob_split):
    ml.seed_everything(0)
    body, history = pretrain(mlp_body(), blob_split[0], epochs=10, lr=1e-2, batch_size=64, progress=False)
    return body, history


def test_pretrain_on_blobs_ends_far_above_chance(pretrained_blob_body, blob_split):
    body, history = pretrained_blob_body
    chance = 1 / blob_split[0].num_classes  # 48 classes
    assert last_epoch_accuracy(history) > 0.5 > 10 * chance
    steps = history.train["step"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) == 10 * -(-len(blob_split[0]) // 64)
    assert set(history.train) >= {"step", "epoch", "loss", "accuracy", "seconds"}
    assert history.train["loss"][-1] < history.train["loss"][0]


def test_pretrain_is_repeatable_with_a_seed(blob_split):
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        body, history = pretrain(mlp_body(), blob_split[0], epochs=1, batch_size=32, seed=3, progress=False)
        runs.append((body.state_dict(), history.train["loss"]))
    assert runs[0][1] == runs[1][1]
    assert all(torch.equal(runs[0][0][k], runs[1][0][k]) for k in runs[0][0])


def test_pretrain_on_omniglot_small1_learns_its_classes(omniglot_root):
    background = ml.load_omniglot("images_background_small1", root=omniglot_root)
    twenty = background.subset(list(range(20)))  # 20 characters x 20 drawings, a few seconds
    ml.seed_everything(0)
    body, history = pretrain(ml.ConvNet4(hidden=16), twenty, epochs=5, lr=3e-3, batch_size=32, progress=False)
    assert last_epoch_accuracy(history) > 0.3 > 5 * (1 / 20)
    assert feature_dim(body, twenty.x[:2]) == 16


def test_finetune_never_changes_the_pretrained_body(pretrained_blob_body, blob_split):
    body, _ = pretrained_blob_body
    before = copy.deepcopy(body.state_dict())
    flags = [p.requires_grad for p in body.parameters()]
    episode = ml.EpisodeSampler(blob_split[1], n_way=5, k_shot=2, q_queries=3, seed=0).episode()
    for head_only in (False, True):
        predictor = FineTune(body, steps=10, lr=1e-2, head_only=head_only).adapt(episode.support_x, episode.support_y)
        assert predictor(episode.query_x).shape == (15, 5)
        adapted_body = predictor[0]
        assert adapted_body is not body
        changed = any(not torch.equal(p, before[k]) for k, p in adapted_body.state_dict().items())
        assert changed != head_only  # full fine-tuning moves the copy; head-only leaves it alone
    assert all(torch.equal(body.state_dict()[k], v) for k, v in before.items())
    assert [p.requires_grad for p in body.parameters()] == flags


def test_finetune_beats_from_scratch_with_the_same_steps_on_new_classes(pretrained_blob_body, blob_split):
    body, _ = pretrained_blob_body
    episodes = [e for _, e in zip(range(30), ml.EpisodeSampler(blob_split[1], n_way=5, k_shot=1, q_queries=5, seed=1))]

    def scratch_model(n):
        return nn.Sequential(mlp_body(), nn.Linear(32, n))

    results = {}
    for name, learner in {
        "scratch": ml.FromScratch(scratch_model, steps=30, lr=1e-2),
        "finetune": FineTune(body, steps=30, lr=1e-2),
        "head_only": FineTune(body, steps=30, lr=1e-2, head_only=True),
    }.items():
        ml.seed_everything(0)
        results[name] = ml.evaluate(learner, episodes).mean
    # 5-way: chance is 20%; raw coordinates are mostly noise, pretrained features are not
    assert results["finetune"] > results["scratch"] + 0.1
    assert results["head_only"] > results["scratch"] + 0.1


def test_finetune_with_zero_steps_is_a_random_head(pretrained_blob_body, blob_split):
    body, _ = pretrained_blob_body
    episode = ml.EpisodeSampler(blob_split[1], n_way=3, k_shot=1, q_queries=2, seed=0).episode()
    predictor = FineTune(body, steps=0).adapt(episode.support_x, episode.support_y)
    assert predictor(episode.query_x).shape == (6, 3)


def test_bad_arguments_give_clear_errors(blob_split):
    body = mlp_body()
    with pytest.raises(ValueError, match="steps"):
        FineTune(body, steps=-1)
    with pytest.raises(ValueError, match="lr"):
        FineTune(body, lr=0)
    with pytest.raises(TypeError, match="nn.Module"):
        FineTune(lambda x: x)
    with pytest.raises(ValueError, match="no parameters"):
        FineTune(nn.ReLU())
    with pytest.raises(ValueError, match="epochs"):
        pretrain(body, blob_split[0], epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        pretrain(body, blob_split[0], batch_size=1.5, progress=False)
    with pytest.raises(ValueError, match="lr"):
        pretrain(body, blob_split[0], lr=-1, progress=False)
    with pytest.raises(TypeError, match="FewShotDataset"):
        pretrain(body, (blob_split[0].x, blob_split[0].y), progress=False)
    with pytest.raises(ValueError, match="at least 2"):
        pretrain(body, blob_split[0].subset([0]), progress=False)
    conv = nn.Conv2d(1, 4, 3)  # no flatten: outputs are maps, not feature vectors
    with pytest.raises(ValueError, match="Flatten"):
        pretrain(conv, ml.FewShotDataset(torch.randn(4, 1, 5, 5), torch.tensor([0, 0, 1, 1]), ["a", "b"]), progress=False)
    learner = FineTune(body, steps=1)
    x = torch.randn(4, 32)
    with pytest.raises(ValueError, match="labels must be 0..N-1"):
        learner.adapt(x, torch.tensor([0, 0, 2, 2]))
    with pytest.raises(TypeError, match="not meta-trained"):
        learner.meta_loss(ml.EpisodeSampler(blob_split[1], 2, 1, 1).sample(2))
