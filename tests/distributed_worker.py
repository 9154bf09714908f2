"""One rank of the runs that tests/test_distributed.py starts (as torchrun would: RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT in the environment): ``python distributed_worker.py SCENARIO OUT_DIR``.

Each rank writes what it saw to ``OUT_DIR/rank<r>.pt`` (its results, or the error it raised), so
that the test can compare ranks with each other and with one process (:func:`train`, imported).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import traceback
from pathlib import Path

import torch

import metalearn_lite as ml
from metalearn_lite import distributed
from metalearn_lite.data.episodes import EpisodeBatch, TaskSource
from metalearn_lite.gradient import MAML

STEPS, META_BATCH, LR = 3, 8, 0.01
TIMEOUT = float(os.environ.get("DISTRIBUTED_TEST_TIMEOUT", "15"))  # the process group's, in seconds


class FixedBatches(TaskSource):
    """A deterministic task source: step t's meta-batch is the fixed list ``batches[t]`` of B
    episodes; the shard of rank r of W takes the slice ``r·B/W : (r+1)·B/W`` of each."""

    task_type = "regression"

    def __init__(self, batches: list[EpisodeBatch], rank: int = 0, fail_at=None, die_at=None, hang_at=None, inf_at=None):
        self.batches, self.rank, self.step = batches, rank, 0
        self.fail_at, self.die_at, self.hang_at, self.inf_at = fail_at, die_at, hang_at, inf_at

    def shard(self, rank: int, world_size: int) -> FixedBatches:
        return FixedBatches(self.batches, rank, self.fail_at, self.die_at, self.hang_at, self.inf_at)

    def sample(self, meta_batch_size: int) -> EpisodeBatch:
        self.step += 1
        if self.step == self.fail_at:
            raise ValueError(f"this task source fails on purpose at step {self.step} (rank {self.rank})")
        if self.step == self.die_at:
            os._exit(3)  # a crash: no Python error, no message to the other ranks
        if self.step == self.hang_at:
            time.sleep(10 * TIMEOUT)  # a hang: the other ranks wait for this one until their timeout
        episodes = list(self.batches[self.step - 1])
        chosen = episodes[self.rank * meta_batch_size : (self.rank + 1) * meta_batch_size]
        batch = EpisodeBatch.stack(chosen)
        if self.step == self.inf_at:
            batch.query_y = batch.query_y * 1e200  # finite targets whose squared error overflows to inf
        return batch


def batches(steps: int = STEPS, size: int = META_BATCH) -> list[EpisodeBatch]:
    """``steps`` meta-batches of ``size`` sinusoid tasks (K = 10), in float64."""
    source = ml.SinusoidTasks(k_shot=10, q_queries=10, seed=0)
    out = []
    for _ in range(steps):
        batch = source.sample(size)
        for name in ("support_x", "support_y", "query_x", "query_y"):
            setattr(batch, name, getattr(batch, name).double())
        out.append(batch)
    return out


def learner() -> MAML:
    """MAML's sinusoid regressor, exact second order, float64, the same initial weights everywhere."""
    torch.manual_seed(0)
    return MAML(ml.MLP(1, 1, (40, 40)), alpha=0.01, task_type="regression").double()


def train(tasks: TaskSource, checkpoint=None, meta_batch_size: int = META_BATCH, device="cpu") -> dict:
    """meta_train for STEPS steps with Adam; the weights, last meta-gradient and logged history."""
    model = learner()
    history = ml.meta_train(model, tasks, steps=STEPS, meta_batch_size=meta_batch_size, lr=LR, progress=False,
                            device=device, checkpoint=checkpoint)
    return {
        "params": {n: p.detach().cpu().clone() for n, p in model.named_parameters()},
        "grads": {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters()},
        "train": history.train,
    }


def main(scenario: str, out: Path) -> None:
    torch.set_num_threads(1)
    device = distributed.init_from_env(timeout=TIMEOUT, device="cuda" if scenario == "cuda" else "cpu")
    rank = distributed.rank()
    result: dict = {"rank": rank, "world_size": distributed.world_size(), "backend": torch.distributed.get_backend()}
    try:
        if scenario == "train":
            try:
                ml.meta_train(learner(), FixedBatches(batches()), steps=1, meta_batch_size=META_BATCH - 1, progress=False)
            except ValueError as error:
                result["indivisible"] = str(error)
            result.update(train(FixedBatches(batches()), checkpoint=out / f"checkpoint_rank{rank}.pt"))
            progress = io.StringIO()
            with contextlib.redirect_stderr(progress):
                ml.meta_train(learner(), FixedBatches(batches()), steps=1, meta_batch_size=META_BATCH, progress=True)
            result["progress_bar"] = progress.getvalue()
            shard = distributed.shard_tasks(ml.SinusoidTasks(seed=0), rank, distributed.world_size())
            result["amplitudes"] = [float(shard.episode().task["amplitude"]) for _ in range(3)]
        elif scenario == "fail":
            train(FixedBatches(batches(), fail_at=2 if rank == 1 else None))
        elif scenario == "cuda":
            result.update(train(FixedBatches(batches()), device=device))
        elif scenario == "die":
            train(FixedBatches(batches(), die_at=2 if rank == 1 else None))
        elif scenario == "inf":
            train(FixedBatches(batches(), inf_at=2 if rank == 1 else None))
        elif scenario == "hang":
            train(FixedBatches(batches(), hang_at=2 if rank == 1 else None))
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        result["ok"] = True
    except Exception as error:
        result.update(ok=False, error_type=type(error).__name__, error=str(error), traceback=traceback.format_exc())
    finally:
        torch.save(result, out / f"rank{rank}.pt")
        distributed.shutdown()
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
