"""The Omniglot protocol shared by the benchmark scripts, so that their result tables line up.

Every Omniglot benchmark (``metric_omniglot.py``, ``memory_omniglot.py``, and any later one)
follows the same protocol, defined here and nowhere else:

* **training data** — one small background set, ``images_background_small1`` or ``small2``
  (``--train``), meta-trained for a CPU-time budget (``--minutes``, optionally ``--max-steps``)
  in chunks of :func:`metalearn_lite.meta_train` calls sharing one Adam optimiser;
* **test data** — the alphabets of the *other* small set that the training set does not contain
  (unseen alphabets);
* **episode settings** — 5-way 1-shot, 5-way 5-shot and 20-way 1-shot, 600 episodes each by
  default, 5 queries per class, each setting with its own fixed episode seed so that every
  method is scored on the very same episodes;
* **Lake et al. (2015)** — the 20 official one-shot runs (20-way 1-shot on the evaluation
  alphabets), official error rate;
* **report** — one JSON file: what was run, the configuration, the environment, the training
  time, a summary of the training history and the results.

A script imports what it needs and keeps only what is specific to its methods::

    from omniglot_protocol import SETTINGS, load_split, train_for_budget, ...

(the script's own folder is on ``sys.path`` when it is run as ``python benchmarks/<script>.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch

import metalearn_lite as ml

HERE = Path(__file__).resolve().parent
#: where the scripts write their JSON reports by default
RESULTS_DIR = HERE / "results"
#: ``--train`` choice -> Omniglot background set meta-trained on
SETS = {"small1": "images_background_small1", "small2": "images_background_small2"}


class Setting(NamedTuple):
    """One test setting: its name in the results, N, K and the seed of its episodes."""

    name: str
    n_way: int
    k_shot: int
    seed: int


#: the episode settings measured on the unseen alphabets, each with its fixed episode seed
SETTINGS = (Setting("5way_1shot", 5, 1, 1000), Setting("5way_5shot", 5, 5, 1001), Setting("20way_1shot", 20, 1, 1002))
#: test episodes per setting, and queries per class in a test episode (defaults of ``--episodes``, ``--queries``)
TEST_EPISODES = 600
TEST_QUERIES = 5


# --- command line -------------------------------------------------------------------------

def add_training_arguments(parser: argparse.ArgumentParser, methods: Sequence[str]) -> None:
    """The flags every script starts with: ``--method``, ``--train``, ``--minutes``, ``--max-steps``."""
    parser.add_argument("--method", choices=methods, required=True)
    parser.add_argument("--train", choices=list(SETS), default="small1", help="background set to meta-train on")
    parser.add_argument("--minutes", type=float, default=10.0, help="budget for meta-training, in minutes of CPU time of this process")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many meta-updates (default: time only)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every script ends with: ``--queries``, ``--seed``, ``--device``, ``--threads``, ``--output``."""
    parser.add_argument("--queries", type=int, default=TEST_QUERIES, help="queries per class in test episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="default: CUDA if available, else CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=None)


