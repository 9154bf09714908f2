"""MAML's sinusoid experiment (Finn, Abbeel & Levine 2017, §5.1 and Fig. 2), on a CPU budget.

Trains, for K = 5 and K = 10 support points:

* **MAML**: ``MLP(1, 1, (40, 40))`` with ReLU, one inner SGD step of size α = 0.01, meta-batch
  of 25 tasks, K support and K query points per task, Adam with β = 1e-3, 70 000 meta-steps —
  the paper's setting in full (``--steps`` for a shorter run). The tasks of a meta-batch are
  batched with ``torch.func.vmap`` (``MAML(..., batched=True)``, exact: the loop's meta-gradient
  to float rounding), which makes the 70 000 steps a matter of minutes on one CPU thread.
* **The pretrained baseline**: the same network trained by plain regression on all tasks (each
  step: 25 fresh tasks, all 2K points of each, mean squared error, Adam 1e-3), the same number
  of steps. (The paper fine-tunes it with an automatically tuned step size; here both models are
  fine-tuned with the same SGD, α = 0.01, as in the paper's figure.)

Evaluation: 600 held-out tasks (a separate seed), K support points, 100 query points drawn
uniformly from [−5, 5]; from each model, 0 … 10 steps of SGD (α = 0.01) on the support points,
the query MSE after each; mean and 95% interval over the tasks, and the paired difference
baseline − MAML.

``--compare`` (a separate, shorter run, added to the same JSON under ``"comparison"``): MAML,
first-order MAML, Reptile and ANIL on K = 10 sinusoids, each meta-trained for 500 steps (meta-batch
10, Adam 1e-2 — a quicker schedule than the paper's), the post-adaptation MSE (one SGD step,
α = 0.01, for all four) on 200 held-out tasks every 100 steps. Reptile's inner loop: 5 SGD steps
of 0.01 on support and query points; ANIL adapts the last linear layer only.

Outputs: ``benchmarks/results/maml_sinusoid.json`` and the state dicts
``benchmarks/results/maml_sinusoid_{maml,pretrained}_k{5,10}.pt`` (read them with
``torch.load(path, weights_only=True)``). Run: ``python benchmarks/maml_sinusoid.py``
(``--steps 200`` for a quick run; one thread), then ``python benchmarks/maml_sinusoid.py --compare``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call

import metalearn_lite as ml
from metalearn_lite.gradient import ANIL, MAML, Reptile

RESULTS = Path(__file__).resolve().parent / "results"
ALPHA, META_BATCH, BETA, HIDDEN = 0.01, 25, 1e-3, (40, 40)
EVAL_TASKS, EVAL_QUERIES, EVAL_STEPS = 600, 100, 10


def sgd_curve(model: torch.nn.Module, xs, ys, xq, yq, alpha: float = ALPHA, steps: int = EVAL_STEPS) -> list[float]:
    """Query MSE after 0, 1, …, ``steps`` plain SGD steps on (xs, ys) from the model's weights (not modified)."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    mses = []
    for step in range(steps + 1):
        with torch.no_grad():
            mses.append(float(F.mse_loss(functional_call(model, params, (xq,)), yq)))
        if step == steps:
            break
        params = {n: p.requires_grad_() for n, p in params.items()}
        grads = torch.autograd.grad(F.mse_loss(functional_call(model, params, (xs,)), ys), list(params.values()))
        params = {n: (p - alpha * g).detach() for (n, p), g in zip(params.items(), grads)}
    return mses


def train_maml(k: int, steps: int) -> tuple[torch.nn.Module, list[float]]:
    ml.seed_everything(k)
    learner = MAML(ml.MLP(1, 1, HIDDEN), alpha=ALPHA, task_type="regression", batched=True)
    history = ml.meta_train(learner, ml.SinusoidTasks(k_shot=k, q_queries=k, seed=k), steps=steps,
                            meta_batch_size=META_BATCH, lr=BETA, progress=False)
    return learner.model, history.train["loss"]


