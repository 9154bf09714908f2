"""The single meta-training loop and the single evaluation routine of the library.

Every algorithm trains with :func:`meta_train` and is measured with :func:`evaluate`; both only
call the :class:`~metalearn_lite.protocol.MetaLearner` protocol (``meta_loss`` and ``adapt``).
"""
from __future__ import annotations

import glob
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch
from tqdm.auto import tqdm

from . import distributed
from .data.episodes import Episode, TaskSource
from .protocol import MetaLearner, check_episode, score_name, task_score
from .utils import is_integer, mean_ci95, resolve_device


@dataclass
class EvalResult:
    """Mean score over episodes with its 95% confidence interval (``1.96 · s / √n``)."""

    metric: str
    mean: float
    ci95: float
    scores: list[float]

    @property
    def episodes(self) -> int:
        return len(self.scores)

    def __str__(self) -> str:
        if self.metric == "accuracy":
            return f"accuracy {100 * self.mean:.2f}% ± {100 * self.ci95:.2f}% (95% CI, {self.episodes} episodes)"
        return f"{self.metric} {self.mean:.4f} ± {self.ci95:.4f} (95% CI, {self.episodes} episodes)"

    def to_dict(self) -> dict:
        return {"metric": self.metric, "mean": self.mean, "ci95": self.ci95, "episodes": self.episodes}


@dataclass
class History:
    """What happened during :func:`meta_train`: one row per step, one per validation."""

    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)

    def log(self, table: dict[str, list[float]], row: dict[str, float]) -> None:
        for key, value in row.items():
            table.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict:
        return {"train": self.train, "val": self.val}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(train={k: list(v) for k, v in d["train"].items()}, val={k: list(v) for k, v in d["val"].items()})


def _episodes(tasks: TaskSource | Iterable[Episode], count: int | None) -> list[Episode]:
    if isinstance(tasks, TaskSource):
        if count is None or count < 1:
            raise ValueError(f"episodes must be a positive integer, got {count!r}")
        return [tasks.episode() for _ in range(count)]
    episodes = list(tasks)
    if not episodes:
        raise ValueError("no episodes to evaluate on")
    return episodes if count is None else episodes[:count]


def evaluate(
    learner: MetaLearner,
    tasks: TaskSource | Iterable[Episode],
    episodes: int | None = 600,
    device: torch.device | str | None = None,
    progress: bool = False,
    query_batch: int | None = None,
) -> EvalResult:
    """Adapt on each episode's support set, score its query set; mean and 95% CI over episodes.

    ``tasks`` is a task source (``episodes`` are drawn from it — give it a fixed seed for a
    repeatable number) or a list of episodes (all are used, or the first ``episodes``).
    ``query_batch`` (default: the whole query set at once) scores the queries in chunks of at
    most that many; ``query_batch=1`` scores each query on its own. This matters for encoders
    with batch-statistics BatchNorm (``ConvNet4(norm="batch")``): the query set is normalised
    with its own mean and variance, so each query's embedding depends on the other queries
    (transductive evaluation), and one query alone is normalised with its own statistics only.
    The two can differ by tens of points of accuracy; with ``norm="layer"`` or ``"group"``
    (per-example statistics) they agree.
    Accuracy for classification, mean squared error for regression. Each episode is validated
    first (:func:`~metalearn_lite.protocol.check_episode`: NaN or ±inf in the images, or query
    labels outside the support's classes, raise a ValueError naming the episode). The learner is
    put in ``eval()`` mode during evaluation and restored afterwards.
    """
    if query_batch is not None and not (is_integer(query_batch) and query_batch >= 1):
        raise ValueError(f"query_batch must be an integer >= 1 (queries scored together) or None, got {query_batch!r}")
    query_batch = None if query_batch is None else int(query_batch)
    device = resolve_device(device) if device is not None else _device_of(learner)
    if isinstance(tasks, TaskSource) and tasks.task_type != learner.task_type:
        raise ValueError(f"{type(learner).__name__} does {learner.task_type} but the tasks are {tasks.task_type}")
    was_training = learner.training
    learner.eval()
    scores = []
    try:
        chosen = _episodes(tasks, episodes)
        for number, episode in enumerate(tqdm(chosen, desc="evaluate", disable=not progress, leave=False)):
            episode = episode.to(device)
            try:
                check_episode(episode, learner.task_type)
            except ValueError as error:
                raise ValueError(f"episode {number} of the {len(chosen)} evaluated: {error}") from None
            with torch.set_grad_enabled(learner.adapt_needs_grad):
                predictor = learner.adapt(episode.support_x, episode.support_y)
            with torch.no_grad():
                if query_batch is None:
                    outputs = predictor(episode.query_x)
                else:
                    outputs = torch.cat([predictor(chunk) for chunk in episode.query_x.split(query_batch)])
            scores.append(task_score(learner.task_type, outputs, episode.query_y))
    finally:
        learner.train(was_training)
    mean, ci = mean_ci95(scores)
    return EvalResult(score_name(learner.task_type), mean, ci, scores)


