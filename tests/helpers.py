"""Small builders shared by several test modules (importable as ``helpers``: pytest puts tests/ on the path)."""
import torch

import metalearn_lite as ml


def image_episode(n_way=3, k_shot=2, q_queries=2, size=28, seed=0) -> ml.Episode:
    """A random-pixel N-way K-shot episode of (1, size, size) images, labels laid out class by class."""
    g = torch.Generator().manual_seed(seed)
    return ml.Episode(
        support_x=torch.rand(n_way * k_shot, 1, size, size, generator=g),
        support_y=torch.arange(n_way).repeat_interleave(k_shot),
        query_x=torch.rand(n_way * q_queries, 1, size, size, generator=g),
        query_y=torch.arange(n_way).repeat_interleave(q_queries),
    )
