"""Bad input to evaluation, meta-training, checkpoints, the batched path, predictors and the
Siamese network gives a clear error (what is wrong and what to do) or the right result, never a
silent wrong number or an error from deep inside torch (issue 25)."""
import math
import multiprocessing
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import image_episode
from test_bad_input import learners
from torch import nn

import metalearn_lite as ml
from metalearn_lite import EpisodeBatch
from metalearn_lite.data.synthetic import make_blob_classes
from metalearn_lite.gradient import ANIL, MAML, MetaSGD, Reptile
from metalearn_lite.metric import SiameseNetwork
from metalearn_lite.metric.siamese import koch_affine, verification_pairs


def sinusoid_maml(**kwargs):
    ml.seed_everything(0)
    return MAML(ml.MLP(1, 1, hidden=(8,)), alpha=0.01, task_type="regression", **kwargs)


# --- evaluate -------------------------------------------------------------------------------------
@pytest.mark.parametrize("episodes", [-1, 0, 2.5, True, "3"])
def test_evaluate_refuses_an_episode_count_that_is_not_a_positive_integer(episodes):
    episode = image_episode()
    for tasks in ([episode] * 3, ml.SinusoidTasks(k_shot=5)):
        learner = ml.NearestNeighbour() if isinstance(tasks, list) else sinusoid_maml()
        with pytest.raises(ValueError, match=rf"episodes must be a positive integer, got {episodes!r}"):
            ml.evaluate(learner, tasks, episodes=episodes)


def test_evaluate_counts_numpy_integers_and_takes_the_first_episodes_of_a_list():
    episodes = [image_episode(seed=s) for s in range(4)]
    result = ml.evaluate(ml.NearestNeighbour(), episodes, episodes=np.int64(2))
    assert result.episodes == 2
    assert result.scores == ml.evaluate(ml.NearestNeighbour(), episodes[:2]).scores
    assert ml.evaluate(ml.NearestNeighbour(), episodes, episodes=None).episodes == 4
    assert ml.evaluate(ml.NearestNeighbour(), iter(episodes), episodes=3).episodes == 3  # an iterator: the first 3


def test_evaluate_refuses_a_single_episode_and_non_episodes():
    episode = image_episode()
    with pytest.raises(TypeError, match=r"tasks must be a task source .* got a Episode; pass \[episode\]"):
        ml.evaluate(ml.NearestNeighbour(), episode)
    with pytest.raises(TypeError, match=r"tasks\[1\] is a tuple, not an Episode"):
        ml.evaluate(ml.NearestNeighbour(), [episode, (episode.support_x, episode.support_y)])
    with pytest.raises(TypeError, match="learner must be a meta-learner"):
        ml.evaluate(nn.Linear(2, 2), [episode])


def test_an_episode_without_queries_is_refused_not_scored_nan():
    episode = image_episode()
    empty = ml.Episode(episode.support_x, episode.support_y, episode.query_x[:0], episode.query_y[:0])
    with pytest.raises(ValueError, match="episode 0 of the 1 evaluated: the query set is empty, so there is nothing to score"):
        ml.evaluate(ml.NearestNeighbour(), [empty])
    with pytest.raises(ValueError, match="episode 0 of the meta-batch: the query set is empty"):
        MAML(ml.ConvNet4(hidden=8, out_features=3), alpha=0.1).meta_loss([empty])


@pytest.mark.parametrize("field", ["query_y", "support_y"])
def test_non_finite_regression_targets_are_refused_not_scored_nan(field):
    episode = ml.SinusoidTasks(k_shot=5).episode()
    getattr(episode, field)[1] = math.nan
    with pytest.raises(ValueError, match=rf"episode 0 of the 1 evaluated: {field} holds non-finite values \(1 NaN"):
        ml.evaluate(sinusoid_maml(), [episode])
    with pytest.raises(ValueError, match=rf"episode 0 of the meta-batch: {field} holds non-finite values"):
        sinusoid_maml().meta_loss(EpisodeBatch.stack([episode]))


