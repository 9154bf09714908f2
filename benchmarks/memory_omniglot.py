"""Memory-based meta-learners on Omniglot: train on one small background set, test on unseen alphabets.

Meta-trains MANN (Santoro et al. 2016) or Meta Networks (Munkhdalai & Yu 2017) on
``images_background_small1`` (or ``small2``) for a CPU-time budget, then measures it on the
alphabets of the other small set that training never saw:

* MANN only — the **per-presentation accuracy curve** (the paper's Table 1 / Figure 2): episodes
  of ``--classes`` classes, each presented ``--presentations`` times in a random order (labels
  one step late, as in training); accuracy at the 1st, 2nd, …, 10th presentation of a class,
  mean ± 95% CI over episodes;
* 5-way 1-shot (600 episodes, 5 queries per class, fixed seeds), with the library's one
  evaluation routine (``adapt`` on the support set, score the queries; for MANN a query is the
  step after the support sequence, i.e. the 2nd presentation of its class);
* the 20 one-shot runs of Lake et al. (2015) (20-way 1-shot, evaluation alphabets), official error rate.

The protocol (data split, settings and seeds, training loop, report) lives in
``omniglot_protocol.py``, shared with the other Omniglot benchmarks; this script only builds the
models, adds their options and measures MANN's per-presentation curve.

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
import time

import torch

import metalearn_lite as ml
from metalearn_lite.memory import MANN, MetaNetwork, accuracy_by_presentation
from omniglot_protocol import (RESULTS_DIR, SETTINGS, TEST_EPISODES, add_run_arguments, add_training_arguments,
                               announce, evaluate_lake_runs, evaluate_settings, fill_defaults, load_split, make_report,
                               start_run, train_for_budget, write_report)

METHODS = ("mann", "metanet")
#: presentations reported separately (1-based), as in Santoro et al.'s Table 1
KEY_PRESENTATIONS = (1, 2, 5, 10)
#: seed of the per-presentation curve's test episodes
CURVE_SEED = 999
#: logged numbers summarised and printed: MANN also logs accuracy at 1st and later presentations
LOGGED = ("loss", "accuracy", "accuracy_1st", "accuracy_later")
DEFAULTS = {  # per method: meta-batch, learning rate
    "mann": {"meta_batch": 16, "lr": 3e-3},
    "metanet": {"meta_batch": 4, "lr": 1e-3},
}


def make_learner(args: argparse.Namespace) -> ml.MetaLearner:
    """The learner named by ``--method``, with its options; 20 label slots (Lake et al.'s 20-way task)."""
    if args.method == "mann":
        encoder = ml.ConvNet4(hidden=args.hidden, norm="layer") if args.encoder == "conv" else None  # None: PixelEncoder
        return MANN(encoder, max_way=20, controller_size=args.controller, memory_slots=args.memory_slots,
                    memory_width=args.memory_width, read_heads=args.read_heads, gamma=args.gamma)
    return MetaNetwork(ml.ConvNet4(hidden=args.hidden), ml.ConvNet4(hidden=args.hidden), max_way=20)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser, METHODS)
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
    parser.add_argument("--episodes", type=int, default=TEST_EPISODES, help="test episodes for 5-way 1-shot")
    parser.add_argument("--curve-episodes", type=int, default=300, help="MANN: episodes for the per-presentation curve")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    fill_defaults(args, DEFAULTS[args.method])
    args.grad_clip = args.grad_clip or None
    if not 2 <= args.classes <= 20:
        parser.error(f"--classes must lie in 2..20 (the models have 20 label slots), got {args.classes}")
    if args.presentations < 2:
        parser.error("--presentations must be at least 2")
    return args


def presentation_curve(learner: ml.MetaLearner, test_set: ml.FewShotDataset, args: argparse.Namespace,
                       device: torch.device) -> dict:
    """MANN's accuracy at each presentation of a class (Santoro et al.'s Table 1), on the unseen alphabets."""
    start = time.perf_counter()
    curve = accuracy_by_presentation(
        learner, ml.EpisodeSampler(test_set, args.classes, 1, args.presentations - 1, seed=CURVE_SEED),
        episodes=args.curve_episodes, device=device)
    result = {
        "classes": args.classes, "presentations": args.presentations, **curve.to_dict(),
        "key_presentations": {str(p): {"accuracy": curve[p], "ci95": curve.ci95[p - 1]}
                              for p in KEY_PRESENTATIONS if p <= len(curve.accuracy)},
        "seconds": time.perf_counter() - start,
    }
    print(f"per presentation ({args.classes} classes): {curve}", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = start_run(args)
    suffix = f"_{args.classes}way" if args.method == "mann" and args.classes != 5 else ""
    output = args.output or RESULTS_DIR / f"memory_{args.method}_{args.train}{suffix}.json"

    split = load_split(args.train)
    if args.method == "mann":  # K + Q = presentations examples per class, all in one shuffled sequence
        sampler = ml.EpisodeSampler(split.train_set, args.classes, 1, args.presentations - 1, seed=args.seed)
    else:
        sampler = ml.EpisodeSampler(split.train_set, args.classes, 1, args.train_queries, seed=args.seed)
    learner = make_learner(args).to(device)
    announce(args.method, split, sampler, device)

    history, seconds = train_for_budget(learner, sampler, minutes=args.minutes, max_steps=args.max_steps,
                                        chunk=args.chunk, meta_batch=args.meta_batch, lr=args.lr, device=device,
                                        grad_clip=args.grad_clip, show=LOGGED[2:])

    results: dict = {}
    if args.method == "mann":
        results["presentation_curve"] = presentation_curve(learner, split.test_set, args, device)
    results.update(evaluate_settings(learner, split.test_set, SETTINGS[:1], episodes=args.episodes,  # 5-way 1-shot
                                     queries=args.queries, device=device))
    results["lake_20way_1shot"] = evaluate_lake_runs(learner, device)

    report = make_report(args, split, learner, device, history, seconds, results, summary_keys=LOGGED,
                         extra_config={"model": f"{type(learner).__name__}({learner.extra_repr()})"})
    write_report(report, output)
    return report


if __name__ == "__main__":
    main()
