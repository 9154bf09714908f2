"""metalearn-lite: the small, tested meta-learning library behind the book.

The core every algorithm shares:

* data — :class:`FewShotDataset`, :class:`EpisodeSampler` (N-way K-shot episodes),
  :class:`SinusoidTasks`, Omniglot and Lake et al.'s one-shot runs (``metalearn_lite.data``);
* models — :class:`ConvNet4`, :class:`MLP`;
* the protocol — :class:`MetaLearner` (``adapt`` a support set into a predictor,
  ``meta_loss`` of a meta-batch);
* the loop — :func:`meta_train`, :func:`evaluate` (mean and 95% CI), checkpoints;
* baselines — :class:`FromScratch`, :class:`NearestNeighbour`;
* :func:`claim` — a statement the text makes about a run, checked on that run;
* :func:`explore` — an interactive figure that works in the static book and in a kernel;
* :class:`Table` — a table that fits the page: HTML in a notebook, aligned text elsewhere;
* ``plots`` — small figure helpers (labels that do not overlap);
* ``diagrams`` — the conceptual pictures of the three families (chapter 3), drawn in code.
"""
from .baselines import FromScratch, NearestNeighbour
from .claims import ClaimError, claim
from .explore import explore
from .data import (
    Episode, EpisodeBatch, EpisodeSampler, FewShotDataset, SinusoidTasks, TaskSource, evaluate_lake, load_lake_runs,
    load_omniglot, make_blob_classes,
)
from .models import MLP, ConvNet4
from .protocol import MetaLearner, check_support, task_loss, task_score
from . import diagrams, plots
from .results import Table
from .transfer import FineTune, pretrain
from .training import EvalResult, History, evaluate, load_checkpoint, meta_train, save_checkpoint
from .utils import mean_ci95, resolve_device, seed_everything

__version__ = "0.1.0"
__all__ = [
    "ClaimError", "ConvNet4", "Episode", "EpisodeBatch", "EpisodeSampler", "EvalResult", "FewShotDataset", "FineTune", "FromScratch",
    "History", "MLP", "MetaLearner", "NearestNeighbour", "SinusoidTasks", "Table", "TaskSource", "check_support", "claim",
    "evaluate", "evaluate_lake", "explore", "load_checkpoint", "load_lake_runs", "load_omniglot", "make_blob_classes", "mean_ci95", "meta_train", "pretrain", "resolve_device",
    "save_checkpoint", "seed_everything", "task_loss", "task_score",
]