def _device_of(module: torch.nn.Module) -> torch.device:
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def meta_train(
    learner: MetaLearner,
    tasks: TaskSource,
    steps: int,
    meta_batch_size: int = 16,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    val_tasks: TaskSource | None = None,
    val_every: int = 0,
    val_episodes: int = 100,
    device: torch.device | str | None = None,
    grad_clip: float | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> History:
    """Meta-train ``learner`` for ``steps`` meta-updates on meta-batches drawn from ``tasks``.

    Each step: draw ``meta_batch_size`` episodes, ``loss = learner.meta_loss(batch)``, backprop,
    optional gradient-norm clipping, one step of ``optimizer`` (default Adam with learning rate
    ``lr``, the outer step size β). Every ``val_every`` steps (and at the end) the learner is
    evaluated on the same ``val_episodes`` episodes drawn once from ``val_tasks``. A non-finite
    loss stops training at once with an error, and so do weights that an update made NaN or
    ±inf (non-finite gradients), naming the step. ``checkpoint``: a path where the learner's and
    optimiser's state dicts and the history are saved after each validation and at the end
    (read back with :func:`load_checkpoint`); a file already there is refused with a
    FileExistsError before any training, unless ``overwrite=True``. Returns the :class:`History`.

    Under ``torch.distributed`` (a process group of W > 1 ranks, e.g. from
    :func:`metalearn_lite.distributed.init_from_env` under ``torchrun``), ``meta_batch_size`` is
    the global meta-batch B (a multiple of W): each rank draws B / W tasks of its own
    (:func:`~metalearn_lite.distributed.shard_tasks`), the gradients are averaged over the ranks
    before the step — the update of one process on all B tasks — and so are the logged numbers;
    rank 0's weights are copied to all ranks first; only rank 0 shows progress and writes the
    checkpoint; a failed step or a non-finite loss or weight on one rank stops every rank.
    Buffers (BatchNorm's running statistics) are not averaged: each rank keeps its own, and
    rank 0's are checkpointed. See :mod:`metalearn_lite.distributed`.
    """
    if not is_integer(steps) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    steps = int(steps)
    if val_tasks is not None and val_every < 0:
        raise ValueError(f"val_every must be >= 0, got {val_every}")
    world, main = distributed.world_size(), distributed.is_main_process()
    if world > 1 and not (is_integer(meta_batch_size) and meta_batch_size >= world and meta_batch_size % world == 0):
        fit = max(world, round(meta_batch_size / world) * world) if is_integer(meta_batch_size) else world
        raise ValueError(
            f"meta_batch_size={meta_batch_size!r} is the global meta-batch, shared out over the {world} ranks, so it "
            f"must be a positive multiple of {world}: pass e.g. meta_batch_size={fit} ({fit // world} tasks per rank)"
        )
    exists = None
    if main and checkpoint is not None and Path(checkpoint).exists() and not overwrite:
        exists = FileExistsError(
            f"{checkpoint} already holds a checkpoint, which this run would overwrite: pass another checkpoint path, "
            f"or overwrite=True to replace it (to go on from that training, first load it with "
            f"load_checkpoint({str(checkpoint)!r}, learner, optimizer))"
        )
    device = resolve_device(device)
    distributed.raise_together(exists, "before training", device)
    learner.to(device)
    params = [p for p in learner.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(learner).__name__} has no trainable parameters: there is nothing to meta-train")
    if world > 1:
        distributed.broadcast_state(learner)
        tasks = distributed.shard_tasks(tasks, distributed.rank(), world)
    optimizer = optimizer or torch.optim.Adam(params, lr=lr)
    val_set = _episodes(val_tasks, val_episodes) if val_tasks is not None else None
    history = History()
    start = time.perf_counter()
    learner.train()
    bar = tqdm(range(1, steps + 1), desc=f"meta-train {type(learner).__name__}", disable=not (progress and main))
    for step in bar:
        if world > 1:
            metrics = _distributed_backward(learner, tasks, meta_batch_size // world, optimizer, params, step, device)
        else:
            batch = tasks.sample(meta_batch_size).to(device)
            loss, metrics = learner.meta_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(_loss_message(float(loss.detach()), step, optimizer))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        name = _non_finite(learner.state_dict())
        broken = distributed.failed_ranks(name is not None, device) if world > 1 else []
        if name is not None or broken:
            where = f"first: {name}" if name is not None else f"on rank(s) {broken}, not on this one"
            raise FloatingPointError(
                f"the learner's weights became NaN or ±inf at step {step} ({where}), from non-finite gradients; "
                f"try gradient clipping (grad_clip=...) or a smaller learning rate (lr={optimizer.param_groups[0]['lr']})"
            )
        history.log(history.train, {"step": step, "seconds": time.perf_counter() - start, **metrics})
        bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items()}, refresh=False)
        if val_set is not None and ((val_every and step % val_every == 0) or step == steps):
            result = evaluate(learner, val_set, device=device)
            history.log(history.val, {"step": step, result.metric: result.mean, "ci95": result.ci95})
            learner.train()
            if checkpoint is not None and main:
                save_checkpoint(checkpoint, learner, optimizer, history)
    if checkpoint is not None and main:
        save_checkpoint(checkpoint, learner, optimizer, history)
    return history


