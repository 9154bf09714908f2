"""Data: datasets organised by class, episode samplers, Omniglot, Lake's one-shot runs, task families."""
from .augment import random_affine
from .dataset import FewShotDataset
from .download import ChecksumError, DataNotFoundError, UnsafeArchiveError
from .episodes import Episode, EpisodeBatch, EpisodeSampler, TaskSource
from .lake import LakeResult, LakeRun, evaluate_lake, load_lake_runs
from .omniglot import data_root, load_omniglot
from .sinusoid import SinusoidTasks
from .synthetic import make_blob_classes

__all__ = [
    "ChecksumError", "DataNotFoundError", "Episode", "EpisodeBatch", "EpisodeSampler", "FewShotDataset",
    "LakeResult", "LakeRun", "SinusoidTasks", "TaskSource", "UnsafeArchiveError", "data_root",
    "evaluate_lake", "load_lake_runs", "load_omniglot", "make_blob_classes", "random_affine",
]
