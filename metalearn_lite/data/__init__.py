"""Data: datasets organised by class, episode samplers, and the task families of the book."""
from .dataset import FewShotDataset
from .episodes import Episode, EpisodeBatch, EpisodeSampler, TaskSource
from .sinusoid import SinusoidTasks
from .synthetic import make_blob_classes

__all__ = ["Episode", "EpisodeBatch", "EpisodeSampler", "FewShotDataset", "SinusoidTasks", "TaskSource", "make_blob_classes"]
