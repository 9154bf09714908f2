"""The shared core: the MetaLearner protocol, meta_train, evaluate, checkpoints, baselines."""
import math

import pytest
import torch
from torch import nn

import metalearn_lite as ml
from metalearn_lite import EpisodeSampler, MetaLearner, make_blob_classes


class Centroid(MetaLearner):
    """A minimal meta-learner: nearest class mean in a learned linear embedding."""

    def __init__(self, dim, out=8):
        super().__init__()
        self.embed = nn.Linear(dim, out)

    def adapt(self, support_x, support_y):
        n = ml.check_support(support_x, support_y)
        z = self.embed(support_x)
        means = torch.stack([z[support_y == c].mean(0) for c in range(n)])
        return lambda query_x: -torch.cdist(self.embed(query_x), means) ** 2


@pytest.fixture
def blobs():
    return make_blob_classes(num_classes=64, per_class=20, dim=32).split_by_alphabet(["group0", "group1", "group2"])


def test_meta_train_learns_what_transfers_to_new_classes(blobs, tmp_path):
    ml.seed_everything(0)
    train, test = blobs
    learner = Centroid(32)
    before = ml.evaluate(learner, EpisodeSampler(test, 5, 1, 5, seed=1), 300)
    history = ml.meta_train(
        learner, EpisodeSampler(train, 5, 1, 5, seed=0), steps=60, meta_batch_size=8, lr=1e-2,
        val_tasks=EpisodeSampler(test, 5, 1, 5, seed=2), val_every=30, val_episodes=50,
        checkpoint=tmp_path / "ckpt.pt", progress=False,
    )
    after = ml.evaluate(learner, EpisodeSampler(test, 5, 1, 5, seed=1), 300)
    assert before.mean < 0.35  # raw features: near chance (20%)
    assert after.mean > 0.8 and after.mean - after.ci95 > before.mean + before.ci95
    assert history.train["step"] == list(range(1, 61)) and len(history.train["loss"]) == 60
    assert history.val["step"] == [30, 60] and history.val["accuracy"][-1] > 0.8
    assert sum(history.train["loss"][-10:]) < sum(history.train["loss"][:10])
    # the checkpoint restores the trained learner exactly, loaded with weights_only=True
    fresh = Centroid(32)
    restored = ml.load_checkpoint(tmp_path / "ckpt.pt", fresh)
    assert restored.val == history.val
    assert ml.evaluate(fresh, EpisodeSampler(test, 5, 1, 5, seed=1), 300).scores == after.scores


def test_meta_train_is_repeatable(blobs):
    train, _ = blobs
    runs = []
    for _ in range(2):
        ml.seed_everything(3)
        learner = Centroid(32)
        runs.append(ml.meta_train(learner, EpisodeSampler(train, 5, 1, 2, seed=0), steps=5, progress=False).train["loss"])
    assert runs[0] == runs[1]


def test_non_finite_loss_stops_training_with_a_clear_error(blobs):
    train, _ = blobs
    learner = Centroid(32)
    with torch.no_grad():
        learner.embed.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss became nan at step 1; try a smaller learning rate"):
        ml.meta_train(learner, EpisodeSampler(train, 5, 1, 2), steps=3, progress=False)


def test_bad_arguments(blobs):
    train, _ = blobs
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        ml.meta_train(Centroid(32), EpisodeSampler(train, 5, 1, 2), steps=0)
    with pytest.raises(ValueError, match="no trainable parameters"):
        ml.meta_train(ml.NearestNeighbour(), EpisodeSampler(train, 5, 1, 2), steps=1)
    with pytest.raises(ValueError, match="does classification but the tasks are regression"):
        ml.evaluate(Centroid(1), ml.SinusoidTasks(), 5)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        ml.load_checkpoint("/nonexistent/ckpt.pt", Centroid(32))


def test_evaluate_interval_matches_hand_computation(blobs):
    _, test = blobs
    episodes = [EpisodeSampler(test, 5, 1, 3, seed=4).episode() for _ in range(40)]
    learner = Centroid(32)
    result = ml.evaluate(learner, episodes)
    hand = []
    for ep in episodes:
        with torch.no_grad():
            scores = learner.adapt(ep.support_x, ep.support_y)(ep.query_x)
        hand.append((scores.argmax(1) == ep.query_y).float().mean().item())
    n = len(hand)
    mean = sum(hand) / n
    sd = math.sqrt(sum((h - mean) ** 2 for h in hand) / (n - 1))
    assert result.episodes == 40 and result.metric == "accuracy"
    assert result.mean == pytest.approx(mean, abs=1e-12)
    assert result.ci95 == pytest.approx(1.96 * sd / math.sqrt(n), abs=1e-12)
    assert "± " in str(result) and "40 episodes" in str(result)
    assert ml.mean_ci95([0.5, 0.7]) == pytest.approx((0.6, 1.96 * math.sqrt(0.02) / math.sqrt(2)))


