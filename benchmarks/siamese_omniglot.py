"""Siamese networks (Koch et al. 2015) on Omniglot: train on one small background set, test on unseen alphabets.

Meta-trains :class:`metalearn_lite.metric.SiameseNetwork` on ``images_background_small1`` (or
``small2``) for a CPU-time budget with the verification loss (balanced binary cross-entropy on
every (query, support) pair of each training episode), then measures it exactly as the other
Omniglot benchmarks do — same protocol, same test episodes (``omniglot_protocol.py``):

* 5-way 1-shot, 5-way 5-shot and 20-way 1-shot on the alphabets of the other small set that
  training never saw (600 episodes each by default, 5 queries per class, fixed episode seeds);
* the 20 one-shot runs of Lake et al. (2015), official error rate. Lake et al.'s table puts
  Koch et al.'s Siamese ConvNet at 8.0% error, trained on the *full* background set (30
  alphabets, with 8 affine distortions of each pair) — far more data than small1 or small2.

Methods: ``siamese`` — the twin is ``ConvNet4`` (64-d embeddings) and the weighted L1 head reads
them directly; ``siamese-fc`` — Koch's last layer is added: a fully connected layer of
``--feature-dim`` units (4096 in the paper) with a sigmoid. A query gets the class of its most
similar support image (for 5-shot: the maximum logit of p(same) over a class's 5 images).

``--augment`` trains on each character rotated by 0/90/180/270 degrees as four classes (as the
other Omniglot benchmarks do; Koch et al. did not) and distorts every training image through the
sampler's ``transform=`` hook: with ``--distortion koch`` (the default) by Koch et al.'s affine
maps (:func:`metalearn_lite.metric.koch_affine`: rotation ±10°, shears ±0.3, scales 0.8–1.2 per
axis, shifts ±2 px of a 105-px image, each component kept with probability 0.5), with
``--distortion library`` by the other benchmarks' :func:`metalearn_lite.data.random_affine`.

    python benchmarks/siamese_omniglot.py --method siamese --train small1 --minutes 10 --train-way 20 --augment

Writes ``benchmarks/results/metric_<method>_<train>[_augment].json`` (or ``--output``): the
configuration, the training time, a summary of the training history (loss, one-shot accuracy of
the training queries and balanced pair accuracy) and the results.
"""
from __future__ import annotations

import argparse
import dataclasses

import metalearn_lite as ml
from metalearn_lite.metric import SiameseNetwork, koch_affine
from omniglot_protocol import (RESULTS_DIR, TEST_EPISODES, OmniglotSplit, add_run_arguments, add_training_arguments,
                               announce, evaluate_lake_runs, evaluate_settings, load_split, make_report, start_run,
                               train_for_budget, write_report)

METHODS = ("siamese", "siamese-fc")
DISTORTIONS = {"koch": koch_affine, "library": ml.data.random_affine}


def make_learner(args: argparse.Namespace) -> SiameseNetwork:
    """The Siamese network named by ``--method``, with its options."""
    feature_dim = args.feature_dim if args.method == "siamese-fc" else None
    return SiameseNetwork(ml.ConvNet4(hidden=args.hidden), feature_dim=feature_dim, balance=not args.no_balance)


def training_episodes(split: OmniglotSplit, args: argparse.Namespace) -> tuple[OmniglotSplit, ml.EpisodeSampler]:
    """The training episodes; with ``--augment``, 90° rotations as new classes and ``--distortion`` on every image."""
    if args.augment:
        split = dataclasses.replace(split, train_set=split.train_set.with_rotations())
    sampler = ml.EpisodeSampler(split.train_set, args.train_way, args.train_shot, args.train_queries, seed=args.seed,
                                transform=DISTORTIONS[args.distortion] if args.augment else None)
    return split, sampler


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser, METHODS)
    parser.add_argument("--augment", action="store_true", help="90° rotations as new classes + affine distortions (--distortion)")
    parser.add_argument("--distortion", choices=list(DISTORTIONS), default="koch",
                        help="with --augment: Koch et al.'s affine maps (default) or the library's random_affine")
    parser.add_argument("--hidden", type=int, default=64, help="filters per conv layer of ConvNet4")
    parser.add_argument("--feature-dim", type=int, default=4096, help="siamese-fc: width of the sigmoid layer (Koch: 4096)")
    parser.add_argument("--no-balance", action="store_true",
                        help="plain mean BCE over all pairs instead of equal total weight for same and different pairs")
    parser.add_argument("--train-way", type=int, default=5, help="N of the training episodes")
    parser.add_argument("--train-shot", type=int, default=1)
    parser.add_argument("--train-queries", type=int, default=5, help="queries per class in training episodes")
    parser.add_argument("--meta-batch", type=int, default=4, help="episodes per meta-update")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--halve-lr-every", type=int, default=0, help="halve the learning rate every this many steps (0: never)")
    parser.add_argument("--chunk", type=int, default=50, help="steps between time checks")
    parser.add_argument("--episodes", type=int, default=TEST_EPISODES, help="test episodes per setting")
    parser.add_argument("--skip-lake", action="store_true", help="do not score Lake et al.'s 20 runs (smoke runs)")
    add_run_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = start_run(args)
    output = args.output or RESULTS_DIR / f"metric_{args.method.replace('-', '_')}_{args.train}{'_augment' if args.augment else ''}.json"

    split, sampler = training_episodes(load_split(args.train), args)
    learner = make_learner(args).to(device)
    announce(args.method, split, sampler, device)

    history, seconds = train_for_budget(learner, sampler, minutes=args.minutes, max_steps=args.max_steps,
                                        chunk=args.chunk, meta_batch=args.meta_batch, lr=args.lr, device=device,
                                        halve_lr_every=args.halve_lr_every, show=("pair_accuracy",))

    results = evaluate_settings(learner, split.test_set, episodes=args.episodes, queries=args.queries, device=device)
    if not args.skip_lake:
        results["lake_20way_1shot"] = evaluate_lake_runs(learner, device)

    report = make_report(args, split, learner, device, history, seconds, results,
                         summary_keys=("loss", "accuracy", "pair_accuracy"),
                         extra_config={"one_shot_rule": "most similar support image (max logit of p(same) per class)",
                                       "pairs": "every (query, support) pair of each training episode"})
    write_report(report, output)
    return report


if __name__ == "__main__":
    main()