def train_pretrained(k: int, steps: int) -> tuple[torch.nn.Module, list[float]]:
    ml.seed_everything(k)
    model = ml.MLP(1, 1, HIDDEN)
    optimizer, tasks, losses = torch.optim.Adam(model.parameters(), lr=BETA), ml.SinusoidTasks(k_shot=k, q_queries=k, seed=k), []
    for _ in range(steps):  # plain regression on all 2K points of 25 fresh tasks per step
        b = tasks.sample(META_BATCH)
        loss = F.mse_loss(model(torch.cat([b.support_x, b.query_x], 1)), torch.cat([b.support_y, b.query_y], 1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return model, losses


def smooth(losses: list[float], every: int = 50) -> list[float]:
    return [sum(losses[i:i + every]) / len(losses[i:i + every]) for i in range(0, len(losses), every)]


def make_learner(name: str):
    ml.seed_everything(0)
    if name == "ANIL":  # the same 40-40 network, split into a body and the last layer
        body = torch.nn.Sequential(torch.nn.Linear(1, 40), torch.nn.ReLU(), torch.nn.Linear(40, 40), torch.nn.ReLU())
        return ANIL(body, torch.nn.Linear(40, 1), alpha=ALPHA, task_type="regression")
    if name == "Reptile":
        return Reptile(ml.MLP(1, 1, HIDDEN), inner_lr=ALPHA, inner_steps=5, test_inner_steps=1, task_type="regression")
    return MAML(ml.MLP(1, 1, HIDDEN), alpha=ALPHA, first_order=name == "FOMAML", task_type="regression")


def compare(steps: int = 500, every: int = 100, meta_batch: int = 10, lr: float = 1e-2, k: int = 10) -> dict:
    held_out = ml.SinusoidTasks(k_shot=k, q_queries=EVAL_QUERIES, seed=2000)
    episodes = [held_out.episode() for _ in range(200)]
    out = {"k": k, "steps": steps, "every": every, "meta_batch": meta_batch, "lr": lr, "eval_tasks": len(episodes), "methods": {}}
    for name in ("MAML", "FOMAML", "Reptile", "ANIL"):
        learner, start = make_learner(name), time.perf_counter()
        tasks, optimizer = ml.SinusoidTasks(k_shot=k, q_queries=k, seed=k), torch.optim.Adam(learner.parameters(), lr=lr)
        result = ml.evaluate(learner, episodes)
        row = {"step": [0], "mse": [result.mean], "ci95": [result.ci95]}
        for done in range(every, steps + 1, every):
            ml.meta_train(learner, tasks, steps=every, meta_batch_size=meta_batch, optimizer=optimizer, progress=False)
            result = ml.evaluate(learner, episodes)
            row["step"].append(done), row["mse"].append(result.mean), row["ci95"].append(result.ci95)
        row["seconds"] = round(time.perf_counter() - start, 1)
        out["methods"][name] = row
        print(f"{name}: MSE after one step {row['mse'][-1]:.3f} ± {row['ci95'][-1]:.3f} ({row['seconds']} s)", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=70000, help="meta-steps for MAML, and steps for the baseline")
    parser.add_argument("--compare", action="store_true", help="only the MAML/FOMAML/Reptile/ANIL comparison, added to the JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "maml_sinusoid.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    if args.compare:
        previous["comparison"] = compare()
        path.write_text(json.dumps(previous, indent=1))
        print("wrote", path)
        return
    out = {"config": {"alpha": ALPHA, "meta_batch": META_BATCH, "beta": BETA, "hidden": list(HIDDEN), "steps": args.steps,
                      "paper_steps": 70000, "eval_tasks": EVAL_TASKS, "eval_queries": EVAL_QUERIES, "eval_steps": EVAL_STEPS,
                      "torch": torch.__version__, "machine": platform.machine(), "threads": 1},
           "results": {}, **({"comparison": previous["comparison"]} if "comparison" in previous else {})}
    for k in (5, 10):
        entry, models = {"seconds": {}, "train_loss_every_50": {}}, {}
        for name, train in (("maml", train_maml), ("pretrained", train_pretrained)):
            start, cpu_start = time.perf_counter(), time.process_time()
            models[name], losses = train(k, args.steps)
            entry["seconds"][name] = round(time.perf_counter() - start, 1)
            entry.setdefault("cpu_seconds", {})[name] = round(time.process_time() - cpu_start, 1)
            entry["train_loss_every_50"][name] = smooth(losses)
            torch.save(models[name].state_dict(), RESULTS / f"maml_sinusoid_{name}_k{k}.pt")
            print(f"K = {k}: trained {name} for {args.steps} steps in {entry['seconds'][name]} s "
                  f"({entry['cpu_seconds'][name]} CPU s)", flush=True)
        held_out = ml.SinusoidTasks(k_shot=k, q_queries=EVAL_QUERIES, seed=1000 + k)
        episodes = [held_out.episode() for _ in range(EVAL_TASKS)]
        curves = {name: torch.tensor([sgd_curve(m, e.support_x, e.support_y, e.query_x, e.query_y) for e in episodes])
                  for name, m in models.items()}
        for name, c in curves.items():
            stats = [ml.mean_ci95(c[:, s]) for s in range(EVAL_STEPS + 1)]
            entry[name] = {"mse": [m for m, _ in stats], "ci95": [h for _, h in stats]}
        paired = [ml.mean_ci95(curves["pretrained"][:, s] - curves["maml"][:, s]) for s in range(EVAL_STEPS + 1)]
        entry["baseline_minus_maml"] = {"mse": [m for m, _ in paired], "ci95": [h for _, h in paired]}
        out["results"][f"K{k}"] = entry
        for s in (0, 1, 10):
            print(f"K = {k}, {s:2d} steps: MAML {entry['maml']['mse'][s]:.3f} ± {entry['maml']['ci95'][s]:.3f}, "
                  f"pretrained {entry['pretrained']['mse'][s]:.3f} ± {entry['pretrained']['ci95'][s]:.3f}", flush=True)
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
