"""Metric-based meta-learners on Omniglot: train on one small background set, test on unseen alphabets.

Meta-trains one of ProtoNet, Matching Networks (with or without full context embeddings) or
Relation Networks on ``images_background_small1`` (or ``small2``) for a wall-clock budget, then
measures it, with the library's one evaluation routine (mean accuracy ± 95% CI over episodes),
on the alphabets of the other small set that training never saw:

* 5-way 1-shot, 5-way 5-shot and 20-way 1-shot (600 episodes each by default, 5 queries per
  class, fixed episode seeds so every method sees the same episodes);
* the 20 one-shot runs of Lake et al. (2015) (20-way 1-shot, evaluation alphabets), official error rate.

``--augment`` trains on each character rotated by 0/90/180/270 degrees as four classes
(Santoro et al. 2016; Vinyals et al. 2016) and distorts every training image with a small
random affine map (rotation ±10°, scale 0.9–1.1, shear ±0.1, shift ±2 px) through the
sampler's ``transform=`` hook.

One model is trained (``--train-way``/``--train-shot``, default 5-way 1-shot) and tested in all
settings. Relation Networks therefore average a class's K feature maps by default
(``--relation-pooling mean``): the paper's sum is meant for one model per K and makes a 1-shot
model fail at 5 shots.

    python benchmarks/metric_omniglot.py --method protonet --train small1 --minutes 10 [--augment]

Writes ``benchmarks/results/metric_<method>_<train>[_augment].json`` (or ``--output``): the
configuration, the training time, a summary of the training history and the results.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import metalearn_lite as ml
from metalearn_lite.metric import MatchingNetwork, ProtoNet, RelationNetwork

HERE = Path(__file__).resolve().parent
SETS = {"small1": "images_background_small1", "small2": "images_background_small2"}
METHODS = ("protonet", "matching", "matching-fce", "relation")
#: (name, N, K) of the episode settings measured on the unseen alphabets.
SETTINGS = (("5way_1shot", 5, 1), ("5way_5shot", 5, 5), ("20way_1shot", 20, 1))


def random_affine(x: torch.Tensor, g: torch.Generator, degrees: float = 10.0, scale: float = 0.1,
                  shear: float = 0.1, shift_px: float = 2.0) -> torch.Tensor:
    """A small random affine distortion of each image of ``x`` ``(B, C, H, W)`` (ink = 1, background 0)."""
    b, _, h, w = x.shape

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, generator=g)

    angle = uniform(-degrees, degrees) * math.pi / 180
    zoom = uniform(1 - scale, 1 + scale)
    sh = uniform(-shear, shear)
    tx, ty = uniform(-shift_px, shift_px) * 2 / w, uniform(-shift_px, shift_px) * 2 / h  # in [-1, 1] grid units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin + sh, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def make_learner(args: argparse.Namespace) -> ml.MetaLearner:
    if args.method == "protonet":
        return ProtoNet(ml.ConvNet4(hidden=args.hidden))
    if args.method in ("matching", "matching-fce"):
        return MatchingNetwork(ml.ConvNet4(hidden=args.hidden), fce=args.method == "matching-fce", scale=args.scale,
                               processing_steps=args.processing_steps)
    return RelationNetwork(hidden=args.hidden, class_pooling=args.relation_pooling)


def train_for(learner, sampler, args, device) -> tuple[ml.History, float]:
    """Meta-train in chunks of ``meta_train`` calls (one optimiser) until the time or step budget is spent."""
    optimizer = torch.optim.Adam([p for p in learner.parameters() if p.requires_grad], lr=args.lr)
    history, steps, start = ml.History(), 0, time.perf_counter()
    budget = args.minutes * 60
    while time.perf_counter() - start < budget and (args.max_steps is None or steps < args.max_steps):
        chunk = args.chunk if args.max_steps is None else min(args.chunk, args.max_steps - steps)
        part = ml.meta_train(learner, sampler, steps=chunk, meta_batch_size=args.meta_batch, optimizer=optimizer,
                             device=device, progress=False)
        offset_s = history.train["seconds"][-1] if steps else 0.0
        for i, row in enumerate(zip(*part.train.values())):
            values = dict(zip(part.train.keys(), row))
            values["step"] = steps + i + 1
            values["seconds"] = offset_s + values["seconds"]
            history.log(history.train, values)
        steps += chunk
        if args.halve_lr_every and steps // args.halve_lr_every != (steps - chunk) // args.halve_lr_every:
            for group in optimizer.param_groups:
                group["lr"] /= 2
        print(f"step {steps:6d}  {time.perf_counter() - start:7.1f}s  loss {sum(part.train['loss']) / chunk:.4f}  "
              f"accuracy {sum(part.train['accuracy']) / chunk:.3f}", flush=True)
    return history, time.perf_counter() - start


def summarise(history: ml.History, points: int = 50) -> dict:
    """Steps, and mean loss/accuracy over the first and last 10% of steps and at ~``points`` evenly spaced windows."""
    t = history.train
    n = len(t["step"])
    if n == 0:
        return {"steps": 0}
    tenth = max(1, n // 10)
    window = max(1, n // points)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {
        "steps": n,
        "seconds": t["seconds"][-1],
        "first_10pct": {k: mean(t[k][:tenth]) for k in ("loss", "accuracy")},
        "last_10pct": {k: mean(t[k][-tenth:]) for k in ("loss", "accuracy")},
        "curve": [
            {"step": t["step"][min(i + window, n) - 1], **{k: mean(t[k][i:i + window]) for k in ("loss", "accuracy")}}
            for i in range(0, n, window)
        ],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--train", choices=list(SETS), default="small1", help="background set to meta-train on")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget for meta-training")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many meta-updates (default: time only)")
    parser.add_argument("--augment", action="store_true", help="90° rotations as new classes + random affine distortions")
    parser.add_argument("--hidden", type=int, default=64, help="filters per conv layer (64 in the papers)")
    parser.add_argument("--train-way", type=int, default=5, help="N of the training episodes (ProtoNet's paper: 60)")
    parser.add_argument("--train-shot", type=int, default=1)
    parser.add_argument("--train-queries", type=int, default=5, help="queries per class in training episodes")
    parser.add_argument("--meta-batch", type=int, default=4, help="episodes per meta-update")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--halve-lr-every", type=int, default=0, help="halve the learning rate every this many steps (0: never)")
    parser.add_argument("--chunk", type=int, default=50, help="steps between time checks")
    parser.add_argument("--scale", type=float, default=1.0, help="Matching Networks: inverse temperature of the cosine attention (1 = paper)")
    parser.add_argument("--processing-steps", type=int, default=5, help="Matching Networks FCE: attention-LSTM steps")
    parser.add_argument("--relation-pooling", choices=("sum", "mean"), default="mean",
                        help="Relation Networks: sum (paper, one model per K) or mean of a class's K feature maps; "
                             "mean, because one model trained 1-shot is tested at 1 and 5 shots")
    parser.add_argument("--episodes", type=int, default=600, help="test episodes per setting")
    parser.add_argument("--queries", type=int, default=5, help="queries per class in test episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="default: CUDA if available, else CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ml.resolve_device(args.device)
    output = args.output or HERE / "results" / f"metric_{args.method.replace('-', '_')}_{args.train}{'_augment' if args.augment else ''}.json"

    ml.seed_everything(args.seed)
    train_set = ml.load_omniglot(SETS[args.train], progress=False)
    other = ml.load_omniglot(SETS["small2" if args.train == "small1" else "small1"], progress=False)
    unseen = [a for a in other.alphabet_names() if a not in set(train_set.alphabet_names())]
    test_set, _ = other.split_by_alphabet(unseen)
    if args.augment:
        train_set = train_set.with_rotations()
    sampler = ml.EpisodeSampler(train_set, args.train_way, args.train_shot, args.train_queries, seed=args.seed,
                                transform=random_affine if args.augment else None)
    learner = make_learner(args).to(device)
    print(f"{args.method} on {train_set.name} ({train_set.num_classes} classes), {sampler}; test: {unseen} "
          f"({test_set.num_classes} classes); device {device}", flush=True)

    history, seconds = train_for(learner, sampler, args, device)

    results = {}
    for i, (name, n_way, k_shot) in enumerate(SETTINGS):
        start = time.perf_counter()
        result = ml.evaluate(learner, ml.EpisodeSampler(test_set, n_way, k_shot, args.queries, seed=1000 + i),
                             args.episodes, device=device)
        results[name] = {**result.to_dict(), "seconds": time.perf_counter() - start}
        print(f"{name:12s} {result}", flush=True)
    lake = ml.evaluate_lake(learner, ml.load_lake_runs(progress=False), device=device)
    results["lake_20way_1shot"] = lake.to_dict()
    print(lake, flush=True)

    report = {
        "what": f"{args.method} meta-trained on Omniglot {SETS[args.train]}, tested on unseen alphabets and Lake et al.'s 20 runs",
        "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                   "train_dataset": train_set.name, "train_classes": train_set.num_classes,
                   "test_alphabets": unseen, "test_classes": test_set.num_classes,
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