def fill_defaults(args: argparse.Namespace, defaults: Mapping[str, Any]) -> None:
    """Give every option left at None its per-method default from ``defaults``."""
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def start_run(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads``, seed every random generator with ``--seed``, and return the device to use."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ml.resolve_device(args.device)
    ml.seed_everything(args.seed)
    return device


# --- data ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OmniglotSplit:
    """The training set (a small background set) and the test set (its unseen alphabets)."""

    train_set: ml.FewShotDataset
    test_set: ml.FewShotDataset
    test_alphabets: list[str]


def load_split(train: str) -> OmniglotSplit:
    """Load background set ``SETS[train]`` for training, and the other small set's alphabets that
    it does not contain for testing.

    A script may augment the training set afterwards (``dataclasses.replace(split, train_set=...)``);
    the test alphabets are always chosen against the original one.
    """
    train_set = ml.load_omniglot(SETS[train], progress=False)
    other = ml.load_omniglot(SETS["small2" if train == "small1" else "small1"], progress=False)
    seen = set(train_set.alphabet_names())
    unseen = [a for a in other.alphabet_names() if a not in seen]
    test_set, _ = other.split_by_alphabet(unseen)
    return OmniglotSplit(train_set, test_set, unseen)


def training_episodes(
    split: OmniglotSplit, n_way: int, k_shot: int, q_queries: int, seed: int, augment: bool = False
) -> tuple[OmniglotSplit, ml.EpisodeSampler]:
    """The training episodes; with ``augment``, 90° rotations become new classes and every image
    gets a small random affine distortion (:func:`metalearn_lite.data.random_affine`), as Lake et
    al. (2015) allowed. Returns the (possibly augmented) split and the sampler."""
    if augment:
        split = dataclasses.replace(split, train_set=split.train_set.with_rotations())
    sampler = ml.EpisodeSampler(split.train_set, n_way, k_shot, q_queries, seed=seed,
                                transform=ml.data.random_affine if augment else None)
    return split, sampler


def announce(method: str, split: OmniglotSplit, sampler: ml.EpisodeSampler, device: torch.device) -> None:
    """Print one line saying what is trained on what and tested on what."""
    print(f"{method} on {split.train_set.name} ({split.train_set.num_classes} classes), {sampler}; "
          f"test: {split.test_alphabets} ({split.test_set.num_classes} classes); device {device}", flush=True)


# --- training -----------------------------------------------------------------------------

def train_for_budget(
    learner: ml.MetaLearner,
    sampler: ml.TaskSource,
    *,
    minutes: float,
    max_steps: int | None = None,
    chunk: int = 50,
    meta_batch: int = 4,
    lr: float = 1e-3,
    device: torch.device | str | None = None,
    grad_clip: float | None = None,
    halve_lr_every: int = 0,
    show: Sequence[str] = (),
    optimizer: torch.optim.Optimizer | None = None,
    monitor: Callable[[int, float], bool] | None = None,
) -> tuple[ml.History, float]:
    """Meta-train until ``minutes`` of this process's CPU time (or ``max_steps`` meta-updates) are spent.

    The budget is CPU time (``time.process_time``: all threads of this process), not wall-clock
    time, so that a run on a shared machine gets the same amount of computation as on an idle one;
    with ``--threads 1`` the two agree on an idle machine. Both are reported.

    Training runs in chunks of ``chunk`` steps, one :func:`~metalearn_lite.meta_train` call each,
    all sharing one Adam optimiser (learning rate ``lr``, halved every ``halve_lr_every`` steps
    unless 0); the time is checked between chunks. The chunks' histories are joined into one, with
    ``step`` counted from 1 and ``seconds`` from the start. After each chunk one line is printed:
    mean loss and accuracy, and the means of the logged numbers named in ``show`` that exist.
    ``optimizer`` replaces the Adam optimiser (``lr`` is then ignored; e.g. Reptile's SGD with
    learning rate ε). ``monitor(steps, seconds)``, if given, is called after every chunk with the
    steps and training seconds so far; the time it takes is not counted as training time, and
    training stops early when it returns True. Returns the history and the training seconds spent.
    """
    if optimizer is None:
        optimizer = torch.optim.Adam([p for p in learner.parameters() if p.requires_grad], lr=lr)
    history, steps, start, paused = ml.History(), 0, time.process_time(), 0.0
    wall_start = time.perf_counter()
    elapsed = lambda: time.process_time() - start - paused  # noqa: E731  (training CPU time only)
    while elapsed() < minutes * 60 and (max_steps is None or steps < max_steps):
        size = chunk if max_steps is None else min(chunk, max_steps - steps)
        part = ml.meta_train(learner, sampler, steps=size, meta_batch_size=meta_batch, optimizer=optimizer,
                             device=device, grad_clip=grad_clip, progress=False)
        offset_s = history.train["seconds"][-1] if steps else 0.0
        for i, row in enumerate(zip(*part.train.values())):
            values = dict(zip(part.train.keys(), row))
            values["step"] = steps + i + 1
            values["seconds"] = offset_s + values["seconds"]
            history.log(history.train, values)
        steps += size
        if halve_lr_every and steps // halve_lr_every != (steps - size) // halve_lr_every:
            for group in optimizer.param_groups:
                group["lr"] /= 2
        extra = "".join(f"  {k} {sum(part.train[k]) / size:.3f}" for k in show if k in part.train)
        print(f"step {steps:6d}  {elapsed():7.1f}s CPU  {time.perf_counter() - wall_start:7.1f}s wall  loss {sum(part.train['loss']) / size:.4f}  "
              f"accuracy {sum(part.train['accuracy']) / size:.3f}{extra}", flush=True)
        if monitor is not None:
            pause_start = time.process_time()
            done = monitor(steps, pause_start - start - paused)
            paused += time.process_time() - pause_start
            if done:
                break
    return history, elapsed()


def summarise(history: ml.History, keys: Sequence[str] = ("loss", "accuracy"), points: int = 50) -> dict:
    """The training history in brief: steps, seconds, and the mean of each logged number in ``keys``
    (those that were logged) over the first and the last 10% of steps and over ~``points`` evenly
    spaced windows (the ``curve``, each window labelled by its last step)."""
    t = history.train
    n = len(t.get("step", []))
    if n == 0:
        return {"steps": 0}
    keys = [k for k in keys if k in t]
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


# --- evaluation ---------------------------------------------------------------------------

def evaluate_settings(
    learner: ml.MetaLearner,
    test_set: ml.FewShotDataset,
    settings: Sequence[Setting] = SETTINGS,
    episodes: int = TEST_EPISODES,
    queries: int = TEST_QUERIES,
    device: torch.device | str | None = None,
) -> dict[str, dict]:
    """Score ``learner`` on ``episodes`` episodes of each setting, drawn with the setting's fixed seed.

    Uses the library's one evaluation routine (mean accuracy ± 95% CI); returns
    ``{setting name: {... the result's numbers, "seconds": time taken}}`` and prints each result.
    """
    results = {}
    for setting in settings:
        start = time.perf_counter()
        sampler = ml.EpisodeSampler(test_set, setting.n_way, setting.k_shot, queries, seed=setting.seed)
        result = ml.evaluate(learner, sampler, episodes, device=device)
        results[setting.name] = {**result.to_dict(), "seconds": time.perf_counter() - start}
        print(f"{setting.name:12s} {result}", flush=True)
    return results


def evaluate_lake_runs(learner: ml.MetaLearner, device: torch.device | str | None = None) -> dict:
    """Score ``learner`` on Lake et al.'s (2015) 20 one-shot runs (20-way 1-shot, official error
    rate); prints and returns the result, stored under ``"lake_20way_1shot"`` in the results."""
    lake = ml.evaluate_lake(learner, ml.load_lake_runs(progress=False), device=device)
    print(lake, flush=True)
    return lake.to_dict()


# --- report -------------------------------------------------------------------------------

def environment(device: torch.device | str) -> dict:
    """Python and torch versions, the device and torch's intra-op thread count."""
    return {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "torch_threads": torch.get_num_threads()}


def make_report(
    args: argparse.Namespace,
    split: OmniglotSplit,
    learner: ml.MetaLearner,
    device: torch.device | str,
    history: ml.History,
    seconds: float,
    results: dict,
    summary_keys: Sequence[str] = ("loss", "accuracy"),
    extra_config: Mapping[str, Any] | None = None,
) -> dict:
    """The JSON report of one run: ``what``, ``config``, ``environment``, ``training``, ``history``, ``results``.

    ``config`` holds every command-line argument (``args`` must have at least ``method``,
    ``train`` and ``meta_batch``), the training and test data, ``extra_config`` and the
    learner's parameter count; ``history`` is :func:`summarise` over ``summary_keys``.
    """
    steps = len(history.train.get("step", []))
    return {
        "what": f"{args.method} meta-trained on Omniglot {SETS[args.train]}, tested on unseen alphabets and Lake et al.'s 20 runs",
        "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                   "train_dataset": split.train_set.name, "train_classes": split.train_set.num_classes,
                   "test_alphabets": split.test_alphabets, "test_classes": split.test_set.num_classes,
                   **(extra_config or {}),
                   "parameters": sum(p.numel() for p in learner.parameters())},
        "environment": environment(device),
        "training": {"seconds": seconds, "clock": "CPU time of the process (the budget)",
                     "wall_seconds": history.train["seconds"][-1] if steps else 0.0,
                     "steps": steps, "episodes": steps * args.meta_batch},
        "history": summarise(history, summary_keys),
        "results": results,
    }


def write_report(report: dict, path: Path) -> None:
    """Write ``report`` as indented JSON to ``path`` (creating its folder) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
