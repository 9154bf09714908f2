"""Memory-based meta-learners on Omniglot: train on one small background set, test on unseen alphabets.

Meta-trains MANN (Santoro et al. 2016) or Meta Networks (Munkhdalai & Yu 2017) on
``images_background_small1`` (or ``small2``) for a wall-clock budget, then measures it on the
alphabets of the other small set that training never saw:

* MANN only — the **per-presentation accuracy curve** (the paper's Table 1 / Figure 2): episodes
  of ``--classes`` classes, each presented ``--presentations`` times in a random order (labels
  one step late, as in training); accuracy at the 1st, 2nd, …, 10th presentation of a class,
  mean ± 95% CI over episodes;
* 5-way 1-shot (600 episodes, 5 queries per class, fixed seeds), with the library's one
  evaluation routine (``adapt`` on the support set, score the queries; for MANN a query is the
  step after the support sequence, i.e. the 2nd presentation of its class);
* the 20 one-shot runs of Lake et al. (2015) (20-way 1-shot, evaluation alphabets), official error rate.

MANN trains on episodes of ``--classes`` classes (5 or 15) × ``--presentations`` examples
(shuffled into one sequence, loss at every step); Meta Networks on ``--classes``-way 1-shot
episodes with ``--train-queries`` queries per class. Both models have ``max_way = 20`` label
slots so that one model also runs Lake et al.'s 20-way task.

    python benchmarks/memory_omniglot.py --method mann --train small1 --minutes 10 --classes 5
    python benchmarks/memory_omniglot.py --method metanet --train small1 --minutes 10

Writes ``benchmarks/results/memory_<method>_<train>.json`` (or ``--output``; MANN with
``--classes 15`` adds ``_15way``): the configuration, the training time, a summary of the
training history and the results.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import metalearn_lite as ml
from metalearn_lite.memory import MANN, MetaNetwork, accuracy_by_presentation

HERE = Path(__file__).resolve().parent
SETS = {"small1": "images_background_small1", "small2": "images_background_small2"}
METHODS = ("mann", "metanet")
#: presentations reported separately (1-based), as in Santoro et al.'s Table 1
KEY_PRESENTATIONS = (1, 2, 5, 10)
DEFAULTS = {  # per method: meta-batch, learning rate
    "mann": {"meta_batch": 16, "lr": 3e-3},
    "metanet": {"meta_batch": 4, "lr": 1e-3},
}


def make_learner(args: argparse.Namespace) -> ml.MetaLearner:
    if args.method == "mann":
        encoder = ml.ConvNet4(hidden=args.hidden, norm="layer") if args.encoder == "conv" else None  # None: PixelEncoder
        return MANN(encoder, max_way=20, controller_size=args.controller, memory_slots=args.memory_slots,
                    memory_width=args.memory_width, read_heads=args.read_heads, gamma=args.gamma)
    return MetaNetwork(ml.ConvNet4(hidden=args.hidden), ml.ConvNet4(hidden=args.hidden), max_way=20)


def train_for(learner, sampler, args, device) -> tuple[ml.History, float]:
    """Meta-train in chunks of ``meta_train`` calls (one optimiser) until the time or step budget is spent."""
    optimizer = torch.optim.Adam([p for p in learner.parameters() if p.requires_grad], lr=args.lr)
    history, steps, start = ml.History(), 0, time.perf_counter()
    budget = args.minutes * 60
    while time.perf_counter() - start < budget and (args.max_steps is None or steps < args.max_steps):
        chunk = args.chunk if args.max_steps is None else min(args.chunk, args.max_steps - steps)
        part = ml.meta_train(learner, sampler, steps=chunk, meta_batch_size=args.meta_batch, optimizer=optimizer,
                             device=device, grad_clip=args.grad_clip, progress=False)
        offset_s = history.train["seconds"][-1] if steps else 0.0
        for i, row in enumerate(zip(*part.train.values())):
            values = dict(zip(part.train.keys(), row))
            values["step"] = steps + i + 1
            values["seconds"] = offset_s + values["seconds"]
            history.log(history.train, values)
        steps += chunk
        extra = "".join(f"  {k} {sum(part.train[k]) / chunk:.3f}" for k in ("accuracy_1st", "accuracy_later") if k in part.train)
        print(f"step {steps:6d}  {time.perf_counter() - start:7.1f}s  loss {sum(part.train['loss']) / chunk:.4f}  "
              f"accuracy {sum(part.train['accuracy']) / chunk:.3f}{extra}", flush=True)
    return history, time.perf_counter() - start


def summarise(history: ml.History, points: int = 50) -> dict:
    """Steps, and mean logged numbers over the first and last 10% of steps and at ~``points`` evenly spaced windows."""
    t = history.train
    n = len(t.get("step", []))
    if n == 0:
        return {"steps": 0}
    keys = [k for k in ("loss", "accuracy", "accuracy_1st", "accuracy_later") if k in t]
    tenth, window = max(1, n // 10), max(1, n // points)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {
        "steps": n,
        "seconds": t["seconds"][-1],
        "first_10pct": {k: mean(t[k][:tenth]) for k in keys},
        "last_10pct": {k: mean(t[k][-tenth:]) for k in keys},
        "curve": [{"step": t["step"][min(i + window, n) - 1], **{k: mean(t[k][i:i + window]) for k in keys}}
                  for i in range(0, n, window)],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--train", choices=list(SETS), default="small1", help="background set to meta-train on")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget for meta-training")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many meta-updates (default: time only)")
    parser.add_argument("--classes", type=int, default=5, help="classes per training episode (MANN: also of the curve's episodes)")
    parser.add_argument("--presentations", type=int, default=10, help="MANN: examples (presentations) of each class per episode")
    parser.add_argument("--train-queries", type=int, default=5, help="Meta Networks: queries per class in training episodes")
    parser.add_argument("--meta-batch", type=int, default=None, help="episodes per meta-update (MANN 16, Meta Networks 4)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (MANN 3e-3, Meta Networks 1e-3)")
    parser.add_argument("--grad-clip", type=float, default=10.0, help="gradient-norm clipping (0: none)")
    parser.add_argument("--chunk", type=int, default=50, help="steps between time checks")
    parser.add_argument("--encoder", choices=("pixels", "conv"), default="pixels",
                        help="MANN: PixelEncoder (flattened pixels + linear) or ConvNet4(hidden, norm='layer')")
    parser.add_argument("--hidden", type=int, default=32, help="filters per conv layer (Meta Networks; MANN with --encoder conv)")
    parser.add_argument("--controller", type=int, default=200, help="MANN: LSTM units (paper: 200)")
    parser.add_argument("--memory-slots", type=int, default=128, help="MANN: memory slots (paper: 128)")
    parser.add_argument("--memory-width", type=int, default=40, help="MANN: numbers per slot (paper: 40)")
    parser.add_argument("--read-heads", type=int, default=4, help="MANN: read heads (paper: 4)")
    parser.add_argument("--gamma", type=float, default=0.95, help="MANN: usage decay γ (paper: 0.95)")
    parser.add_argument("--episodes", type=int, default=600, help="test episodes for 5-way 1-shot")
    parser.add_argument("--curve-episodes", type=int, default=300, help="MANN: episodes for the per-presentation curve")
    parser.add_argument("--queries", type=int, default=5, help="queries per class in test episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="default: CUDA if available, else CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    for key, value in DEFAULTS[args.method].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.grad_clip = args.grad_clip or None
    if not 2 <= args.classes <= 20:
        parser.error(f"--classes must lie in 2..20 (the models have 20 label slots), got {args.classes}")
    if args.presentations < 2:
        parser.error("--presentations must be at least 2")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ml.resolve_device(args.device)
    suffix = f"_{args.classes}way" if args.method == "mann" and args.classes != 5 else ""
    output = args.output or HERE / "results" / f"memory_{args.method}_{args.train}{suffix}.json"

    ml.seed_everything(args.seed)
    train_set = ml.load_omniglot(SETS[args.train], progress=False)
    other = ml.load_omniglot(SETS["small2" if args.train == "small1" else "small1"], progress=False)
    unseen = [a for a in other.alphabet_names() if a not in set(train_set.alphabet_names())]
    test_set, _ = other.split_by_alphabet(unseen)
    if args.method == "mann":  # K + Q = presentations examples per class, all in one shuffled sequence
        sampler = ml.EpisodeSampler(train_set, args.classes, 1, args.presentations - 1, seed=args.seed)
    else:
        sampler = ml.EpisodeSampler(train_set, args.classes, 1, args.train_queries, seed=args.seed)
    learner = make_learner(args).to(device)
    print(f"{args.method} on {train_set.name} ({train_set.num_classes} classes), {sampler}; test: {unseen} "
          f"({test_set.num_classes} classes); device {device}", flush=True)

    history, seconds = train_for(learner, sampler, args, device)

    results: dict = {}
    if args.method == "mann":
        start = time.perf_counter()
        curve = accuracy_by_presentation(
            learner, ml.EpisodeSampler(test_set, args.classes, 1, args.presentations - 1, seed=999),
            episodes=args.curve_episodes, device=device)
        results["presentation_curve"] = {
            "classes": args.classes, "presentations": args.presentations, **curve.to_dict(),
            "key_presentations": {str(p): {"accuracy": curve[p], "ci95": curve.ci95[p - 1]}
                                  for p in KEY_PRESENTATIONS if p <= len(curve.accuracy)},
            "seconds": time.perf_counter() - start,
        }
        print(f"per presentation ({args.classes} classes): {curve}", flush=True)
    start = time.perf_counter()
    result = ml.evaluate(learner, ml.EpisodeSampler(test_set, 5, 1, args.queries, seed=1000), args.episodes, device=device)
    results["5way_1shot"] = {**result.to_dict(), "seconds": time.perf_counter() - start}
    print(f"5way_1shot   {result}", flush=True)
    lake = ml.evaluate_lake(learner, ml.load_lake_runs(progress=False), device=device)
    results["lake_20way_1shot"] = lake.to_dict()
    print(lake, flush=True)

    report = {
        "what": f"{args.method} meta-trained on Omniglot {SETS[args.train]}, tested on unseen alphabets and Lake et al.'s 20 runs",
        "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                   "train_dataset": train_set.name, "train_classes": train_set.num_classes,
                   "test_alphabets": unseen, "test_classes": test_set.num_classes,
                   "model": f"{type(learner).__name__}({learner.extra_repr()})",
                   "parameters": sum(p.numel() for p in learner.parameters())},
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
                        "torch_threads": torch.get_num_threads()},
        "training": {"seconds": seconds, "steps": len(history.train.get("step", [])),
                     "episodes": len(history.train.get("step", [])) * args.meta_batch},
        "history": summarise(history),
        "results": results,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output}")
    return report


if __name__ == "__main__":
    main()
