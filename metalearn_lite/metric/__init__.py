"""Metric-based meta-learners: learn an embedding (and a comparison) in which new classes are easy.

Nothing is fine-tuned at test time: ``adapt(support_x, support_y)`` embeds the support set once
and the predictor compares each query with it.

* :class:`MatchingNetwork` — Vinyals et al. (2016): ŷ = Σᵢ softmax_i(cos(f(x̂), g(xᵢ))) yᵢ, an
  attention-weighted vote of the support labels; optional full context embeddings
  (``fce=True``: a bidirectional LSTM over the support set and an attention LSTM for the query).
* :class:`ProtoNet` — Snell, Swersky & Zemel (2017): scores −‖f(x) − c_k‖² to the class means
  c_k of the embedded support set; equivalently a linear classifier
  (:func:`prototype_linear_classifier`, eq. 8).
* :class:`RelationNetwork` — Sung et al. (2018): a learned relation module scores the
  concatenated feature maps of (class, query) pairs in [0, 1], trained with MSE to one-hot labels.
* :class:`SiameseNetwork` — Koch, Zemel & Salakhutdinov (2015): ``p(same) = σ(Σⱼ αⱼ |f(x₁)ⱼ − f(x₂)ⱼ| + b)``,
  trained with binary cross-entropy on same/different (query, support) pairs (optionally under
  Koch's affine distortions, :func:`koch_affine`); a query gets the class of its most similar
  support image.

All four are :class:`~metalearn_lite.MetaLearner` s, take any encoder (default ``ConvNet4``, or
its feature-map variant :class:`RelationEncoder`), any N and K, and check their input with
:func:`~metalearn_lite.check_support`. Train them with :func:`metalearn_lite.meta_train`,
measure them with :func:`metalearn_lite.evaluate` or :func:`metalearn_lite.evaluate_lake`.
"""
from .matching import (
    FullContextEmbedding, MatchingNetwork, cosine_attention, cosine_similarity_matrix, label_distribution,
    log_label_distribution,
)
from .protonet import ProtoNet, class_means, prototype_linear_classifier, squared_euclidean
from .relation import RelationEncoder, RelationModule, RelationNetwork
from .siamese import SiameseNetwork, class_max, koch_affine, verification_pairs

__all__ = [
    "FullContextEmbedding", "MatchingNetwork", "ProtoNet", "RelationEncoder", "RelationModule", "RelationNetwork",
    "SiameseNetwork", "class_max", "class_means", "cosine_attention", "cosine_similarity_matrix", "koch_affine", "label_distribution",
    "log_label_distribution", "prototype_linear_classifier", "squared_euclidean", "verification_pairs",
]
