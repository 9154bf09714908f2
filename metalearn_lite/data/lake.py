"""The original Omniglot one-shot classification benchmark (Lake, Salakhutdinov & Tenenbaum 2015).

``all_runs.zip`` holds 20 *runs*, ``run01`` .. ``run20``. Each run is a 20-way, 1-shot task
whose characters all come from one of the 10 evaluation alphabets: 20 training images
``training/classNN.png`` (one per character, the support set) and 20 test images
``test/itemNN.png`` (a new drawing of each character, the queries). Each run's
``runRR/class_labels.txt`` pairs them: 20 lines, one per test item in order ``item01`` ..
``item20``, each the path of the test image and of the training image of the same character,
from the root of the zip, separated by one space and ended by a newline (LF), e.g. the first
line of ``run01/class_labels.txt``::

    run01/test/item01.png run01/training/class08.png

Both paths start with the file's own run; every training image appears once. Every test item
is classified among its run's 20 training images; the error rate is wrong items / 400. People make
4.5% errors, Bayesian program learning 3.3% (Lake et al. 2015).

    runs = load_lake_runs()
    result = evaluate_lake(NearestNeighbour())   # anything with adapt(support_x, support_y)
    print(result)
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .download import check_archive
from .episodes import Episode
from .cache import Spec, label_problem
from .omniglot import _cached, _check_size, omniglot_file, preprocess

__all__ = ["LakeResult", "LakeRun", "evaluate_lake", "load_lake_runs"]

LAKE_NAME = "all_runs"


@dataclass
class LakeRun:
    """One run of the benchmark: a 20-way 1-shot task with 20 queries.

    ``support_x`` ``(20, 1, S, S)`` are the training images ``class01..class20`` with labels
    ``support_y = arange(20)``; ``query_x`` ``(20, 1, S, S)`` are the test images
    ``item01..item20`` and ``query_y[i]`` is the index of the training image of the same
    character.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    name: str

    def episode(self) -> Episode:
        """The run as an :class:`~metalearn_lite.data.episodes.Episode`."""
        return Episode(self.support_x, self.support_y, self.query_x, self.query_y)


