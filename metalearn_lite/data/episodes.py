"""Episodes: the N-way K-shot tasks that meta-learners train and are tested on.

An *episode* (Vinyals et al. 2016) is a small classification task: N classes drawn at random,
K labelled examples of each (the **support set**) and Q more of each to predict (the **query
set**). Labels are relabelled ``0..N-1`` in every episode, so a learner cannot memorise which
class is which: it must learn from the support set. A *meta-batch* stacks several episodes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable, Iterator

import torch
from torch import Tensor

from ..utils import check_seed, is_integer
from .dataset import FewShotDataset


@dataclass
class Episode:
    """One task: support ``(support_x, support_y)`` and query ``(query_x, query_y)``.

    For classification the labels are int64 in ``0..N-1``; for regression they are float
    targets. ``task`` holds optional facts about how the task was made (e.g. the original
    class ids, or a sinusoid's amplitude and phase).
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    task: dict[str, Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> "Episode":
        return type(self)(*(_move(getattr(self, f.name), device) for f in fields(self)))

    @property
    def n_way(self) -> int:
        """Number of classes (labels are ``0..N-1``)."""
        return int(self.support_y.max()) + 1


@dataclass
class EpisodeBatch(Episode):
    """A meta-batch: the fields of :class:`Episode` with a leading batch dimension ``B``."""

    @classmethod
    def stack(cls, episodes: list[Episode]) -> "EpisodeBatch":
        if not episodes:
            raise ValueError("cannot stack an empty list of episodes")
        for number, episode in enumerate(episodes):
            if not isinstance(episode, Episode):
                raise TypeError(f"episodes[{number}] is a {type(episode).__name__}, not an Episode")
            for name in ("support_x", "support_y", "query_x", "query_y"):
                if not isinstance(getattr(episode, name), Tensor):
                    raise TypeError(f"episodes[{number}].{name} is a {type(getattr(episode, name)).__name__}, not a "
                                    f"torch.Tensor: convert it first (torch.as_tensor)")
                first, this = getattr(episodes[0], name), getattr(episode, name)
                if this.shape != first.shape or this.dtype != first.dtype:
                    raise ValueError(f"episodes[{number}].{name} is {this.dtype} {tuple(this.shape)} but episodes[0].{name} "
                                     f"is {first.dtype} {tuple(first.shape)}: only episodes of the same shapes stack (the "
                                     f"same N, K and Q); pass a list of episodes to the learners instead")
            if episode.task.keys() != episodes[0].task.keys():
                raise ValueError(f"episodes[{number}] has task facts {sorted(episode.task)} but episodes[0] has "
                                 f"{sorted(episodes[0].task)}: only episodes of one source stack")
        keys = episodes[0].task.keys()
        return cls(
            *(torch.stack([getattr(e, name) for e in episodes]) for name in ("support_x", "support_y", "query_x", "query_y")),
            task={k: torch.stack([e.task[k] for e in episodes]) for k in keys},
        )

    def __len__(self) -> int:
        return self.support_x.shape[0]

    def __getitem__(self, i: int) -> Episode:
        return Episode(self.support_x[i], self.support_y[i], self.query_x[i], self.query_y[i], {k: v[i] for k, v in self.task.items()})

    def __iter__(self) -> Iterator[Episode]:
        return (self[i] for i in range(len(self)))

    @property
    def n_way(self) -> int:
        return int(self.support_y[0].max()) + 1


def _move(value, device):
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _move(v, device) for k, v in value.items()}
    return value


class TaskSource:
    """Anything that draws episodes: :meth:`episode` for one, :meth:`sample` for a meta-batch.

    ``task_type`` is ``"classification"`` or ``"regression"``; :func:`metalearn_lite.evaluate`
    and the learners use it to pick the loss and the score.
    """

    task_type = "classification"

    def episode(self) -> Episode:
        """One episode (subclasses implement it)."""
        raise NotImplementedError

    def sample(self, meta_batch_size: int) -> EpisodeBatch:
        """A meta-batch: ``meta_batch_size`` episodes, stacked."""
        _check_positive(meta_batch_size=meta_batch_size)
        return EpisodeBatch.stack([self.episode() for _ in range(int(meta_batch_size))])

    def __iter__(self) -> Iterator[Episode]:
        while True:
            yield self.episode()


def _check_positive(**sizes: int) -> None:
    """Each size must be a positive integer (Python or NumPy)."""
    for name, value in sizes.items():
        if not is_integer(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    """``generator`` if given, else a new one seeded with ``seed`` (0 when ``None``)."""
    if generator is None:
        generator = torch.Generator()
        seed = check_seed("seed", seed)
        generator.manual_seed(0 if seed is None else seed)
    return generator


class EpisodeSampler(TaskSource):
    """Draws class-balanced N-way K-shot episodes with Q queries per class from a dataset.

    The N classes are drawn without replacement and relabelled ``0..N-1`` in the order drawn;
    within each class K + Q distinct examples are drawn, the first K for the support set and the
    rest for the query set, so support and query never share an example. Support and query are
    laid out class by class (``support_y = [0]*K + [1]*K + ...``). The same ``seed`` gives the
    same sequence of episodes; pass ``generator`` instead to share one random stream.
    ``transform`` (optional) maps a batch of examples to augmented ones (e.g. random shifts).
    """

    def __init__(
        self,
        dataset: FewShotDataset,
        n_way: int,
        k_shot: int,
        q_queries: int = 1,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        transform: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    ) -> None:
        _check_positive(n_way=n_way, k_shot=k_shot, q_queries=q_queries)
        n_way, k_shot, q_queries = int(n_way), int(k_shot), int(q_queries)
        if n_way > dataset.num_classes:
            raise ValueError(
                f"n_way={n_way} is larger than the number of classes in {dataset.name} "
                f"({dataset.num_classes}); ask for at most {dataset.num_classes} ways"
            )
        sizes = dataset.class_sizes()
        smallest = int(sizes.argmin())
        if k_shot + q_queries > int(sizes[smallest]):
            raise ValueError(
                f"k_shot + q_queries = {k_shot} + {q_queries} = {k_shot + q_queries} examples per class, "
                f"but class {dataset.class_names[smallest]!r} of {dataset.name} has only {int(sizes[smallest])}; "
                "lower k_shot or q_queries"
            )
        self.dataset, self.n_way, self.k_shot, self.q_queries = dataset, n_way, k_shot, q_queries
        self.transform = transform
        self.generator = _generator(seed, generator)

    def __repr__(self) -> str:
        return f"EpisodeSampler({self.dataset.name}, {self.n_way}-way {self.k_shot}-shot, {self.q_queries} queries)"

    def episode(self) -> Episode:
        g, n, k, q = self.generator, self.n_way, self.k_shot, self.q_queries
        classes = torch.randperm(self.dataset.num_classes, generator=g)[:n]
        picks = []
        for c in classes.tolist():
            members = self.dataset.indices_by_class[c]
            picks.append(members[torch.randperm(len(members), generator=g)[: k + q]])
        picks = torch.stack(picks)  # (N, K+Q) dataset positions
        support, query = picks[:, :k].reshape(-1), picks[:, k:].reshape(-1)
        x = self.dataset.x
        support_x, query_x = x[support], x[query]
        if self.transform is not None:
            support_x, query_x = self.transform(support_x, g), self.transform(query_x, g)
        labels = torch.arange(n)
        return Episode(
            support_x=support_x,
            support_y=labels.repeat_interleave(k),
            query_x=query_x,
            query_y=labels.repeat_interleave(q),
            task={"classes": classes},
        )
