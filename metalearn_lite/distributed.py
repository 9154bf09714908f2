"""Meta-training across processes and machines: the meta-batch split over ranks, the meta-gradient averaged.

MAML's meta-batch (Finn et al. 2017, Algorithm 1) is a mean over B tasks, so B tasks can be
shared out: each of the W processes (*ranks*) adapts to B / W of them, and the mean of the W
local meta-gradients is the meta-gradient of all B. :func:`metalearn_lite.meta_train` does this
by itself when a process group is initialised (for example by :func:`init_from_env` under
``torchrun``): each rank draws its own tasks (:func:`shard_tasks`), backpropagates its share,
and the gradients are all-reduced and averaged (:func:`all_reduce_gradients`) before the
optimiser steps — the same update as one process on the union of the tasks.

Not ``torch.nn.parallel.DistributedDataParallel``: its all-reduce runs in backward hooks that
autograd cannot see, so it does not handle the second-order graph of MAML (an inner gradient
taken with ``create_graph=True``, differentiated again) — PyTorch issue 63929,
https://github.com/pytorch/pytorch/issues/63929. Averaging ``.grad`` once after the whole
backward needs no hooks and works for every learner of the library.

gloo on the CPU, NCCL on CUDA (:func:`backend_for`). Without a process group (a plain
``python script.py``) every helper here is a no-op and ``meta_train`` is unchanged.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

from .data.episodes import TaskSource
from .utils import first_line, resolve_device, spawned_seed

DEFAULT_TIMEOUT = 300.0  # seconds a collective waits for the other ranks before failing


def is_initialized() -> bool:
    """Whether a ``torch.distributed`` process group is initialised in this process."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the process group; 0 without one."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """The number of processes in the process group; 1 without one."""
    return dist.get_world_size() if is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 (and without a process group): the process that logs and writes files."""
    return rank() == 0


def backend_for(device: torch.device | str) -> str:
    """``"nccl"`` for a CUDA device, ``"gloo"`` otherwise (the CPU)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(timeout: float = DEFAULT_TIMEOUT, device: torch.device | str | None = None) -> torch.device:
    """Join the process group that ``torchrun`` describes in the environment; return this rank's device.

    ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
    without ``WORLD_SIZE`` (a plain ``python script.py``) nothing is initialised and the device
    is returned as is, so that one script runs both ways. ``device`` (``None``: CUDA when
    present) picks the backend (:func:`backend_for`); on CUDA each rank takes the GPU
    ``cuda:LOCAL_RANK``. ``timeout`` (seconds) bounds how long joining the group and each
    collective wait for the other ranks: a rank that crashed or hangs makes the others fail
    after it instead of waiting forever (with gloo as a RuntimeError, which ``meta_train`` words
    as "a peer rank stopped …"; with NCCL, PyTorch's watchdog may end the process instead).
    """
    device = resolve_device(device)
    if "WORLD_SIZE" not in os.environ or is_initialized():
        return device
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE is set but {', '.join(missing)} not: launch with torchrun "
            f"(torchrun --standalone --nproc_per_node=2 script.py), or set all of RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT"
        )
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but this machine has {torch.cuda.device_count()} GPU(s): "
                f"start at most one process per GPU (torchrun --nproc_per_node={torch.cuda.device_count()})"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), init_method="env://", timeout=timedelta(seconds=timeout))
    return device


def shutdown() -> None:
    """Leave the process group (``destroy_process_group``) if one is initialised."""
    if is_initialized():
        dist.destroy_process_group()


@contextmanager
def process_group(timeout: float = DEFAULT_TIMEOUT, device: torch.device | str | None = None) -> Iterator[torch.device]:
    """``with process_group() as device:`` — :func:`init_from_env` on entry, :func:`shutdown` on exit."""
    try:
        yield init_from_env(timeout, device)
    finally:
        shutdown()


def rank_seed(seed: int, rank: int) -> int:
    """A 64-bit seed for ``rank`` from the run's ``seed``: ``SeedSequence(seed, spawn_key=(rank,))``.

    The same as ``numpy.random.SeedSequence(seed).spawn(W)[rank]``. SeedSequence hashes the pair
    (seed, rank) into the state, so distinct pairs give unrelated seeds and hence independent
    random streams; ``seed + rank · prime`` would not (``seed=p`` on rank 0 repeats ``seed=0``
    on rank 1, so two runs could share tasks).
    """
    return spawned_seed(seed, rank)


