"""Metric-based meta-learners on Omniglot: train on one small background set, test on unseen alphabets.

Meta-trains one of ProtoNet, Matching Networks (with or without full context embeddings) or
Relation Networks on ``images_background_small1`` (or ``small2``) for a CPU-time budget, then
measures it, with the library's one evaluation routine (mean accuracy ± 95% CI over episodes),
on the alphabets of the other small set that training never saw:

* 5-way 1-shot, 5-way 5-shot and 20-way 1-shot (600 episodes each by default, 5 queries per
  class, fixed episode seeds so every method sees the same episodes);
* the 20 one-shot runs of Lake et al. (2015) (20-way 1-shot, evaluation alphabets), official error rate.

The protocol (data split, settings and seeds, training loop, report) lives in
``omniglot_protocol.py``, shared with the other Omniglot benchmarks; this script only builds the
models and adds their options.

``--augment`` trains on each character rotated by 0/90/180/270 degrees as four classes
(Santoro et al. 2016; Vinyals et al. 2016) and distorts every training image with a small
random affine map (rotation ±10°, scale 0.9–1.1, shear ±0.1, shift ±2 px;
:func:`metalearn_lite.data.augment.random_affine`) through the sampler's ``transform=`` hook.

One model is trained (``--train-way``/``--train-shot``, default 5-way 1-shot) and tested in all
settings. Relation Networks therefore average a class's K feature maps by default
(``--relation-pooling mean``): the paper's sum is meant for one model per K and makes a 1-shot
model fail at 5 shots.

    python benchmarks/metric_omniglot.py --method protonet --train small1 --minutes 10 [--augment]

``--watch-every N`` scores 5-way 1-shot on 200 episodes of the unseen alphabets (their own seed,
not the test episodes) every N steps, outside the time budget, and reports the CPU minutes until
``--target`` (default 97%) was first reached. The book's runs (all with ``--threads 1
--train-way 20 --meta-batch 1 --augment``): ProtoNet ``--minutes 30 --halve-lr-every 2000
--watch-every 500``; ProtoNet ``--train-way 60 --minutes 30 --halve-lr-every 800 --watch-every 500``; Matching Networks (with and
without FCE) ``--scale 10 --minutes 8``; Relation Networks and ProtoNet on small2 ``--minutes 8``.

Writes ``benchmarks/results/metric_<method>_<train>[_augment].json`` (or ``--output``): the
configuration, the training time, a summary of the training history and the results.
"""
from __future__ import annotations

import argparse

import metalearn_lite as ml
from metalearn_lite.metric import MatchingNetwork, ProtoNet, RelationNetwork
from omniglot_protocol import (RESULTS_DIR, TEST_EPISODES, add_run_arguments, add_training_arguments, announce,
                               evaluate_lake_runs, evaluate_settings, load_split, make_report, start_run,
                               train_for_budget, training_episodes, write_report)

METHODS = ("protonet", "matching", "matching-fce", "relation")
#: seed of the episodes watched during training (``--watch-every``); the test settings use others
WATCH_SEED = 2000


def make_learner(args: argparse.Namespace) -> ml.MetaLearner:
    """The learner named by ``--method``, with its options."""
    if args.method == "protonet":
        return ProtoNet(ml.ConvNet4(hidden=args.hidden))
    if args.method in ("matching", "matching-fce"):
        return MatchingNetwork(ml.ConvNet4(hidden=args.hidden), fce=args.method == "matching-fce", scale=args.scale,
                               processing_steps=args.processing_steps)
    return RelationNetwork(hidden=args.hidden, class_pooling=args.relation_pooling)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser, METHODS)
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
    parser.add_argument("--episodes", type=int, default=TEST_EPISODES, help="test episodes per setting")
    parser.add_argument("--watch-every", type=int, default=0,
                        help="every this many steps (a multiple of --chunk), score 5-way 1-shot on the unseen alphabets "
                             "(--watch-episodes episodes of their own seed, not the test episodes) to time --target (0: off)")
    parser.add_argument("--watch-episodes", type=int, default=200)
    parser.add_argument("--target", type=float, default=0.97, help="5-way 1-shot accuracy whose time to reach is reported")
    add_run_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = start_run(args)
    output = args.output or RESULTS_DIR / f"metric_{args.method.replace('-', '_')}_{args.train}{'_augment' if args.augment else ''}.json"

    split, sampler = training_episodes(load_split(args.train), args.train_way, args.train_shot, args.train_queries,
                                       args.seed, args.augment)
    learner = make_learner(args).to(device)
    announce(args.method, split, sampler, device)

    watch: list[dict] = []

    def monitor(steps: int, seconds: float) -> bool:
        """Every ``--watch-every`` steps: 5-way 1-shot accuracy on watch episodes of the unseen alphabets."""
        if args.watch_every and steps % args.watch_every == 0:
            episodes = ml.EpisodeSampler(split.test_set, 5, 1, args.queries, seed=WATCH_SEED)
            result = ml.evaluate(learner, episodes, args.watch_episodes, device=device, progress=False)
            watch.append({"step": steps, "seconds": seconds, "accuracy": result.mean, "ci95": result.ci95})
            print(f"watch: step {steps} after {seconds / 60:.1f} min: 5-way 1-shot {result}", flush=True)
        return False

    history, seconds = train_for_budget(learner, sampler, minutes=args.minutes, max_steps=args.max_steps,
                                        chunk=args.chunk, meta_batch=args.meta_batch, lr=args.lr, device=device,
                                        halve_lr_every=args.halve_lr_every, monitor=monitor)

    results = evaluate_settings(learner, split.test_set, episodes=args.episodes, queries=args.queries, device=device)
    results["lake_20way_1shot"] = evaluate_lake_runs(learner, device)
    if args.watch_every:
        reached = next((w for w in watch if w["accuracy"] >= args.target), None)
        results["time_to_target"] = {
            "target": args.target, "setting": "5way_1shot", "episodes": args.watch_episodes, "seed": WATCH_SEED,
            "minutes": None if reached is None else reached["seconds"] / 60,
            "step": None if reached is None else reached["step"], "curve": watch}

    report = make_report(args, split, learner, device, history, seconds, results)
    write_report(report, output)
    return report


if __name__ == "__main__":
    main()
