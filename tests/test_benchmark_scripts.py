"""Pieces of the benchmark scripts that the book's numbers depend on: the test-steps sweep of
``gradient_omniglot.py`` and the autograd-graph size of ``maml_speed.py``."""
import sys
from pathlib import Path

import pytest
import torch

import metalearn_lite as ml
from metalearn_lite.gradient import MAML

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gradient_omniglot
import maml_speed
from omniglot_protocol import Setting


def test_sweep_scores_each_step_count_on_the_same_episodes_and_restores_the_learner():
    data = ml.make_blob_classes(num_classes=10, per_class=8, dim=6, seed=0)
    ml.seed_everything(0)
    learner = MAML(ml.MLP(6, 3, (8,)), alpha=0.5, inner_steps=1, test_inner_steps=3)
    settings = [Setting("3way_1shot", 3, 1, 7)]
    sweep = gradient_omniglot.sweep_test_steps(learner, data, settings, [0, 1, 2], episodes=6, queries=2, device=None)
    row = sweep["3way_1shot"]
    assert row["steps"] == [0, 1, 2] and row["episodes"] == 6 and len(row["mean"]) == len(row["ci95"]) == 3
    assert learner.test_inner_steps == 3  # restored
    for n, mean in zip(row["steps"], row["mean"]):  # each entry is ml.evaluate at that many steps
        learner.test_inner_steps = n
        expected = ml.evaluate(learner, ml.EpisodeSampler(data, 3, 1, 2, seed=7), 6)
        assert mean == pytest.approx(expected.mean, abs=1e-12)
    learner.test_inner_steps = 3


@pytest.mark.parametrize("bad", ["1,x", "-1,2"])
def test_sweep_steps_must_be_non_negative_integers(bad):
    with pytest.raises(SystemExit):
        gradient_omniglot.parse_args(["--method", "maml", "--sweep-steps", bad])


def test_sweep_steps_parse_and_can_be_switched_off():
    assert gradient_omniglot.parse_args(["--method", "anil"]).sweep_steps == [0, 1, 2, 3, 5, 10]
    assert gradient_omniglot.parse_args(["--method", "anil", "--sweep-steps", ""]).sweep_steps == []


def test_graph_bytes_counts_each_saved_storage_once_and_leaves_out_parameters():
    w = torch.nn.Parameter(torch.rand(100, dtype=torch.float64))
    c = torch.rand(100, dtype=torch.float64)
    product = w * c  # mul saves c only (c needs no gradient, so w is not needed)
    loss = torch.sin(product).sum() + (product * c).sum()  # sin saves product; the second mul saves product and c again
    assert maml_speed.graph_bytes(loss, [w]) == c.nbytes + product.nbytes
    square = (w * w).sum()  # saves w twice, as self and as other: one storage
    assert maml_speed.graph_bytes(square) == w.nbytes
    assert maml_speed.graph_bytes(square, [w]) == 0


def test_batched_graph_is_no_larger_than_the_loops():
    naive = maml_speed.graph_bytes(maml_speed.naive_sinusoid_meta_loss(*maml_speed.make_sinusoid_problem(5)))
    learner, batch = maml_speed.make_sinusoid_problem(5, batched=True)
    batched = maml_speed.graph_bytes(learner.meta_loss(batch)[0], list(learner.parameters()))
    assert 0 < batched <= naive