def shard_tasks(tasks: TaskSource, rank: int, world_size: int) -> TaskSource:
    """The task source that ``rank`` of ``world_size`` draws its share of every meta-batch from.

    * A source with a method ``shard(rank, world_size)`` is asked for its shard (a deterministic
      source can return the slice ``r·B/W : (r+1)·B/W`` of each step's B episodes).
    * A source with a ``torch.Generator`` in ``.generator`` (``EpisodeSampler``,
      ``SinusoidTasks``) is copied (``copy.copy``; the dataset is shared, not copied) with a new
      generator seeded ``rank_seed(generator.initial_seed(), rank)``: every rank draws its own,
      independent stream of tasks (the tasks of two ranks coincide only by chance, as two tasks
      of one stream can), and a rerun with the same seed and world size draws the same tasks.
      The shard starts from the generator's initial seed, wherever the source's stream is.

    ``world_size == 1`` returns ``tasks`` itself. Anything else raises a TypeError.
    """
    if world_size == 1:
        return tasks
    if callable(getattr(tasks, "shard", None)):
        return tasks.shard(rank, world_size)
    generator = getattr(tasks, "generator", None)
    if isinstance(generator, torch.Generator):
        shard = copy.copy(tasks)
        shard.generator = torch.Generator().manual_seed(rank_seed(generator.initial_seed(), rank))
        return shard
    raise TypeError(
        f"cannot give each of {world_size} ranks its own tasks from {type(tasks).__name__}: give it a method "
        f"shard(rank, world_size) that returns the source rank draws from, or a torch.Generator in .generator"
    )


@contextmanager
def collective(what: str) -> Iterator[None]:
    """Run collectives; turn their failure into a RuntimeError that says what to check.

    A collective fails when a peer rank stopped (it raised an error outside ``meta_train``'s
    checks, was killed, ran out of memory) or did not reach the same collective within the
    process group's timeout (it hangs, or is doing something else).
    """
    try:
        yield
    except RuntimeError as error:  # gloo and NCCL raise it, or torch.distributed.DistError (a subclass)
        raise RuntimeError(
            f"rank {rank()} of {world_size()}: {what} failed ({first_line(error)}): a peer rank stopped "
            f"(an error, killed, out of memory) or did not reach it within the process group's timeout; look at "
            f"the other ranks' output for the first error, and check that every rank runs the same code with the "
            f"same steps and meta_batch_size"
        ) from error


def failed_ranks(failed: bool, device: torch.device | str = "cpu") -> list[int]:
    """All ranks say whether they failed (one all-reduce); returns the ranks that did, on every rank."""
    flags = torch.zeros(world_size(), device=device)
    flags[rank()] = float(failed)
    with collective("the all-reduce of the ranks' error flags"):
        dist.all_reduce(flags)
    return [r for r, flag in enumerate(flags.tolist()) if flag]


def raise_together(error: BaseException | None, where: str, device: torch.device | str = "cpu") -> None:
    """Every rank calls this at the same point with the error it met (or None); if any rank met one, all raise.

    A rank with an error raises it; the others raise a RuntimeError naming the ranks that
    failed — instead of waiting in the next collective for a rank that will never reach it.
    Without a process group, ``error`` is raised if given.
    """
    if world_size() > 1:
        failed = failed_ranks(error is not None, device)
        if error is None and failed:
            raise RuntimeError(
                f"rank {rank()} of {world_size()}: stopping {where}, because rank(s) {failed} failed there "
                f"(this rank did not): the first error is in the output of rank {failed[0]}"
            )
    if error is not None:
        raise error


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of ``values`` (same shape on every rank), in place; returned."""
    if world_size() > 1:
        with collective("the all-reduce of the means over ranks"):
            dist.all_reduce(values)
        values /= world_size()
    return values


def all_reduce_gradients(params: Iterable[torch.Tensor]) -> None:
    """Replace each ``p.grad`` by its mean over the ranks, in one all-reduce of a flat buffer.

    Each rank's gradient is that of the mean loss of its B / W tasks, so the mean over ranks is
    the gradient of the mean loss of all B tasks. A parameter whose ``grad`` is None takes part
    with zeros (and then holds a zero gradient), so that all ranks reduce buffers of one size.
    """
    params = list(params)
    if world_size() == 1 or not params:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    all_reduce_mean(flat)
    for p, chunk in zip(params, flat.split([p.numel() for p in params])):
        p.grad.copy_(chunk.view_as(p.grad))


def broadcast_state(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (as DistributedDataParallel does at start)."""
    if world_size() == 1:
        return
    with collective("the broadcast of rank 0's weights"):
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


__all__ = [
    "DEFAULT_TIMEOUT", "all_reduce_gradients", "all_reduce_mean", "backend_for", "broadcast_state", "collective",
    "failed_ranks", "init_from_env", "is_initialized", "is_main_process", "process_group", "raise_together", "rank",
    "rank_seed", "shard_tasks", "shutdown", "world_size",
]