def test_evaluate_restores_training_mode(blobs):
    _, test = blobs
    learner = Centroid(32).train()
    ml.evaluate(learner, EpisodeSampler(test, 5, 1, 1), 3)
    assert learner.training


def test_check_support_explains_bad_labels():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="no example of class \\[1\\]"):
        ml.check_support(x, torch.tensor([0, 0, 2, 2]))
    with pytest.raises(ValueError, match="4 examples but support_y has 3"):
        ml.check_support(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="int64"):
        ml.check_support(x, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert ml.check_support(x, torch.tensor([1, 0, 1, 0])) == 2


def test_nearest_neighbour_scores_are_minus_nearest_distance():
    support_x = torch.tensor([[0.0], [10.0], [4.0], [11.0]])
    support_y = torch.tensor([0, 0, 1, 1])
    scores = ml.NearestNeighbour().adapt(support_x, support_y)(torch.tensor([[9.0], [3.0]]))
    assert torch.allclose(scores, torch.tensor([[-1.0, -2.0], [-3.0, -1.0]]))


def test_from_scratch_learns_the_support_set_and_leaves_no_state():
    ds = make_blob_classes(num_classes=10, per_class=20, dim=6, informative=6, noise=1.0)
    ml.seed_everything(0)
    learner = ml.FromScratch(lambda n: nn.Linear(6, n), steps=200, lr=0.05)
    result = ml.evaluate(learner, EpisodeSampler(ds, 5, 10, 5, seed=0), 20)
    assert result.mean > 0.8
    assert list(learner.parameters()) == []  # nothing carried from one task to the next
    with pytest.raises(TypeError, match="nothing to meta-train"):
        learner.meta_loss(EpisodeSampler(ds, 5, 1, 1).sample(2))


def test_sinusoid_tasks_follow_the_maml_paper():
    tasks = ml.SinusoidTasks(k_shot=5, q_queries=20, seed=0)
    batch = tasks.sample(500)
    amp, phase = batch.task["amplitude"], batch.task["phase"]
    assert batch.support_x.shape == (500, 5, 1) and batch.query_y.shape == (500, 20, 1)
    assert 0.1 <= amp.min() and amp.max() <= 5.0 and amp.mean() == pytest.approx(2.55, abs=0.2)
    assert 0 <= phase.min() and phase.max() <= math.pi
    assert -5 <= batch.query_x.min() and batch.query_x.max() <= 5
    assert torch.allclose(batch.query_y, amp[:, None, None] * torch.sin(batch.query_x - phase[:, None, None]))
    assert torch.equal(ml.SinusoidTasks(seed=1).sample(2).support_y, ml.SinusoidTasks(seed=1).sample(2).support_y)
    with pytest.raises(ValueError, match="low <= high"):
        ml.SinusoidTasks(amplitude=(5, 0.1))


def test_regression_learners_report_mse():
    ml.seed_everything(0)
    learner = ml.FromScratch(lambda n: ml.MLP(1, n), steps=50, lr=1e-2, task_type="regression")
    result = ml.evaluate(learner, ml.SinusoidTasks(k_shot=10, seed=0), 5)
    assert result.metric == "mse" and result.mean > 0 and "mse" in str(result)


def test_episodes_move_between_devices():
    device = ml.resolve_device()
    batch = EpisodeSampler(make_blob_classes(), 3, 1, 1).sample(2).to(device)
    assert batch.support_x.device.type == device.type and batch.task["classes"].device.type == device.type


# --- checkpoints: no NaN weights, no silent overwrite, atomic writes, clear errors on bad files ---------
def test_nan_weights_stop_training_at_their_step_and_are_never_checkpointed(blobs, tmp_path, monkeypatch):
    train, _ = blobs
    learner = Centroid(32)
    real_step = torch.optim.Adam.step

    def nan_at_step_3(self, *args, **kwargs):  # the loss stays finite; the update is not
        result = real_step(self, *args, **kwargs)
        if nan_at_step_3.calls == 2:
            with torch.no_grad():
                learner.embed.bias[0] = float("nan")
        nan_at_step_3.calls += 1
        return result

    nan_at_step_3.calls = 0
    monkeypatch.setattr(torch.optim.Adam, "step", nan_at_step_3)
    with pytest.raises(FloatingPointError, match=r"the learner's weights became NaN or ±inf at step 3 \(first: embed.bias\)"):
        ml.meta_train(learner, EpisodeSampler(train, 5, 1, 2), steps=3, checkpoint=tmp_path / "run.pt", progress=False)
    assert not (tmp_path / "run.pt").exists()
    with pytest.raises(FloatingPointError, match=r"not saving .*nan.pt: the learner's embed.bias holds NaN or ±inf"):
        ml.save_checkpoint(tmp_path / "nan.pt", learner)
    assert list(tmp_path.iterdir()) == []
    # a NaN checkpoint written by other means is refused when loaded, before touching the learner
    torch.save({"learner": learner.state_dict(), "optimizer": None, "history": None}, tmp_path / "forged.pt")
    fresh = Centroid(32)
    before = fresh.embed.weight.clone()
    with pytest.raises(ValueError, match=r"the checkpoint .*forged.pt holds NaN or ±inf in embed.bias"):
        ml.load_checkpoint(tmp_path / "forged.pt", fresh)
    assert torch.equal(fresh.embed.weight, before)


def test_meta_train_refuses_to_overwrite_a_checkpoint_unless_told(blobs, tmp_path):
    train, _ = blobs
    path = tmp_path / "run.pt"
    ml.meta_train(Centroid(32), EpisodeSampler(train, 5, 1, 2), steps=2, checkpoint=path, progress=False)
    first = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"run.pt already holds a checkpoint, which this run would overwrite: pass "
                                              r"another checkpoint path, or overwrite=True to replace it \(to go on from "
                                              r"that training, first load it with load_checkpoint\(.*run.pt', learner, optimizer\)\)"):
        ml.meta_train(Centroid(32), EpisodeSampler(train, 5, 1, 2), steps=2, checkpoint=path, progress=False)
    assert path.read_bytes() == first
    ml.meta_train(Centroid(32), EpisodeSampler(train, 5, 1, 2, seed=9), steps=2, checkpoint=path, progress=False, overwrite=True)
    assert path.read_bytes() != first


