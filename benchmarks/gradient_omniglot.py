"""Gradient-based meta-learners on Omniglot: train on one small background set, test on unseen alphabets.

Meta-trains one of exact MAML, first-order MAML, Meta-SGD, ANIL or Reptile
(:mod:`metalearn_lite.gradient`) on ``images_background_small1`` (or ``small2``) for a
CPU-time budget, then measures it, with the library's one evaluation routine (mean accuracy
± 95% CI over episodes), on the alphabets of the other small set that training never saw:

* 5-way 1-shot, 5-way 5-shot and 20-way 1-shot (600 episodes each by default, 5 queries per
  class, fixed episode seeds so every method sees the same episodes);
* the 20 one-shot runs of Lake et al. (2015) (20-way 1-shot, evaluation alphabets), official error rate;
* **test-steps sweep** (``--sweep-steps``, ``--sweep-episodes``): accuracy after 0, 1, 2, 3, 5
  and 10 inner steps at test time on the first 200 episodes of each runnable setting (the same
  episodes as above), stored under ``"test_steps_sweep"``, so that a result at the default
  number of test steps can be read against the whole curve (a step size tuned for 1-shot
  training can overshoot with more steps or more shots).

The protocol (data split, settings and seeds, training loop, report) lives in
``omniglot_protocol.py``, shared with the other Omniglot benchmarks; this script only builds the
models and adds their options.

**One N per model.** A gradient-based learner adapts a network whose linear head has a fixed
number of outputs, so a model is trained ``--train-way``-way (default 5) and can only be tested
with that N. The settings with another N — with the default 5-way model, 20-way 1-shot and
Lake et al.'s 20-way runs — are recorded in the results as ``{"skipped": reason}``; train with
``--train-way 20`` to measure them (then the 5-way settings are skipped). (Label slots as in
``memory_omniglot.py`` would need slots that the inner loop never trains to be meaningful at
test time; not attempted here.)

The network is ``ConvNet4(hidden=--hidden, norm=--norm)`` with a linear head of N outputs
(ANIL: the same body, the head alone adapted). Its BatchNorm keeps no running statistics: it
normalises every batch with its own statistics while adapting, in the outer loop and at test
time, as in MAML's reference implementation (see :mod:`metalearn_lite.gradient.maml`).

Defaults per method (each overridable):

* ``maml``, ``fomaml``, ``anil`` — α = 0.4, 1 inner step while training and 3 at test time
  (Finn et al.'s Omniglot setting), Adam outer optimiser, lr 1e-3;
* ``metasgd`` — per-parameter α initialised to 0.4 and learned, 1 inner step at training and at
  test time (Li et al.), Adam, lr 1e-3;
* ``reptile`` — ``--alpha`` is the inner SGD step size (0.1), 5 inner steps while training on
  support + query examples, 10 at test time on the support set; the outer optimiser is SGD with
  learning rate ε = ``--lr`` (default 0.5), which makes a step exactly θ ← θ + ε(φ̄ − θ)
  (see :mod:`metalearn_lite.gradient.reptile`).

The meta-batch (``--meta-batch``, default 4) is far below the papers' 32 (MAML) so that a
CPU run of minutes takes a useful number of steps.

``--augment`` trains on each character rotated by 0/90/180/270 degrees as four classes and
distorts every training image with a small random affine map, exactly as ``metric_omniglot.py``.

    python benchmarks/gradient_omniglot.py --method maml --train small1 --minutes 10 [--augment]

Writes ``benchmarks/results/gradient_<method>_<train>[_augment].json`` (or ``--output``): the
configuration, the training time, a summary of the training history and the results.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

import metalearn_lite as ml
from metalearn_lite.gradient import ANIL, MAML, MetaSGD, Reptile
from omniglot_protocol import (RESULTS_DIR, SETTINGS, TEST_EPISODES, add_run_arguments, add_training_arguments,
                               announce, evaluate_lake_runs, evaluate_settings, fill_defaults, load_split, make_report,
                               start_run, train_for_budget, training_episodes, write_report)

METHODS = ("maml", "fomaml", "metasgd", "anil", "reptile")
#: N of Lake et al.'s one-shot runs
LAKE_WAY = 20
#: logged numbers summarised and printed (Reptile also logs its surrogate ½‖θ − φ̄‖²)
LOGGED = ("loss", "accuracy", "surrogate")
DEFAULTS = {  # per method: inner step size, inner steps (training, test), outer learning rate
    "maml": {"alpha": 0.4, "inner_steps": 1, "test_inner_steps": 3, "lr": 1e-3},
    "fomaml": {"alpha": 0.4, "inner_steps": 1, "test_inner_steps": 3, "lr": 1e-3},
    "metasgd": {"alpha": 0.4, "inner_steps": 1, "test_inner_steps": 1, "lr": 1e-3},
    "anil": {"alpha": 0.4, "inner_steps": 1, "test_inner_steps": 3, "lr": 1e-3},
    "reptile": {"alpha": 0.1, "inner_steps": 5, "test_inner_steps": 10, "lr": 0.5},
}


def make_learner(args: argparse.Namespace) -> ml.MetaLearner:
    """The learner named by ``--method``: a ConvNet4 with ``--train-way`` outputs, adapted by gradient steps."""
    if args.method == "anil":
        body = ml.ConvNet4(hidden=args.hidden, norm=args.norm)
        return ANIL(body, nn.Linear(body.feature_dim, args.train_way), alpha=args.alpha,
                    inner_steps=args.inner_steps, test_inner_steps=args.test_inner_steps)
    model = ml.ConvNet4(out_features=args.train_way, hidden=args.hidden, norm=args.norm)
    if args.method == "reptile":
        return Reptile(model, inner_lr=args.alpha, inner_steps=args.inner_steps, test_inner_steps=args.test_inner_steps,
                       inner_optimizer=args.inner_optimizer, use_query=not args.support_only)
    cls = MetaSGD if args.method == "metasgd" else MAML
    return cls(model, alpha=args.alpha, inner_steps=args.inner_steps, test_inner_steps=args.test_inner_steps,
               first_order=args.method == "fomaml" or args.first_order)


def make_optimizer(learner: ml.MetaLearner, args: argparse.Namespace) -> torch.optim.Optimizer:
    """Adam with ``--lr`` (the outer step size β); for Reptile plain SGD with ``--lr`` = ε."""
    params = [p for p in learner.parameters() if p.requires_grad]
    if args.method == "reptile":
        return torch.optim.SGD(params, lr=args.lr)
    return torch.optim.Adam(params, lr=args.lr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser, METHODS)
    parser.add_argument("--augment", action="store_true", help="90° rotations as new classes + random affine distortions")
    parser.add_argument("--hidden", type=int, default=32, help="filters per conv layer (MAML's Omniglot net: 64)")
    parser.add_argument("--norm", choices=("batch", "group", "layer"), default="batch",
                        help="ConvNet4 normalisation; 'batch' uses batch statistics only (MAML's choice)")
    parser.add_argument("--train-way", type=int, default=5,
                        help="N of the training episodes = outputs of the head; only test settings with this N are run")
    parser.add_argument("--train-shot", type=int, default=1)
    parser.add_argument("--train-queries", type=int, default=5, help="queries per class in training episodes")
    parser.add_argument("--alpha", type=float, default=None,
                        help="inner step size α (Meta-SGD: initial α; Reptile: inner SGD/Adam learning rate); "
                             "default 0.4, Reptile 0.1")
    parser.add_argument("--inner-steps", type=int, default=None, help="inner steps while meta-training (default 1, Reptile 5)")
    parser.add_argument("--test-inner-steps", type=int, default=None,
                        help="inner steps at test time (default 3; Meta-SGD 1; Reptile 10)")
    parser.add_argument("--first-order", action="store_true", help="Meta-SGD/ANIL: drop second-order terms (MAML: use --method fomaml)")
    parser.add_argument("--inner-optimizer", choices=("sgd", "adam"), default="sgd", help="Reptile: inner optimiser")
    parser.add_argument("--support-only", action="store_true",
                        help="Reptile: inner loop on the support set only (default: support + query examples)")
    parser.add_argument("--meta-batch", type=int, default=4, help="episodes per meta-update")
    parser.add_argument("--lr", type=float, default=None, help="outer learning rate: Adam's β (1e-3), Reptile's SGD ε (0.5)")
    parser.add_argument("--halve-lr-every", type=int, default=0, help="halve the outer learning rate every this many steps (0: never)")
    parser.add_argument("--grad-clip", type=float, default=0.0, help="gradient-norm clipping of the meta-gradient (0: none)")
    parser.add_argument("--chunk", type=int, default=50, help="steps between time checks")
    parser.add_argument("--episodes", type=int, default=TEST_EPISODES, help="test episodes per setting")
    parser.add_argument("--sweep-steps", default="0,1,2,3,5,10",
                        help="comma-separated test inner-step counts of the sweep ('' for none)")
    parser.add_argument("--sweep-episodes", type=int, default=200, help="episodes per setting in the sweep")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    fill_defaults(args, DEFAULTS[args.method])
    args.grad_clip = args.grad_clip or None
    if args.train_way < 2:
        parser.error(f"--train-way must be at least 2, got {args.train_way}")
    try:
        args.sweep_steps = [int(x) for x in args.sweep_steps.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--sweep-steps must be comma-separated integers, got {args.sweep_steps!r}")
    if any(x < 0 for x in args.sweep_steps):
        parser.error(f"--sweep-steps must be >= 0, got {args.sweep_steps}")
    return args


def sweep_test_steps(learner: ml.MetaLearner, test_set: ml.FewShotDataset, settings, steps: list[int],
                     episodes: int, queries: int, device) -> dict:
    """Accuracy after each number of test inner steps in ``steps``, on the first ``episodes``
    episodes of each setting (its fixed seed); the learner's ``test_inner_steps`` is restored."""
    default, out = learner.test_inner_steps, {}
    try:
        for setting in settings:
            row = {"steps": steps, "mean": [], "ci95": [], "episodes": episodes}
            for n in steps:
                learner.test_inner_steps = n
                sampler = ml.EpisodeSampler(test_set, setting.n_way, setting.k_shot, queries, seed=setting.seed)
                result = ml.evaluate(learner, sampler, episodes, device=device)
                row["mean"].append(result.mean), row["ci95"].append(result.ci95)
            print(f"{setting.name:12s} sweep over test steps {steps}: "
                  + " ".join(f"{m:.3f}" for m in row["mean"]), flush=True)
            out[setting.name] = row
    finally:
        learner.test_inner_steps = default
    return out


