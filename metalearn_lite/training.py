"""The single meta-training loop and the single evaluation routine of the library.

Every algorithm trains with :func:`meta_train` and is measured with :func:`evaluate`; both only
call the :class:`~metalearn_lite.protocol.MetaLearner` protocol (``meta_loss`` and ``adapt``).
"""
from __future__ import annotations

import glob
import itertools
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
from .protocol import MetaLearner, check_episode, check_predictions, score_name, task_score
from .utils import check_int, check_number, first_line, first_non_finite, is_integer, mean_ci95, resolve_device


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


def _episodes(tasks: TaskSource | Iterable[Episode], count: int | None, name: str = "episodes") -> list[Episode]:
    """``count`` episodes drawn from a task source, or the first ``count`` (``None``: all) of a list."""
    if isinstance(tasks, TaskSource):
        if count is None:
            raise ValueError(f"{name} must be a positive integer when drawing from a task source, got None")
        return [tasks.episode() for _ in range(check_int(name, count))]
    if count is not None:
        count = check_int(name, count)
    if isinstance(tasks, (Episode, torch.Tensor, str, bytes)) or not isinstance(tasks, Iterable):
        hint = "; pass [episode] for a single one" if isinstance(tasks, Episode) else ""
        raise TypeError(f"tasks must be a task source (e.g. EpisodeSampler) or a list of Episodes, got a "
                        f"{type(tasks).__name__}{hint}")
    episodes = list(tasks) if count is None else list(itertools.islice(tasks, count))
    if not episodes:
        raise ValueError("no episodes to evaluate on")
    for number, episode in enumerate(episodes):
        if not isinstance(episode, Episode):
            raise TypeError(f"tasks[{number}] is a {type(episode).__name__}, not an Episode: build episodes with "
                            f"Episode(support_x, support_y, query_x, query_y) or draw them from an EpisodeSampler")
    return episodes


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
    _check_learner(learner)
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
                n_way = check_episode(episode, learner.task_type)
            except ValueError as error:
                raise ValueError(f"episode {number} of the {len(chosen)} evaluated: {error}") from None
            with torch.set_grad_enabled(learner.adapt_needs_grad):
                predictor = learner.adapt(episode.support_x, episode.support_y)
            with torch.no_grad():
                if query_batch is None:
                    outputs = predictor(episode.query_x)
                else:
                    outputs = torch.cat([predictor(chunk) for chunk in episode.query_x.split(query_batch)])
            check_predictions(outputs, episode.query_y, n_way, learner.task_type, type(learner).__name__)
            scores.append(task_score(learner.task_type, outputs, episode.query_y))
    finally:
        learner.train(was_training)
    mean, ci = mean_ci95(scores)
    return EvalResult(score_name(learner.task_type), mean, ci, scores)


def _check_learner(learner: object) -> None:
    if not (isinstance(learner, torch.nn.Module) and callable(getattr(learner, "adapt", None))
            and getattr(learner, "task_type", None) in ("classification", "regression")):
        raise TypeError(f"learner must be a meta-learner (a MetaLearner such as ProtoNet(...) or MAML(...)), "
                        f"got a {type(learner).__name__}")


def _check_checkpoint_path(checkpoint: str | os.PathLike) -> Path:
    """Refuse, before any training, a checkpoint path that could never be written: a folder, or a
    path below a file."""
    path = Path(checkpoint)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint={str(checkpoint)!r} is a folder; pass a file path in it, e.g. "
                                f"checkpoint={str(path / 'checkpoint.pt')!r}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"checkpoint={str(checkpoint)!r} cannot be written: {parent} is a file, "
                                         f"not a folder; pass a path in a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise PermissionError(f"checkpoint={str(checkpoint)!r} cannot be written: the folder {parent} is "
                                      f"not writable; pass a path in a folder you can write to")
            break
    return path


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
    _check_learner(learner)
    if not callable(getattr(tasks, "sample", None)):
        hint = (": meta_train draws a fresh meta-batch at every step, so it needs a task source such as "
                "EpisodeSampler(dataset, n_way, k_shot, q_queries) or SinusoidTasks(); a fixed list of episodes "
                "is for evaluate()")
        raise TypeError(f"tasks must be a task source with a .sample(meta_batch_size) method, got a "
                        f"{type(tasks).__name__}{hint}")
    steps = check_int("steps", steps)
    meta_batch_size = check_int("meta_batch_size", meta_batch_size)
    if optimizer is None:
        lr = check_number("lr", lr)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer over the learner's parameters, got a "
                        f"{type(optimizer).__name__}")
    if grad_clip is not None:
        grad_clip = check_number("grad_clip", grad_clip)
    val_every = check_int("val_every", val_every, minimum=0)
    if val_tasks is not None:
        check_int("val_episodes", val_episodes)
    world, main = distributed.world_size(), distributed.is_main_process()
    if world > 1 and not (is_integer(meta_batch_size) and meta_batch_size >= world and meta_batch_size % world == 0):
        fit = max(world, round(meta_batch_size / world) * world) if is_integer(meta_batch_size) else world
        raise ValueError(
            f"meta_batch_size={meta_batch_size!r} is the global meta-batch, shared out over the {world} ranks, so it "
            f"must be a positive multiple of {world}: pass e.g. meta_batch_size={fit} ({fit // world} tasks per rank)"
        )
    exists = None
    if main and checkpoint is not None:
        try:
            _check_checkpoint_path(checkpoint)
        except OSError as error:  # raised on every rank below
            exists = error
    if main and checkpoint is not None and exists is None and Path(checkpoint).exists() and not overwrite:
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
        try:
            optimizer.step()
        except RuntimeError as error:
            if "overflow" not in str(error):
                raise
            raise FloatingPointError(f"the optimiser's step {step} overflowed ({first_line(error)}): its learning "
                                     f"rate (lr={optimizer.param_groups[0]['lr']}) is far too large for these "
                                     f"weights; try e.g. lr=1e-3") from error
        name = first_non_finite(learner.state_dict())
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


