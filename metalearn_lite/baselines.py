"""Reference methods without meta-learning, against which meta-learners are measured.

* :class:`FromScratch` — a fresh network trained on the support set alone (no knowledge
  carried over from other tasks): the "data hunger" baseline of chapter 1.
* :class:`NearestNeighbour` — each query takes the class of its nearest support example, in
  pixel space or in a given embedding; in pixel space it is the simplest one-shot classifier
  on Lake et al.'s (2015) 20-run benchmark.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from .protocol import MetaLearner, Predictor, check_support, checked_module, query_checked
from .utils import check_int, check_number


class FromScratch(MetaLearner):
    """Train ``make_model(n_outputs)`` from its random initialisation on the support set only.

    ``steps`` full-batch Adam steps with learning rate ``lr``. There is nothing to meta-train:
    the "meta-parameters" are just the architecture and the optimiser settings.
    """

    adapt_needs_grad = True

    def __init__(
        self,
        make_model: Callable[[int], nn.Module],
        steps: int = 100,
        lr: float = 1e-3,
        task_type: str = "classification",
    ) -> None:
        super().__init__(task_type)
        if not callable(make_model):
            raise TypeError(f"make_model must be a function from the number of outputs to a model, got {type(make_model).__name__}")
        self.make_model, self.steps, self.lr = make_model, check_int("steps", steps, minimum=0), check_number("lr", lr)

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        n_way = check_support(support_x, support_y, self.task_type)
        n_outputs = n_way if self.task_type == "classification" else support_y.shape[-1]
        model = self.make_model(n_outputs).to(support_x.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                optimizer.zero_grad()
                self.loss(model(support_x), support_y).backward()
                optimizer.step()
        model.eval()
        return checked_module(model, support_x)

    def meta_loss(self, batch):
        raise TypeError("FromScratch learns each task from scratch: there is nothing to meta-train")


class NearestNeighbour(MetaLearner):
    """1-nearest-neighbour: score of class c = −(smallest Euclidean distance to a support example of c).

    ``embed`` maps inputs to feature vectors first (``None``: raw pixels, flattened).
    """

    def __init__(self, embed: nn.Module | None = None) -> None:
        super().__init__("classification")
        self.embed = embed

    def features(self, x: Tensor) -> Tensor:
        return (x if self.embed is None else self.embed(x)).flatten(1)

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        n_way = check_support(support_x, support_y)
        support = self.features(support_x)

        def predictor(query_x: Tensor) -> Tensor:
            distances = torch.cdist(self.features(query_x), support)  # (Q, N*K)
            scores = torch.full((distances.shape[0], n_way), float("-inf"), device=distances.device, dtype=distances.dtype)
            index = support_y.to(distances.device).expand_as(distances)
            return scores.scatter_reduce(1, index, -distances, reduce="amax")

        return query_checked(predictor, support_x)

    def meta_loss(self, batch):
        if self.embed is None:
            raise TypeError("pixel nearest neighbour has no parameters to meta-train")
        return super().meta_loss(batch)