@dataclass
class LakeResult:
    """Error rates on the runs: ``errors[r]`` for run ``r`` and ``error`` = wrong / total."""

    errors: list[float]
    error: float
    wrong: int
    total: int
    names: list[str]

    def __str__(self) -> str:
        per_run = " ".join(f"{e:.0%}" for e in self.errors)
        return (
            f"Omniglot one-shot benchmark (Lake et al. 2015), {len(self.errors)} runs: "
            f"error {self.error:.1%} ({self.wrong}/{self.total} wrong)\n  per run: {per_run}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and strings, ready for :func:`json.dump`."""
        return {"error": self.error, "errors": list(self.errors), "wrong": self.wrong, "total": self.total, "runs": list(self.names)}


def _member_key(path: str) -> str:
    """``"run01/test/item01.png"`` -> itself: the last three parts (run, folder, image), so that a
    label line names an image of its own run."""
    return "/".join(path.strip().split("/")[-3:])


def _runs_spec(image_size: int) -> Spec:
    """What :func:`_read_runs` returns: R runs of N-way 1-shot tasks with N queries."""
    images = ("float32", ("R", "N", 1, image_size, image_size))
    return {"support_x": images, "query_x": images, "query_y": ("int64", ("R", "N")), "names": ("str", ("R",))}


def _runs_problem(arrays: dict[str, np.ndarray]) -> str | None:
    """What is wrong with the labels of run arrays that fit :func:`_runs_spec` (None if nothing)."""
    return label_problem(arrays["query_y"], "query_y", arrays["support_x"].shape[1])


def _read_runs(zip_path: Path, image_size: int) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(zip_path) as archive:
        names = check_archive(archive, zip_path)
        run_dirs = sorted(n[: -len("class_labels.txt")] for n in names if n.endswith("class_labels.txt"))
        if not run_dirs:
            raise ValueError(f"{zip_path} has no class_labels.txt; is it the official all_runs.zip?")
        support, query, labels = [], [], []
        for run in run_dirs:
            training = sorted(n for n in names if n.startswith(run + "training/") and n.endswith(".png"))
            test = sorted(n for n in names if n.startswith(run + "test/") and n.endswith(".png"))
            train_index = {_member_key(n): i for i, n in enumerate(training)}
            test_index = {_member_key(n): i for i, n in enumerate(test)}
            y = np.full(len(test), -1, dtype=np.int64)
            for line in archive.read(run + "class_labels.txt").decode().splitlines():
                pair = line.split()
                if not pair:
                    continue
                if len(pair) != 2 or _member_key(pair[0]) not in test_index or _member_key(pair[1]) not in train_index:
                    raise ValueError(f"{zip_path}: unexpected line {line!r} in {run}class_labels.txt; is it the official all_runs.zip?")
                y[test_index[_member_key(pair[0])]] = train_index[_member_key(pair[1])]
            if (y < 0).any() or not training:
                raise ValueError(f"{zip_path}: {run}class_labels.txt does not label every test image of {run}")
            support.append([preprocess(archive.read(n), image_size)[None] for n in training])
            query.append([preprocess(archive.read(n), image_size)[None] for n in test])
            labels.append(y)
    return {
        "support_x": np.array(support, dtype=np.float32),
        "query_x": np.array(query, dtype=np.float32),
        "query_y": np.stack(labels),
        "names": np.array([run.rstrip("/").split("/")[-1] for run in run_dirs]),
    }


def load_lake_runs(
    root: str | os.PathLike | None = None,
    image_size: int = 28,
    download: bool = True,
    progress: bool = True,
) -> list[LakeRun]:
    """The 20 runs of the one-shot benchmark of Lake et al. (2015), from ``all_runs.zip``.

    Images are preprocessed as in :func:`~metalearn_lite.data.omniglot.preprocess` (ink = 1,
    ``image_size`` pixels square); the zip is found, checked and downloaded as in
    :func:`~metalearn_lite.data.omniglot.omniglot_file`, and the arrays are cached under
    ``<root>/omniglot/processed/`` so later calls only read and check that file (see
    :mod:`metalearn_lite.data.cache`).
    """
    image_size = _check_size(image_size)

    def build() -> dict[str, np.ndarray]:
        return _read_runs(omniglot_file(LAKE_NAME, root, download=download, progress=progress), image_size)

    arrays = _cached(root, LAKE_NAME, image_size, build, _runs_spec(image_size), _runs_problem)
    support_x, query_x, query_y = (torch.from_numpy(arrays[k]) for k in ("support_x", "query_x", "query_y"))
    return [
        LakeRun(support_x[r], torch.arange(support_x.shape[1]), query_x[r], query_y[r], str(name))
        for r, name in enumerate(arrays["names"].tolist())
    ]


def evaluate_lake(learner: Any, runs: list[LakeRun] | None = None, device: torch.device | str | None = None) -> LakeResult:
    """Error rates of ``learner`` on the one-shot benchmark (official protocol, Lake et al. 2015).

    ``learner.adapt(support_x, support_y)`` sees one run's 20 training images and returns a
    predictor; ``predictor(query_x)`` returns scores ``(20, 20)``, higher = more likely, and the
    argmax is the prediction. ``runs`` defaults to :func:`load_lake_runs` (28 px); tensors are
    moved to ``device`` (default: the learner's device if it is a module). As in
    :func:`metalearn_lite.evaluate`, a module learner is put in ``eval()`` mode meanwhile and
    autograd is on during ``adapt`` only if ``learner.adapt_needs_grad`` (default true).
    """
    if not callable(getattr(learner, "adapt", None)):
        raise TypeError(
            f"{type(learner).__name__} has no adapt(support_x, support_y) method; evaluate_lake needs a learner "
            "whose adapt returns a predictor mapping query images to scores (Q, N)"
        )
    if runs is None:
        runs = load_lake_runs()
    if device is None and isinstance(learner, nn.Module):
        device = next((p.device for p in learner.parameters()), None)
    was_training = learner.training if isinstance(learner, nn.Module) else None
    if was_training is not None:
        learner.eval()
    errors, wrong, total = [], 0, 0
    try:
        for run in runs:
            support_x, support_y, query_x, query_y = (
                t if device is None else t.to(device) for t in (run.support_x, run.support_y, run.query_x, run.query_y)
            )
            with torch.set_grad_enabled(getattr(learner, "adapt_needs_grad", True)):
                predictor = learner.adapt(support_x, support_y)
            with torch.no_grad():
                scores = predictor(query_x)
            expected = (len(query_y), len(support_y))
            if tuple(scores.shape) != expected:
                raise ValueError(
                    f"the predictor returned scores of shape {tuple(scores.shape)} on {run.name}; "
                    f"expected (queries, classes) = {expected}"
                )
            run_wrong = int((scores.argmax(dim=1) != query_y.to(scores.device)).sum())
            errors.append(run_wrong / len(query_y))
            wrong += run_wrong
            total += len(query_y)
    finally:
        if was_training is not None:
            learner.train(was_training)
    if total == 0:
        raise ValueError("no runs to evaluate on")
    return LakeResult(errors=errors, error=wrong / total, wrong=wrong, total=total, names=[run.name for run in runs])