def save_checkpoint(path: str | os.PathLike, learner: torch.nn.Module, optimizer=None, history: History | None = None) -> Path:
    """Save state dicts (and the history) to ``path``, atomically: written to a temporary file in
    the same folder, then renamed over ``path`` (``os.replace``); the temporary file is removed if
    writing fails, and leftovers of earlier, killed writes to ``path`` are removed after success.

    Weights that hold NaN or ±inf are refused (a FloatingPointError), and nothing is written.
    The temporary file's name holds the writer's process id, so several processes saving to one
    path never remove each other's files in progress (the last rename wins).
    """
    path = Path(path)
    if (name := first_non_finite(learner.state_dict())) is not None:
        raise FloatingPointError(f"not saving {path}: the learner's {name} holds NaN or ±inf (the training diverged)")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "learner": learner.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "history": history.to_dict() if history is not None else None,
    }
    prefix = f".{path.name}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{prefix}{os.getpid()}.", suffix=".tmp")  # unique name
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for leftover in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):  # from runs killed while writing
        if not _writer_alive(leftover.name[len(prefix):]):  # never another live process's file in progress
            leftover.unlink(missing_ok=True)
    return path


def _writer_alive(rest: str) -> bool:
    """Whether the process whose id starts ``rest`` (``"<pid>.<random>.tmp"``) is still running on this machine."""
    pid = rest.split(".", 1)[0]
    if not pid.isdigit():
        return False  # a file of the older naming (no process id): left by a killed run
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process), or cannot tell: keep the file
    return True


def _check_history(path: Path, history: object) -> History | None:
    if history is None:
        return None
    good = (isinstance(history, dict) and {"train", "val"} <= set(history)
            and all(isinstance(history[t], dict) and all(isinstance(v, list) for v in history[t].values())
                    for t in ("train", "val")))
    if not good:
        raise ValueError(f"the checkpoint {path} holds a history that save_checkpoint does not write (a "
                         f"{type(history).__name__}, not a dict of 'train' and 'val' tables): it was made or edited "
                         f"by other code; load its weights alone with learner.load_state_dict(torch.load(path)['learner'])")
    return History.from_dict(history)


def _check_optimizer_fits(path: Path, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """The saved optimiser state must come from the same kind of optimiser (same hyperparameter names)."""
    saved_class = state.get("optimizer_class")
    saved_groups = state["optimizer"].get("param_groups") if isinstance(state["optimizer"], dict) else None
    mismatch = saved_class is not None and saved_class != type(optimizer).__name__
    if not mismatch and isinstance(saved_groups, list) and saved_groups and isinstance(saved_groups[0], dict):
        saved_keys = set(saved_groups[0]) - {"params"}
        current_keys = set(optimizer.param_groups[0]) - {"params"}
        mismatch = not saved_keys <= current_keys and not current_keys <= saved_keys
    if mismatch:
        saved = saved_class or "another optimiser"
        raise ValueError(f"the checkpoint {path} holds the state of {saved}, but the optimizer passed is "
                         f"{type(optimizer).__name__}: pass the kind of optimiser it was trained with, or "
                         f"optimizer=None to load the weights only (the new optimiser then starts afresh)")


def load_checkpoint(path: str | os.PathLike, learner: torch.nn.Module, optimizer=None, map_location=None) -> History | None:
    """Load a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    A file that cannot be read (truncated, or not a torch file), that is not a dict with the
    keys ``save_checkpoint`` writes, whose history is not the dict it writes, whose weights hold
    NaN or ±inf, whose optimiser state comes from another kind of optimiser than ``optimizer``
    (e.g. SGD's into Adam: nothing is loaded), or whose state does not fit ``learner`` raises a
    ValueError naming ``path`` (in the last case ``learner`` may have been partly loaded).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train first (meta_train(..., checkpoint={str(path)!r}))")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise ValueError(f"cannot read the checkpoint {path} ({first_line(error)}): it is truncated (a run killed "
                         f"while writing it?) or not a file that save_checkpoint wrote") from error
    if not isinstance(state, dict) or not {"learner", "optimizer", "history"} <= set(state):
        keys = f"a dict with keys {sorted(map(str, state))[:6]}" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint: it holds {keys}, not the keys "
                         f"'learner', 'optimizer' and 'history' (a bare state dict loads with "
                         f"learner.load_state_dict(torch.load(path)))")
    if isinstance(state["learner"], dict) and (name := first_non_finite(state["learner"])) is not None:
        raise ValueError(f"the checkpoint {path} holds NaN or ±inf in {name} (saved from a diverged run): train again")
    history = _check_history(path, state["history"])
    if optimizer is not None and state["optimizer"] is not None:
        _check_optimizer_fits(path, optimizer, state)
    try:
        learner.load_state_dict(state["learner"])
        if optimizer is not None and state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"the checkpoint {path} does not fit this learner (was it saved from another one?): "
                         f"{first_line(error)}") from error
    return history


__all__ = ["EvalResult", "History", "evaluate", "meta_train", "save_checkpoint", "load_checkpoint"]
