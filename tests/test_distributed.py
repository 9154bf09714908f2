"""meta_train across processes (metalearn_lite.distributed): 2 ranks on gloo, 127.0.0.1.

Each run starts two processes of ``tests/distributed_worker.py`` with the environment torchrun
would give them, on a free port, and kills them after a hard timeout, so a hang fails the test
instead of stopping CI.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import distributed_worker as worker
import pytest
import torch

import metalearn_lite as ml
from metalearn_lite import distributed

WORKER = Path(__file__).with_name("distributed_worker.py")
HARD_TIMEOUT = 120  # seconds for a whole 2-process run, start-up included


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(scenario: str, out: Path, world_size: int = 2, wait_for: int | None = None,
              **env) -> tuple[list[dict], list[int | None], float]:
    """Run ``scenario`` on ``world_size`` ranks; each rank's results, exit codes and the wall time.
    With ``wait_for`` (a number of ranks), only ranks ``0 .. wait_for-1`` are waited for and the
    others killed (their code is then None)."""
    env = {**os.environ, **env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(world_size),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(ml.__file__).parents[1]),
                                                                              os.environ.get("PYTHONPATH")]))}
    start = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), scenario, str(out)], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(world_size)
    ]
    codes, logs = [], []
    try:
        for proc in procs[:wait_for]:
            output, _ = proc.communicate(timeout=max(1.0, HARD_TIMEOUT - (time.monotonic() - start)))
            codes.append(proc.returncode)
            logs.append(output)
        codes += [None] * (world_size - len(codes))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the {world_size} ranks of {scenario!r} did not finish within {HARD_TIMEOUT} s (a hang)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    elapsed = time.monotonic() - start
    results = []
    for r in range(world_size):
        path = out / f"rank{r}.pt"
        results.append(torch.load(path, weights_only=False) if path.exists() else None)
    assert any(results), "no rank wrote its results; output:\n" + "\n".join(logs)
    return results, codes, elapsed


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """3 steps of exact MAML with Adam on 2 ranks × 4 tasks, and on 1 process × the same 8 tasks."""
    out = tmp_path_factory.mktemp("distributed_train")
    results, codes, _ = run_ranks("train", out)
    assert codes == [0, 0], [r and r.get("traceback") for r in results]
    single = worker.train(worker.FixedBatches(worker.batches()))
    return results, single, out


def max_diff(a: dict, b: dict) -> float:
    return max(float((a[name] - b[name]).detach().abs().max()) for name in a)


def test_two_ranks_give_the_meta_gradient_and_weights_of_one_process(two_ranks):
    results, single, _ = two_ranks
    assert [r["backend"] for r in results] == ["gloo", "gloo"]
    for r in results:
        assert max_diff(r["grads"], single["grads"]) <= 1e-6
        assert max_diff(r["params"], single["params"]) <= 1e-6
    assert max_diff(single["params"], worker.learner().state_dict()) > 1e-3  # the weights did move
    assert max_diff(results[0]["params"], results[1]["params"]) == 0  # one update, applied on every rank


def test_the_logged_loss_is_the_mean_over_ranks(two_ranks):
    results, single, _ = two_ranks
    for r in results:
        assert r["train"]["step"] == [1.0, 2.0, 3.0]
        for key in ("loss", "mse"):
            assert r["train"][key] == pytest.approx(single["train"][key], rel=1e-12, abs=1e-12)


def test_a_meta_batch_not_divisible_by_the_world_size_is_refused(two_ranks):
    results, _, _ = two_ranks
    for r in results:
        assert "meta_batch_size=7" in r["indivisible"] and "multiple of 2" in r["indivisible"]
        assert "meta_batch_size=8" in r["indivisible"]  # what to pass instead


def test_only_rank_0_writes_the_checkpoint(two_ranks):
    _, single, out = two_ranks
    assert (out / "checkpoint_rank0.pt").exists()
    assert not (out / "checkpoint_rank1.pt").exists()
    model = worker.learner()
    ml.load_checkpoint(out / "checkpoint_rank0.pt", model)
    assert max_diff(dict(model.named_parameters()), single["params"]) <= 1e-6


def test_only_rank_0_shows_a_progress_bar(two_ranks):
    results, _, _ = two_ranks
    assert "meta-train MAML" in results[0]["progress_bar"]
    assert results[1]["progress_bar"] == ""


def test_each_rank_draws_its_own_tasks_from_a_rank_derived_seed(two_ranks):
    results, _, _ = two_ranks
    for rank, r in enumerate(results):
        expected = ml.SinusoidTasks(seed=distributed.rank_seed(0, rank))
        assert r["amplitudes"] == [float(expected.episode().task["amplitude"]) for _ in range(3)]
    assert set(results[0]["amplitudes"]).isdisjoint(results[1]["amplitudes"])


def test_rank_seed_is_the_seed_sequence_spawn():
    import numpy as np

    children = np.random.SeedSequence(7).spawn(3)
    assert [distributed.rank_seed(7, r) for r in range(3)] == [int(c.generate_state(1, np.uint64)[0]) for c in children]
    assert len({distributed.rank_seed(s, r) for s in range(20) for r in range(8)}) == 160


def test_shard_tasks_without_a_process_group():
    tasks = ml.SinusoidTasks(seed=3)
    assert distributed.shard_tasks(tasks, 0, 1) is tasks
    shard = distributed.shard_tasks(tasks, 1, 2)
    assert shard is not tasks and shard.generator is not tasks.generator and shard.k_shot == tasks.k_shot
    with pytest.raises(TypeError, match="shard\\(rank, world_size\\)"):
        distributed.shard_tasks(ml.TaskSource(), 0, 2)
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (0, 1, True)


def test_init_from_env_without_torchrun_is_a_single_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with distributed.process_group(device="cpu") as device:
        assert device == torch.device("cpu") and not distributed.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="RANK, MASTER_ADDR, MASTER_PORT not: launch with torchrun"):
        distributed.init_from_env(device="cpu")
    assert distributed.backend_for("cpu") == "gloo" and distributed.backend_for("cuda:0") == "nccl"


@pytest.mark.parametrize("scenario", ["fail", "die", "hang"])
def test_a_failing_rank_stops_the_other_instead_of_hanging(tmp_path, scenario):
    """At step 2 rank 1 raises in its task source ("fail"), its process dies ("die"), or it
    hangs ("hang", with the process group's timeout set to 8 s; rank 1 is killed once rank 0
    has stopped): rank 0 must stop with an error that says a peer failed or timed out, instead
    of waiting forever."""
    if scenario == "hang":
        results, codes, elapsed = run_ranks(scenario, tmp_path, wait_for=1, DISTRIBUTED_TEST_TIMEOUT="8")
    else:
        results, codes, elapsed = run_ranks(scenario, tmp_path)
    survivor = results[0]
    assert codes[0] == 1 and survivor["ok"] is False
    assert survivor["error_type"] == "RuntimeError"
    assert elapsed < HARD_TIMEOUT / 2
    if scenario == "fail":
        assert codes[1] == 1 and results[1]["error_type"] == "ValueError" and "on purpose" in results[1]["error"]
        assert "rank 0 of 2: stopping at step 2, because rank(s) [1] failed there" in survivor["error"]
        return
    if scenario == "die":
        assert codes[1] == 3 and results[1] is None
    assert "rank 0 of 2: the all-reduce of" in survivor["error"]
    assert "a peer rank stopped" in survivor["error"] and "within the process group's timeout" in survivor["error"]
    assert "look at the other ranks' output" in survivor["error"]


def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path):
    """Rank 1's loss overflows to inf at step 2; rank 0's is finite, yet both raise there."""
    results, codes, _ = run_ranks("inf", tmp_path)
    assert codes == [1, 1]
    for r in results:
        assert r["error_type"] == "FloatingPointError"
        assert "loss became inf at step 2" in r["error"] and "(the mean over the ranks)" in r["error"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the NCCL backend)")
def test_nccl_on_cuda(tmp_path):
    """The one test that needs a GPU: init_from_env picks NCCL for CUDA, and meta_train under it
    (world size 1, or 2 with two GPUs) gives the single-process update on the same tasks."""
    world = min(2, torch.cuda.device_count())
    results, codes, _ = run_ranks("cuda", tmp_path, world_size=world)
    assert codes == [0] * world, [r and r.get("traceback") for r in results]
    single = worker.train(worker.FixedBatches(worker.batches()))
    for r in results:
        assert r["backend"] == "nccl"
        assert max_diff(r["params"], single["params"]) <= 1e-6