def test_checkpoint_writes_are_atomic_and_clean_up(tmp_path, monkeypatch):
    learner = Centroid(4)
    path = ml.save_checkpoint(tmp_path / "ckpt.pt", learner)
    good = path.read_bytes()
    (tmp_path / ".ckpt.pt.killed.tmp").write_bytes(b"half a checkpoint")  # left by a run killed while writing
    real_save = torch.save

    def dies_midway(obj, f, *args, **kwargs):
        with open(f, "wb") as file:
            file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        ml.save_checkpoint(path, learner)
    assert path.read_bytes() == good  # the old checkpoint is intact, the temporary file removed
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.pt.killed.tmp", "ckpt.pt"]
    monkeypatch.setattr(torch, "save", real_save)
    ml.save_checkpoint(path, learner)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # the killed run's leftover is gone too


def test_truncated_foreign_and_mismatched_checkpoints_name_the_path(tmp_path):
    learner = Centroid(4)
    good = ml.save_checkpoint(tmp_path / "good.pt", learner, history=ml.History())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"cannot read the checkpoint .*truncated.pt \(.*\): it is truncated"):
        ml.load_checkpoint(truncated, Centroid(4))
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read the checkpoint .*empty.pt"):
        ml.load_checkpoint(tmp_path / "empty.pt", Centroid(4))
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot read the checkpoint .*text.pt"):
        ml.load_checkpoint(tmp_path / "text.pt", Centroid(4))
    torch.save(learner.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match=r"bare.pt is not a checkpoint written by save_checkpoint: it holds a dict with "
                                         r"keys \['embed.bias', 'embed.weight'\]"):
        ml.load_checkpoint(tmp_path / "bare.pt", Centroid(4))
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match=r"list.pt is not a checkpoint written by save_checkpoint: it holds a list"):
        ml.load_checkpoint(tmp_path / "list.pt", Centroid(4))
    with pytest.raises(ValueError, match=r"the checkpoint .*good.pt does not fit this learner .*: RuntimeError: Error"):
        ml.load_checkpoint(good, Centroid(5))
    assert ml.load_checkpoint(good, Centroid(4)).train == {}


def test_evaluate_query_batch_scores_queries_alone():
    """Batch-statistics BatchNorm makes evaluation transductive: scoring each query alone
    (query_batch=1) changes the result; per-example normalisation ("layer") does not."""
    from metalearn_lite.data.dataset import FewShotDataset
    from metalearn_lite.metric import ProtoNet

    g = torch.Generator().manual_seed(0)
    x = torch.rand(5 * 6, 1, 28, 28, generator=g)
    data = FewShotDataset(x, torch.arange(5).repeat_interleave(6), [f"c{i}" for i in range(5)])
    episodes = [EpisodeSampler(data, 5, 1, 5, seed=s).episode() for s in range(4)]
    results = {}
    for norm in ("batch", "layer"):
        torch.manual_seed(0)
        learner = ProtoNet(ml.ConvNet4(norm=norm))
        together = ml.evaluate(learner, episodes)
        alone = ml.evaluate(learner, episodes, query_batch=1)
        chunks = ml.evaluate(learner, episodes, query_batch=25)  # the whole query set: the same
        assert chunks.scores == together.scores
        results[norm] = (together.scores, alone.scores)
    assert results["layer"][0] == results["layer"][1]
    assert results["batch"][0] != results["batch"][1]
    with pytest.raises(ValueError, match="query_batch"):
        ml.evaluate(learner, episodes, query_batch=0)