def test_integer_regression_targets_are_refused():
    episode = ml.SinusoidTasks(k_shot=5).episode()
    episode.query_y = episode.query_y.round().long()
    with pytest.raises(ValueError, match=r"query_y must be a floating-point tensor with one target per query \(10\)"):
        ml.evaluate(sinusoid_maml(), [episode])


def gradient_learners(outputs):
    """Every gradient-based learner, with ``outputs`` class scores, adapting 0 or 1 steps."""
    ml.seed_everything(0)
    body = lambda norm="batch": ml.ConvNet4(hidden=8, norm=norm)  # noqa: E731
    return {
        "maml": lambda steps: MAML(ml.ConvNet4(hidden=8, out_features=outputs), alpha=0.1, inner_steps=steps),
        "maml-batched": lambda steps: MAML(ml.ConvNet4(hidden=8, out_features=outputs, norm="group"), alpha=0.1,
                                           inner_steps=steps, batched=True),
        "meta-sgd": lambda steps: MetaSGD(ml.ConvNet4(hidden=8, out_features=outputs), alpha=0.1, inner_steps=steps),
        "anil": lambda steps: ANIL(body(), nn.Linear(8, outputs), alpha=0.1, inner_steps=steps),
        "anil-batched": lambda steps: ANIL(body("group"), nn.Linear(8, outputs), alpha=0.1, inner_steps=steps, batched=True),
        "reptile": lambda steps: Reptile(ml.ConvNet4(hidden=8, out_features=outputs), inner_lr=0.1, inner_steps=max(steps, 1)),
    }


@pytest.mark.parametrize("outputs", [2, 8])
@pytest.mark.parametrize("steps", [0, 1])
@pytest.mark.parametrize("name", list(gradient_learners(3)))
def test_every_learner_checks_its_output_count_against_n(name, steps, outputs):
    """8 scores on a 3-way task used to pass with 0 inner steps (a query could go to class 7); 2
    failed inside cross_entropy. Both are refused by evaluate and meta_loss alike."""
    episode = image_episode(n_way=3)
    learner = gradient_learners(outputs)[name](steps)
    message = rf"(outputs .*scores of shape \(\d+, {outputs}\).* 3 classes|task has 3 classes).*ConvNet4\(out_features=3\)"
    with pytest.raises(ValueError, match=message):
        ml.evaluate(learner, [episode])
    with pytest.raises(ValueError, match=message):
        learner.meta_loss(EpisodeBatch.stack([episode]))


def test_zero_inner_steps_still_work_as_no_adaptation():
    episode = image_episode(n_way=3)
    learner = gradient_learners(3)["maml"](0)
    learner.eval()
    scores = learner.adapt(episode.support_x, episode.support_y)(episode.query_x)
    torch.testing.assert_close(scores, learner.model(episode.query_x))
    assert 0 <= ml.evaluate(learner, [episode]).mean <= 1


@pytest.mark.parametrize("name", list(learners()))
def test_every_predictor_refuses_numpy_queries_with_the_same_message(name):
    learner = learners()[name]()
    learner.eval()
    episode = image_episode()
    predictor = learner.adapt(episode.support_x, episode.support_y)
    with pytest.raises(TypeError, match=r"query_x must be a torch.Tensor, got a numpy.ndarray: convert it first"):
        predictor(episode.query_x.numpy())
    with pytest.raises(ValueError, match=r"query_x has shape \(6, 1, 20, 28\) but the support examples have shape \(1, 28, 28\)"):
        predictor(episode.query_x[:, :, :20])


# --- meta_train ----------------------------------------------------------------------------------
def test_meta_train_refuses_a_list_of_episodes_with_the_way_out():
    with pytest.raises(TypeError, match=r"tasks must be a task source with a .sample\(meta_batch_size\) method, got a list"):
        ml.meta_train(sinusoid_maml(), [ml.SinusoidTasks().episode()], steps=1, progress=False)


