"""2-D navigation (Finn, Abbeel & Levine 2017, §5.3 and Figure 5, left), on a CPU budget.

Methods, each trained from the same initialisation seeds on goals from
``NavigationTasks(seed, "train")`` until ``--cpu-seconds`` of process CPU time (one thread):

* **MAML** (:func:`metalearn_lite.rl.train_maml_rl`, exact DiCE meta-gradient) and **first-order
  MAML** (``first_order=True``): meta-batch 20 goals, 20 support + 20 query episodes per goal,
  H = 100, inner step α = 1e-3 on the mean discounted return (γ = 0.99), Adam 3e-3;
* **ES-MAML** (:func:`metalearn_lite.rl.train_es_maml`): the same inner step, an evolution-strategies
  outer loop (8 antithetic pairs, σ = 0.02, 5 goals per step, Adam 1e-2);
* **pretrained**: one policy trained on all goals at once (:func:`metalearn_lite.rl.train_pretrained`,
  40 episodes per goal per update, the environment steps of one MAML meta-step);
* **from scratch**: the randomly initialised policy, no meta-training.

Evaluation (``--goals`` held-out goals from ``NavigationTasks(0, "test")``, disjoint from every
training stream): the mean return of 20 episodes, before and after 1, 2 and 3 policy-gradient
steps (:func:`metalearn_lite.rl.adaptation_returns`, 20 new episodes per step), the same goals
and noise seed for every method. MAML, first-order MAML and ES-MAML adapt with the α they were
trained for; pretrained and from-scratch use the α of {3e-4, 1e-3, 3e-3} whose return after 3
steps is best on 40 *meta-train* goals (a validation choice, never the test goals).

Reported per method and step: the mean over training seeds of the mean over goals, the 95% CI of
that mean over goals (pooled over seeds), and each seed's mean. The oracle (moves straight at the
goal) is the upper reference. The MAML paper shows these curves only as a figure (no table), so
its numbers are not copied here; the chapter compares the shapes.

Output: ``benchmarks/results/rl_navigation.json`` and ``rl_navigation_policies.pt`` (θ of seed 0
for MAML, ES-MAML and pretrained, read by chapter 6). Run: ``python benchmarks/rl_navigation.py``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from metalearn_lite.rl import (
    GaussianMLPPolicy, NavigationTasks, adaptation_returns, oracle_returns, train_es_maml, train_maml_rl,
    train_pretrained,
)
from metalearn_lite.utils import mean_ci95

RESULTS = Path(__file__).resolve().parent / "results"
ALPHA, ALPHA_GRID, STEPS = 1e-3, (3e-4, 1e-3, 3e-3), 3
MAML = {"meta_batch": 20, "episodes": 20, "alpha": ALPHA, "lr": 3e-3}
ES = {"population": 8, "sigma": 0.02, "lr": 1e-2, "meta_batch": 5, "episodes": 20, "alpha": ALPHA}
PRETRAINED = {"meta_batch": 20, "episodes": 40, "lr": 3e-3}


def train(method: str, seed: int, cpu_seconds: float) -> tuple[dict, dict]:
    policy = GaussianMLPPolicy()
    start = time.process_time()
    if method == "maml":
        theta, history = train_maml_rl(policy, 10**9, seed=seed, cpu_seconds=cpu_seconds, **MAML)
    elif method == "fomaml":
        theta, history = train_maml_rl(policy, 10**9, seed=seed, cpu_seconds=cpu_seconds, first_order=True, **MAML)
    elif method == "es_maml":
        theta, history = train_es_maml(policy, 10**9, seed=seed, cpu_seconds=cpu_seconds, **ES)
    elif method == "pretrained":
        theta, history = train_pretrained(policy, 10**9, seed=seed, cpu_seconds=cpu_seconds, **PRETRAINED)
    else:  # from scratch
        return policy.init(seed), {"cpu_seconds": 0.0, "steps": 0, "env_steps": 0}
    t = history.train
    return theta, {"cpu_seconds": round(time.process_time() - start, 1), "steps": len(t["env_steps"]),
                   "env_steps": int(t["env_steps"][-1])}


def choose_alpha(theta: dict, seed: int) -> float:
    """The α of ALPHA_GRID with the best return after STEPS steps on 40 meta-train goals."""
    goals = NavigationTasks(1000 + seed, "train").sample(40)
    scores = {a: float(adaptation_returns(GaussianMLPPolicy(), theta, goals, STEPS, a, seed=2)[-1].mean())
              for a in ALPHA_GRID}
    return max(scores, key=scores.get)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu-seconds", type=float, default=60.0, help="training budget per method and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--goals", type=int, default=100, help="held-out goals")
    args = parser.parse_args()
    torch.set_num_threads(1)
    goals = NavigationTasks(0, "test").sample(args.goals)
    methods = ("maml", "fomaml", "es_maml", "pretrained", "scratch")
    training, results, policies = {}, {}, {}
    for method in methods:
        per_seed, runs = [], []
        for seed in range(args.seeds):
            theta, info = train(method, seed, args.cpu_seconds)
            alpha = choose_alpha(theta, seed) if method in ("pretrained", "scratch") else ALPHA
            returns = adaptation_returns(GaussianMLPPolicy(), theta, goals, STEPS, alpha, seed=1)  # (4, goals)
            per_seed.append(returns)
            runs.append({**info, "seed": seed, "alpha": alpha})
            if seed == 0 and method in ("maml", "es_maml", "pretrained"):
                policies[method] = {"params": theta, "alpha": alpha}
            print(f"{method:10s} seed {seed}: α = {alpha:g}, returns {[round(float(r), 1) for r in returns.mean(1)]}"
                  f" ({info['cpu_seconds']} CPU s, {info['steps']} steps)", flush=True)
        stacked = torch.stack(per_seed)  # (seeds, 4, goals)
        results[method] = {
            "mean": [float(stacked[:, k].mean()) for k in range(STEPS + 1)],
            "ci95": [mean_ci95(stacked[:, k].mean(0))[1] for k in range(STEPS + 1)],
            "per_seed": [[float(r) for r in s.mean(1)] for s in per_seed],
        }
        training[method] = runs
    oracle_mean, oracle_ci = mean_ci95(oracle_returns(goals))
    report = {
        "config": {"cpu_seconds_per_run": args.cpu_seconds, "seeds": args.seeds, "goals": args.goals,
                   "horizon": 100, "gamma": 0.99, "steps": STEPS, "alpha_grid": list(ALPHA_GRID), "maml": MAML,
                   "es_maml": ES, "pretrained": PRETRAINED, "eval_episodes": 20, "torch": torch.__version__,
                   "machine": platform.machine(), "threads": 1},
        "training": training,
        "results": results,
        "oracle": {"mean": oracle_mean, "ci95": oracle_ci},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rl_navigation.json").write_text(json.dumps(report, indent=1) + "\n")
    torch.save(policies, RESULTS / "rl_navigation_policies.pt")
    print(f"wrote {RESULTS / 'rl_navigation.json'}")


if __name__ == "__main__":
    main()
