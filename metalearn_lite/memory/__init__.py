"""Memory-based meta-learners: store what the support set says, read it back for each query.

* :class:`MANN` — Santoro et al. (2016): an LSTM controller with an external memory and
  least-recently-used access (LRUA) learns, across episodes, to bind each image to its label
  within an episode (labels arrive one step late) and to read the binding back when the class
  returns. :meth:`MANN.memory_trace` records read/write weights and usage at every step;
  :func:`accuracy_by_presentation` gives the accuracy at the 1st, 2nd, … presentation of a class.
* :class:`MetaNetwork` — Munkhdalai & Yu (2017): a meta learner maps the base learner's loss
  gradients on each support example to **fast weights**, stored in a memory keyed by
  task-dependent representations; each query reads the fast weights of the examples it
  resembles and classifies with slow + fast weights (layer augmentation).

Both are :class:`~metalearn_lite.MetaLearner` s: ``adapt(support_x, support_y)`` writes the
memory and returns a predictor of class scores ``(Q, N)``; train them with
:func:`metalearn_lite.meta_train`, measure them with :func:`metalearn_lite.evaluate` and
:func:`metalearn_lite.evaluate_lake`. The memory is rebuilt from nothing in every episode.
"""
from .mann import (
    MANN, MANNState, MemoryTrace, PixelEncoder, PresentationCurve, accuracy_by_presentation, cosine_read_weights,
    least_used_weights, lrua_write_weights, presentation_numbers, update_usage,
)
from .meta_networks import CoordinateMLP, MetaNetwork, preprocess_gradients

__all__ = [
    "CoordinateMLP", "MANN", "MANNState", "MemoryTrace", "MetaNetwork", "PixelEncoder", "PresentationCurve",
    "accuracy_by_presentation", "cosine_read_weights", "least_used_weights", "lrua_write_weights",
    "preprocess_gradients", "presentation_numbers", "update_usage",
]