@pytest.mark.parametrize("argument, value, message", [
    ("steps", 0, "steps must be a positive integer"),
    ("steps", 2.0, "steps must be a positive integer"),
    ("meta_batch_size", 0, "meta_batch_size must be a positive integer"),
    ("lr", -1e-3, "lr must be a positive finite number"),
    ("lr", math.nan, "lr must be a positive finite number"),
    ("grad_clip", 0, "grad_clip must be a positive finite number"),
    ("val_every", -1, "val_every must be an integer >= 0"),
])
def test_meta_train_checks_its_numbers_before_training(argument, value, message):
    with pytest.raises(ValueError, match=message):
        ml.meta_train(sinusoid_maml(), ml.SinusoidTasks(k_shot=5), **{"steps": 1, argument: value}, progress=False)


def test_meta_train_accepts_numpy_numbers():
    history = ml.meta_train(sinusoid_maml(), ml.SinusoidTasks(k_shot=5, seed=np.int64(0)), steps=np.int64(2),
                            meta_batch_size=np.int32(2), lr=np.float32(1e-3), progress=False)
    assert history.train["step"] == [1.0, 2.0]


def test_a_learning_rate_that_overflows_names_the_step():
    with pytest.raises(FloatingPointError, match=r"the optimiser's step 1 overflowed .*lr=1e\+300"):
        ml.meta_train(sinusoid_maml(), ml.SinusoidTasks(k_shot=5), steps=2, lr=1e300, progress=False)


def test_numpy_seeds_are_accepted_and_give_the_same_tasks():
    a, b = ml.SinusoidTasks(seed=np.int64(3)).episode(), ml.SinusoidTasks(seed=3).episode()
    torch.testing.assert_close(a.support_x, b.support_x, rtol=0, atol=0)
    data = make_blob_classes(num_classes=6, per_class=3, dim=4, seed=np.int64(1))
    e1 = ml.EpisodeSampler(data, 3, 1, 1, seed=np.int64(0)).episode()
    e2 = ml.EpisodeSampler(data, 3, 1, 1, seed=0).episode()
    torch.testing.assert_close(e1.support_x, e2.support_x, rtol=0, atol=0)
    for bad in (-1, 1.5, "0"):
        with pytest.raises(ValueError, match="seed must be an integer >= 0 or None"):
            ml.SinusoidTasks(seed=bad)


# --- checkpoints ---------------------------------------------------------------------------------
def test_checkpoint_paths_that_cannot_be_written_are_refused_before_training(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(MAML, "meta_loss", lambda self, batch: calls.append(1))
    with pytest.raises(IsADirectoryError, match=r"is a folder; pass a file path in it, e.g. checkpoint='.*checkpoint.pt'"):
        ml.meta_train(sinusoid_maml(), ml.SinusoidTasks(k_shot=5), steps=1, checkpoint=tmp_path, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"cannot be written: .*file is a file, not a folder"):
        ml.meta_train(sinusoid_maml(), ml.SinusoidTasks(k_shot=5), steps=1, checkpoint=tmp_path / "file" / "c.pt",
                      progress=False)
    assert calls == []  # nothing trained


def test_an_sgd_checkpoint_is_refused_by_an_adam_run_before_anything_loads(tmp_path):
    learner = sinusoid_maml()
    sgd = torch.optim.SGD(learner.parameters(), lr=0.01)
    ml.meta_train(learner, ml.SinusoidTasks(k_shot=5), steps=2, optimizer=sgd, checkpoint=tmp_path / "c.pt", progress=False)
    other = sinusoid_maml()
    adam = torch.optim.Adam(other.parameters())
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match=r"holds the state of SGD, but the optimizer passed is Adam: .* optimizer=None"):
        ml.load_checkpoint(tmp_path / "c.pt", other, adam)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
    # an older checkpoint without the class name: told apart by the hyperparameters
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    del state["optimizer_class"]
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="holds the state of another optimiser, but the optimizer passed is Adam"):
        ml.load_checkpoint(tmp_path / "old.pt", other, adam)
    ml.load_checkpoint(tmp_path / "c.pt", other)  # the weights alone load
    ml.load_checkpoint(tmp_path / "c.pt", other, torch.optim.SGD(other.parameters(), lr=0.01))