def skip_reason(n_way: int, train_way: int) -> str:
    return (f"the model's head has {train_way} outputs (trained {train_way}-way); "
            f"a {n_way}-way task needs a model trained with --train-way {n_way}")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = start_run(args)
    output = args.output or RESULTS_DIR / f"gradient_{args.method}_{args.train}{'_augment' if args.augment else ''}.json"

    split, sampler = training_episodes(load_split(args.train), args.train_way, args.train_shot, args.train_queries,
                                       args.seed, args.augment)
    learner = make_learner(args).to(device)
    optimizer = make_optimizer(learner, args)
    announce(args.method, split, sampler, device)
    print(learner.extra_repr(), f"outer {type(optimizer).__name__}(lr={args.lr})", flush=True)

    history, seconds = train_for_budget(learner, sampler, minutes=args.minutes, max_steps=args.max_steps,
                                        chunk=args.chunk, meta_batch=args.meta_batch, lr=args.lr, device=device,
                                        grad_clip=args.grad_clip, halve_lr_every=args.halve_lr_every,
                                        show=LOGGED[2:], optimizer=optimizer)

    runnable = [s for s in SETTINGS if s.n_way == args.train_way]
    results = evaluate_settings(learner, split.test_set, runnable, episodes=args.episodes, queries=args.queries,
                                device=device)
    for setting in SETTINGS:
        if setting.n_way != args.train_way:
            results[setting.name] = {"skipped": skip_reason(setting.n_way, args.train_way)}
            print(f"{setting.name:12s} skipped: {results[setting.name]['skipped']}", flush=True)
    results = {s.name: results[s.name] for s in SETTINGS}  # the protocol's order
    if args.train_way == LAKE_WAY:
        results["lake_20way_1shot"] = evaluate_lake_runs(learner, device)
    else:
        results["lake_20way_1shot"] = {"skipped": skip_reason(LAKE_WAY, args.train_way)}
        print(f"lake_20way_1shot skipped: {results['lake_20way_1shot']['skipped']}", flush=True)
    if args.sweep_steps:
        results["test_steps_sweep"] = sweep_test_steps(learner, split.test_set, runnable, args.sweep_steps,
                                                       args.sweep_episodes, args.queries, device)

    report = make_report(args, split, learner, device, history, seconds, results, summary_keys=LOGGED,
                         extra_config={"model": f"{type(learner).__name__}({learner.extra_repr()})",
                                       "outer_optimizer": f"{type(optimizer).__name__}(lr={args.lr})"})
    write_report(report, output)
    return report


if __name__ == "__main__":
    main()
