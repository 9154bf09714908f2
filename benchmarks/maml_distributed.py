"""Meta-steps per second of exact MAML with ``meta_train`` on 1 process and on 2 (``torchrun``, gloo).

The pattern of :mod:`metalearn_lite.distributed`: the global meta-batch B is shared out, B / 2
tasks per rank, and the meta-gradient is all-reduced before each Adam step. Each process uses
one thread (``torch.set_num_threads(1)``), so 2 processes use 2 cores where 1 uses one.

Workloads (the sinusoid one as in ``benchmarks/maml_speed.py``, whose constants are imported):

* ``sinusoid`` — MAML's regressor ``MLP(1, 1, (40, 40))``, K = 10 support and 10 query points,
  one inner step (α = 0.01), second order; a meta-batch of 24 tasks (the paper's 25, rounded to
  a multiple of 2 so that both runs train on the same number of tasks per step).
* ``convnet`` — ``ConvNet4(hidden=64, norm="batch")``, 5-way 1-shot with 15 queries per class on
  synthetic 28×28 images, one inner step (α = 0.4), second order, a meta-batch of 4 tasks.

Each run is ``meta_train`` for ``warmup + steps`` steps in a fresh process (or pair of
processes); the rate is ``steps`` over the time rank 0 logged for them (``History.train
["seconds"]``), so start-up and the first, slower steps are left out. Runs alternate 1, 2, 1, 2
… processes, ``--repeats`` times each, and the median is reported, with the median time of the
collectives that one step runs on 2 ranks (its four all-reduces, timed on their own after the
training). On a shared machine the load changes during a run: the load average at start and end
is recorded with the results in ``benchmarks/results/maml_distributed.json``. Run:
``python benchmarks/maml_distributed.py`` (``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import metalearn_lite as ml
from metalearn_lite import distributed
from metalearn_lite.gradient import MAML
from maml_speed import ALPHA, SINUSOID_ALPHA, machine  # benchmarks/maml_speed.py: the same sinusoid workload

RESULTS = Path(__file__).resolve().parent / "results" / "maml_distributed.json"
WORKLOADS = {
    "sinusoid": {"meta_batch_size": 24, "steps": 200, "warmup": 20},
    "convnet": {"meta_batch_size": 4, "steps": 20, "warmup": 2},
}


def make(workload: str, seed: int = 0):
    """The learner and the task source of ``workload``; the same weights on every rank (seeded)."""
    ml.seed_everything(seed)
    if workload == "sinusoid":
        learner = MAML(ml.MLP(1, 1, (40, 40)), alpha=SINUSOID_ALPHA, task_type="regression")
        return learner, ml.SinusoidTasks(k_shot=10, q_queries=10, seed=seed)
    classes, per_class = 100, 16  # 1 support + 15 queries
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(classes, 1, 28, 28, generator=g)
    x = (prototypes.repeat_interleave(per_class, 0) + 0.3 * torch.randn(classes * per_class, 1, 28, 28, generator=g)).clamp(0, 1)
    dataset = ml.FewShotDataset(x, torch.arange(classes).repeat_interleave(per_class), [f"c{c}" for c in range(classes)])
    learner = MAML(ml.ConvNet4(out_features=5, hidden=64, norm="batch"), alpha=ALPHA)
    return learner, ml.EpisodeSampler(dataset, 5, 1, 15, seed=seed)


def run_worker(workload: str, steps: int, warmup: int) -> None:
    """One rank (or the only process): meta_train, then rank 0 prints its rate as JSON."""
    torch.set_num_threads(1)
    with distributed.process_group(timeout=120, device="cpu"):
        learner, tasks = make(workload)
        size = WORKLOADS[workload]["meta_batch_size"]
        history = ml.meta_train(learner, tasks, steps=warmup + steps, meta_batch_size=size, lr=1e-3, device="cpu",
                                progress=False)
        seconds = history.train["seconds"]
        communication = communication_seconds(learner) if distributed.world_size() > 1 else 0.0
        if distributed.is_main_process():
            elapsed = seconds[-1] - seconds[warmup - 1]
            print(json.dumps({"processes": distributed.world_size(), "steps": steps, "seconds": elapsed,
                              "meta_steps_per_second": steps / elapsed, "final_loss": history.train["loss"][-1],
                              "communication_ms_per_step": 1000 * communication}))


def communication_seconds(learner: torch.nn.Module, repeats: int = 50) -> float:
    """Median time of the collectives meta_train runs per step on ``world_size() > 1`` ranks:
    the error flags, the means of the logged numbers, the gradients, the weights' flags."""
    params = [p for p in learner.parameters() if p.requires_grad]
    values = torch.zeros(3, dtype=torch.float64)
    times = []
    torch.distributed.barrier()
    for _ in range(repeats):
        start = time.perf_counter()
        distributed.failed_ranks(False)
        distributed.all_reduce_mean(values)
        distributed.all_reduce_gradients(params)
        distributed.failed_ranks(False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def launch(workload: str, processes: int, steps: int, warmup: int) -> dict:
    """Run the worker in a fresh process, or ``processes`` of them under torchrun; rank 0's JSON."""
    worker = [__file__, "--worker", workload, "--steps", str(steps), "--warmup", str(warmup)]
    if processes == 1:
        cmd = [sys.executable, *worker]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *worker]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, timeout=600).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def measure(workload: str, repeats: int, steps: int, warmup: int) -> dict:
    runs, communication = {1: [], 2: []}, []
    for _ in range(repeats):
        for processes in (1, 2):
            row = launch(workload, processes, steps, warmup)
            runs[processes].append(row["meta_steps_per_second"])
            if processes == 2:
                communication.append(row["communication_ms_per_step"])
            print(f"{workload:9s} {processes} process(es): {row['meta_steps_per_second']:.2f} meta-steps/s", flush=True)
    median = {p: statistics.median(rates) for p, rates in runs.items()}
    return {
        "meta_batch_size": WORKLOADS[workload]["meta_batch_size"],
        "steps_timed": steps,
        "warmup_steps": warmup,
        "meta_steps_per_second_runs": {str(p): rates for p, rates in runs.items()},
        "meta_steps_per_second": {str(p): rate for p, rate in median.items()},
        "speedup_2_vs_1": median[2] / median[1],
        "communication_ms_per_step_2_processes": statistics.median(communication),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=["sinusoid", "convnet"])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each number of processes (median reported)")
    parser.add_argument("--quick", action="store_true", help="a smoke run (few steps, one repeat)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        run_worker(args.worker, args.steps, args.warmup)
        return
    report = {"machine": {**machine(os.getloadavg()[0]), "load_average_1_5_15min_at_start": list(os.getloadavg())},
              "threads_per_process": 1, "backend": "gloo",
              "launcher": "torchrun --standalone --nproc_per_node=2 (2 processes); plain python (1)"}
    for workload in args.workloads:
        settings = WORKLOADS[workload]
        steps, warmup = (max(2, settings["steps"] // 10), 2) if args.quick else (settings["steps"], settings["warmup"])
        report[workload] = measure(workload, 1 if args.quick else args.repeats, steps, warmup)
    report["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    report["machine"]["load_average_1_5_15min_at_end"] = list(os.getloadavg())
    if args.quick and args.out == RESULTS:
        print(json.dumps(report, indent=2))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