@pytest.mark.parametrize("history", [5, {"train": 5, "val": {}}, {"train": {"loss": 1.0}, "val": {}}, [1]])
def test_a_checkpoint_with_a_foreign_history_names_its_path(tmp_path, history):
    learner = sinusoid_maml()
    ml.save_checkpoint(tmp_path / "c.pt", learner)
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    state["history"] = history
    torch.save(state, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=rf"the checkpoint {tmp_path / 'c.pt'} holds a history that save_checkpoint does not write"):
        ml.load_checkpoint(tmp_path / "c.pt", learner)


def _save_many(path, seed, count, errors):
    try:
        torch.manual_seed(seed)
        learner = ml.MLP(1, 1, hidden=(4,))
        for _ in range(count):
            ml.save_checkpoint(path, learner)
    except BaseException as error:  # reported to the parent
        errors.put(f"{type(error).__name__}: {error}")


def test_processes_saving_to_one_path_never_delete_each_others_files(tmp_path):
    path = tmp_path / "shared.pt"
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    workers = [context.Process(target=_save_many, args=(path, s, 40, errors)) for s in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert all(w.exitcode == 0 for w in workers)
    assert errors.empty(), errors.get()
    ml.load_checkpoint(path, ml.MLP(1, 1, hidden=(4,)))
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pt"]  # no leftovers


def test_leftovers_of_dead_writers_are_removed_but_not_a_live_writers(tmp_path):
    path = tmp_path / "c.pt"
    live = tmp_path / f".c.pt.{os.getppid()}.abc.tmp"  # the parent process: alive
    dead = tmp_path / ".c.pt.999999999.abc.tmp"  # no such process
    old = tmp_path / ".c.pt.abc.tmp"  # the older naming, without a process id
    for f in (live, dead, old):
        f.write_bytes(b"partial")
    ml.save_checkpoint(path, ml.MLP(1, 1, hidden=(4,)))
    assert live.exists() and not dead.exists() and not old.exists()


# --- the batched path ----------------------------------------------------------------------------
def test_batched_checks_every_task_of_the_batch_not_only_the_first():
    three, two = image_episode(n_way=3, k_shot=2), image_episode(n_way=3, k_shot=2, seed=1)
    two.support_y = torch.tensor([0, 0, 1, 1, 1, 1])  # a 2-way task in a 3-output meta-batch
    two.query_y = torch.tensor([0, 0, 1, 1, 1, 1])
    batch = EpisodeBatch.stack([three, two])
    loop = MAML(ml.ConvNet4(hidden=8, out_features=3), alpha=0.1)
    with pytest.raises(ValueError, match="task has 2 classes"):
        loop.meta_loss(batch)
    batched = MAML(ml.ConvNet4(hidden=8, out_features=3, norm="group"), alpha=0.1, batched=True)
    with pytest.raises(ValueError, match="episode 1 of the meta-batch has 2 classes but episode 0 has 3"):
        batched.meta_loss(batch)


class GRURegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru, self.out = nn.GRU(1, 8, batch_first=True), nn.Linear(8, 1)

    def forward(self, x):
        h, _ = self.gru(x[:, None, :])
        return self.out(h[:, -1])


class FunctionalDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(1, 16), nn.Linear(16, 1)

    def forward(self, x):
        return self.l2(F.dropout(torch.relu(self.l1(x)), 0.2, self.training))


class RunningInstanceNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.norm, self.l2 = nn.Linear(1, 16), nn.InstanceNorm1d(4, track_running_stats=True), nn.Linear(16, 1)

    def forward(self, x):
        return self.l2(self.norm(torch.relu(self.l1(x)).view(-1, 4, 4)).flatten(1))


@pytest.mark.parametrize("model, refusal", [
    (GRURegressor, "batched=True cannot be exact for this model: gru is a recurrent layer"),
    (FunctionalDropout, r"batched=True: this model does not run under torch.func.vmap .*random.* use batched=False"),
    (RunningInstanceNorm, "batched=True cannot be exact for this model: norm .* updates running statistics"),
])
def test_auto_never_fails_where_the_loop_works_and_true_refuses_with_the_reason(model, refusal):
    batch = ml.SinusoidTasks(k_shot=5).sample(3)

    def run(batched):
        torch.manual_seed(0)
        return MAML(model(), alpha=0.01, task_type="regression", batched=batched).meta_loss(batch)[1]

    assert run("auto") == run(False)  # "auto" takes the loop for these: the same numbers
    with pytest.raises(ValueError, match=refusal):
        run(True)


def test_auto_still_batches_the_library_mlp():
    learner = MAML(ml.MLP(1, 1), alpha=0.01, task_type="regression", batched="auto")
    assert learner.uses_batched(ml.SinusoidTasks(k_shot=5).sample(2))
    assert not learner.uses_batched(list(ml.SinusoidTasks(k_shot=5).sample(2)))  # a list of episodes: the loop


# --- Siamese networks -----------------------------------------------------------------------------
@pytest.mark.parametrize("argument", ["feature_dim", "embedding_dim"])
@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_siamese_refuses_zero_width_heads(argument, value):
    with pytest.raises(ValueError, match=rf"{argument} must be a positive integer, got {value!r}"):
        SiameseNetwork(ml.ConvNet4(hidden=8), **{argument: value})


def test_siamese_checks_embedding_dim_at_construction_and_at_the_first_pass():
    with pytest.raises(ValueError, match=r"embedding_dim=9, but the encoder outputs 8 numbers .* pass embedding_dim=8"):
        SiameseNetwork(ml.ConvNet4(hidden=8), embedding_dim=9)
    assert SiameseNetwork(ml.ConvNet4(hidden=8), embedding_dim=np.int64(8)).embedding_dim == 8
    flat = SiameseNetwork(nn.Flatten(), input_shape=(1, 4, 4))  # 16 numbers per input
    with pytest.raises(ValueError, match=r"the encoder outputs 25 numbers per input of shape \(1, 5, 5\), but .*embedding_dim=16"):
        flat.embed(torch.rand(2, 1, 5, 5))


def test_koch_affine_refuses_bad_ranges_and_images():
    g, x = torch.Generator().manual_seed(0), torch.rand(3, 1, 28, 28)
    for name, value in [("degrees", math.nan), ("degrees", -1), ("shear", 1.0), ("scale", 1.5), ("shift_px", math.inf),
                        ("p", 1.5)]:
        with pytest.raises(ValueError, match=rf"{name}( \(the probability .*\))? must be a number in"):
            koch_affine(x, g, **{name: value})
    with pytest.raises(TypeError, match=r"must be floating point, got torch.uint8: convert them first, e.g. x.float\(\) / 255"):
        koch_affine((x * 255).to(torch.uint8), g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        koch_affine(x, 0)
    assert koch_affine(x[:0], g).shape == (0, 1, 28, 28)  # an empty batch is the identity
    same = koch_affine(x, torch.Generator().manual_seed(1), degrees=np.float32(10.0))
    torch.testing.assert_close(same, koch_affine(x, torch.Generator().manual_seed(1)))


def test_verification_pairs_refuses_empty_label_sets():
    with pytest.raises(ValueError, match="query_y must be a non-empty 1-D tensor of labels, got shape \\(0,\\)"):
        verification_pairs(torch.tensor([0, 1]), torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match="support_y must be a non-empty"):
        verification_pairs(torch.tensor([], dtype=torch.long), torch.tensor([0]))


# --- elsewhere in the library: the same rules ------------------------------------------------------
@pytest.mark.parametrize("build, message", [
    (lambda: ml.ConvNet4(hidden=0), "hidden must be a positive integer, got 0"),
    (lambda: ml.ConvNet4(out_features=0), "out_features must be a positive integer, got 0"),
    (lambda: ml.ConvNet4(image_size=2.5), "image_size must be a positive integer"),
    (lambda: ml.MLP(1, 0), "out_features must be a positive integer, got 0"),
    (lambda: ml.MLP(1, 1, hidden=(0,)), "each hidden width must be a positive integer, got 0"),
    (lambda: ml.MLP(1, 1, hidden=40), r"hidden must be a sequence of layer widths, e.g. \(40, 40\), got 40"),
    (lambda: make_blob_classes(num_classes=2.5), "num_classes must be a positive integer, got 2.5"),
    (lambda: make_blob_classes(spread=math.nan), r"spread must be a number in \[0, inf\), got nan"),
    (lambda: make_blob_classes(dim=3, informative=4), "informative=4 coordinates cannot exceed dim=3"),
    (lambda: ml.baselines.FromScratch(lambda n: nn.Linear(4, n), steps=-1), "steps must be an integer >= 0"),
    (lambda: ml.baselines.FromScratch(lambda n: nn.Linear(4, n), lr=math.inf), "lr must be a positive finite number"),
])
def test_constructors_refuse_impossible_sizes_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_models_accept_numpy_sizes():
    net = ml.ConvNet4(hidden=np.int64(8), out_features=np.int32(3))
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 3)
    assert ml.MLP(np.int64(2), np.int64(1), hidden=(np.int64(4),))(torch.rand(3, 2)).shape == (3, 1)


def test_stacking_episodes_of_different_shapes_says_which():
    a, b = ml.SinusoidTasks(k_shot=5).episode(), ml.SinusoidTasks(k_shot=6).episode()
    with pytest.raises(ValueError, match=r"episodes\[1\].support_x is torch.float32 \(6, 1\) but episodes\[0\].support_x is "
                                         r"torch.float32 \(5, 1\): only episodes of the same shapes stack"):
        EpisodeBatch.stack([a, b])
    with pytest.raises(TypeError, match=r"episodes\[1\] is a int, not an Episode"):
        EpisodeBatch.stack([a, 3])


def test_mean_ci95_refuses_non_finite_values():
    with pytest.raises(ValueError, match=r"1 of the 3 values are NaN or ±inf \(the first at index 2\)"):
        ml.utils.mean_ci95([0.5, 0.6, math.nan])


def test_devices_that_do_not_exist_are_refused_by_name():
    with pytest.raises(ValueError, match="device must be a torch.device or a string such as 'cpu'"):
        ml.utils.resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda', but CUDA is not available on this machine: pass device='cpu'"):
            ml.evaluate(ml.NearestNeighbour(), [image_episode()], device="cuda")
    assert ml.utils.resolve_device("cpu") == torch.device("cpu")


def test_results_helpers_refuse_files_and_results_the_benchmarks_do_not_write(tmp_path):
    from metalearn_lite.results import format_result, load_report

    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a JSON list, not an object"):
        load_report(tmp_path / "list.json")
    for bad in ({"mean": math.nan, "ci95": 0.01}, {"mean": 0.5}, {"error": "x"}):
        with pytest.raises(ValueError, match="a result needs a number under"):
            format_result(bad)
    assert format_result({"mean": 0.952, "ci95": 0.005}) == "95.2% ± 0.5%"
    assert format_result({"skipped": "too big"}) == "—"


def test_presentation_numbers_refuses_numpy_labels():
    from metalearn_lite.memory.presentations import presentation_numbers

    with pytest.raises(TypeError, match="labels must be a torch.Tensor, got a numpy.ndarray"):
        presentation_numbers(np.array([0, 1, 0]))
    assert presentation_numbers(torch.tensor([0, 1, 0, 0])).tolist() == [1, 1, 2, 3]
