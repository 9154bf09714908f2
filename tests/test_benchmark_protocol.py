"""The benchmarks' shared training loop: step limits, the monitor hook and the CPU-time budget."""
import sys
import time
from pathlib import Path

import torch

import metalearn_lite as ml
from metalearn_lite.metric import ProtoNet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import omniglot_protocol as protocol  # noqa: E402


def small_problem():
    ml.seed_everything(0)
    data = ml.make_blob_classes(num_classes=12, per_class=6, dim=8, seed=0)
    learner = ProtoNet(ml.MLP(8, 4, (16,)))
    return learner, ml.EpisodeSampler(data, 3, 1, 2, seed=0)


def test_max_steps_chunks_and_monitor_calls():
    learner, sampler = small_problem()
    calls = []
    history, seconds = protocol.train_for_budget(learner, sampler, minutes=10, max_steps=5, chunk=2, meta_batch=2,
                                                 monitor=lambda steps, s: calls.append((steps, s)) or False)
    assert history.train["step"] == [1, 2, 3, 4, 5]
    assert [steps for steps, _ in calls] == [2, 4, 5]
    assert all(later >= earlier for (_, earlier), (_, later) in zip(calls, calls[1:]))
    assert 0 < seconds < 60


def test_monitor_can_stop_training_and_its_time_is_not_counted():
    learner, sampler = small_problem()

    def busy_monitor(steps, seconds):  # burns CPU time that must not count as training time
        end = time.process_time() + 0.5
        while time.process_time() < end:
            pass
        return steps >= 4

    start = time.process_time()
    history, seconds = protocol.train_for_budget(learner, sampler, minutes=10, max_steps=100, chunk=2,
                                                 monitor=busy_monitor)
    total = time.process_time() - start
    assert history.train["step"][-1] == 4  # stopped by the monitor after the second chunk
    assert total - seconds >= 0.9  # two monitor calls of 0.5 s CPU each were excluded


def test_budget_is_cpu_time():
    learner, sampler = small_problem()
    start = time.process_time()
    history, seconds = protocol.train_for_budget(learner, sampler, minutes=0.5 / 60, chunk=1)
    assert seconds >= 0.5 and len(history.train["step"]) >= 1
    assert time.process_time() - start >= 0.5


def test_summary_of_history():
    learner, sampler, steps = *small_problem(), 3
    history, _ = protocol.train_for_budget(learner, sampler, minutes=10, max_steps=steps, chunk=steps)
    summary = protocol.summarise(history)
    assert summary["steps"] == steps and set(summary["last_10pct"]) == {"loss", "accuracy"}
    assert torch.isfinite(torch.tensor(summary["last_10pct"]["loss"]))