def _loss_message(loss: float, step: int, optimizer: torch.optim.Optimizer) -> str:
    return (f"meta-training loss became {loss} at step {step}; try a smaller learning rate "
            f"(lr={optimizer.param_groups[0]['lr']}), gradient clipping (grad_clip=...) or a smaller inner step size")


def _distributed_backward(learner, tasks, local_batch, optimizer, params, step, device) -> dict[str, float]:
    """One rank's share of a meta-step: the meta-gradient of its ``local_batch`` tasks, then the
    means over the ranks of the gradients and of the logged numbers (returned). An error or a
    non-finite loss on any rank raises on every rank."""
    error = None
    try:
        loss, metrics = learner.meta_loss(tasks.sample(local_batch).to(device))
        optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
    except Exception as caught:  # shared with the other ranks, then raised on all of them
        error = caught
    distributed.raise_together(error, f"at step {step}", device)
    values = torch.tensor([float(loss.detach()), *metrics.values()], dtype=torch.float64, device=device)
    mean_loss, *means = distributed.all_reduce_mean(values).tolist()
    if not math.isfinite(mean_loss):
        raise FloatingPointError(_loss_message(mean_loss, step, optimizer) + " (the mean over the ranks)")
    distributed.all_reduce_gradients(params)
    return dict(zip(metrics, means))


def _non_finite(state: dict) -> str | None:
    """The name of the first floating-point tensor of a state dict holding NaN or ±inf, or None."""
    floats = {name: value for name, value in state.items() if isinstance(value, torch.Tensor) and value.is_floating_point()}
    if not floats:
        return None
    finite = torch.stack([torch.isfinite(value).all() for value in floats.values()])  # read back once, not per tensor
    if bool(finite.all()):
        return None
    return list(floats)[int((~finite).nonzero()[0])]


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0]}" if str(error) else type(error).__name__


def save_checkpoint(path: str | os.PathLike, learner: torch.nn.Module, optimizer=None, history: History | None = None) -> Path:
    """Save state dicts (and the history) to ``path``, atomically: written to a temporary file in
    the same folder, then renamed over ``path`` (``os.replace``); the temporary file is removed if
    writing fails, and leftovers of earlier, killed writes to ``path`` are removed after success.

    Weights that hold NaN or ±inf are refused (a FloatingPointError), and nothing is written.
    """
    path = Path(path)
    if (name := _non_finite(learner.state_dict())) is not None:
        raise FloatingPointError(f"not saving {path}: the learner's {name} holds NaN or ±inf (the training diverged)")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "learner": learner.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": history.to_dict() if history is not None else None,
    }
    prefix = f".{path.name}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for leftover in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):  # from runs killed while writing
        leftover.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, learner: torch.nn.Module, optimizer=None, map_location=None) -> History | None:
    """Load a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    A file that cannot be read (truncated, or not a torch file), that is not a dict with the
    keys ``save_checkpoint`` writes, whose weights hold NaN or ±inf, or whose state does not fit
    ``learner`` raises a ValueError naming ``path`` (in the last case ``learner`` may have been
    partly loaded).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train first (meta_train(..., checkpoint={str(path)!r}))")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise ValueError(f"cannot read the checkpoint {path} ({_first_line(error)}): it is truncated (a run killed "
                         f"while writing it?) or not a file that save_checkpoint wrote") from error
    if not isinstance(state, dict) or not {"learner", "optimizer", "history"} <= set(state):
        keys = f"a dict with keys {sorted(map(str, state))[:6]}" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint: it holds {keys}, not the keys "
                         f"'learner', 'optimizer' and 'history' (a bare state dict loads with "
                         f"learner.load_state_dict(torch.load(path)))")
    if isinstance(state["learner"], dict) and (name := _non_finite(state["learner"])) is not None:
        raise ValueError(f"the checkpoint {path} holds NaN or ±inf in {name} (saved from a diverged run): train again")
    try:
        learner.load_state_dict(state["learner"])
        if optimizer is not None and state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"the checkpoint {path} does not fit this learner (was it saved from another one?): "
                         f"{_first_line(error)}") from error
    return History.from_dict(state["history"]) if state["history"] is not None else None


__all__ = ["EvalResult", "History", "evaluate", "meta_train", "save_checkpoint", "load_checkpoint"]
