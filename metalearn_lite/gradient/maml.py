"""MAML — Model-Agnostic Meta-Learning (Finn, Abbeel & Levine 2017, ICML).

MAML learns an initialisation θ from which one (or a few) gradient steps on a new task's
support set give good weights for that task. For task i with support loss L^S_i and query loss
L^Q_i, with inner step size α and outer step size β::

    inner loop (adaptation):  φᵢ = θ − α ∇_θ L^S_i(θ)                (repeated inner_steps times)
    outer loop (meta-update): θ ← θ − β ∇_θ Σᵢ L^Q_i(φᵢ)

The outer gradient goes *through* the inner update: ∇_θ L^Q_i(φᵢ) = (∂φᵢ/∂θ)ᵀ ∇_φ L^Q_i(φᵢ),
with ∂φᵢ/∂θ = I − α ∇²_θ L^S_i(θ) for one step — a Hessian-vector product, which autograd
gives us when the inner gradient is taken with ``create_graph=True``. **First-order MAML**
(FOMAML, ``first_order=True``) drops the Hessian: ∂φᵢ/∂θ ≈ I, so the meta-gradient is the query
gradient taken at φᵢ, and the meta-update is exactly ``θ ← θ − β Σᵢ ∇_φ L^Q_i(φᵢ)``.

How this file computes it (no framework magic):

* θ is ``dict(model.named_parameters())``; the network is evaluated at any other weights with
  ``torch.func.functional_call(model, params, x)``. The model's own parameters are never
  modified by adaptation: φ is a new dict of tensors that *depend* on θ.
* The inner loop (:meth:`MAML.inner_loop`) is a plain Python ``for`` loop over
  ``torch.autograd.grad(L^S(φ), φ, create_graph=...)``.
* The outer loop is :func:`metalearn_lite.meta_train`: ``meta_loss`` adapts on each support
  set, scores the query set and averages over the meta-batch (averaging rather than summing
  only rescales β); the optimiser (Adam with ``lr``) plays the role of β. ``meta_loss`` takes
  each task's meta-gradient as soon as that task is done (see :meth:`MAML.meta_loss`), which
  gives the same step as one backward pass over the whole meta-batch with far less memory.

**Batch normalisation.** MAML's reference implementation always normalises with the
statistics of the current batch: while adapting on the support set, on the query set in the
outer loop, *and at test time*. This library does the same: use
``ConvNet4(norm="batch")``, whose BatchNorm layers keep **no running statistics**
(``track_running_stats=False``), so the network is a pure function of its parameters and its
input batch. Consequence worth knowing: a test-time prediction for one query depends on the
other queries in the same batch (the query set is normalised with its own mean and variance),
i.e. evaluation is *transductive*, exactly as in the MAML paper — and scored one query at a time
(``evaluate(..., query_batch=1)``) the same network can be far less accurate. Models whose BatchNorm
layers track running statistics are refused, because every forward pass would silently update
those buffers (the model would change while adapting) and train and test would disagree. Use
``norm="group"``/``"layer"`` for per-example normalisation instead.

**Which parameters the inner loop adapts.** θ (and so φ) is *every* trainable parameter of the
model, normalisation layers included: the inner loop also takes gradient steps on BatchNorm's
scale γ and shift β (and on GroupNorm's/LayerNorm's affine parameters). This differs from Finn
et al.'s reference code (cbfinn/maml), where the normalisation layers' parameters
(``tf.contrib.layers.batch_norm``: a learned offset, and no scale by default) are not among the
adapted weights: they are learned by the outer loop only and stay fixed while adapting. There
is no switch for that here (``requires_grad=False`` on them would exclude them from the outer
loop too).

**Speed** (``benchmarks/maml_speed.py``, exact MAML, ConvNet4, 32 tasks of 5-way 1-shot with
15 queries, 2 shared CPU cores). The straightforward per-task loop stays: neither folding all
tasks into one graph with grouped convolutions (1.6× *slower*, more memory), nor
``channels_last`` (no change), nor disabling MKL-DNN (slower) beat it; a second intra-op thread
was 4× slower on the busy shared machine. ``torch.func.vmap`` over tasks is slower on CPU for this
network and, through BatchNorm, gives a wrong second-order meta-gradient in torch 2.13, so it
is not used here (it is refused for BatchNorm; see *Batched tasks* below for where it pays).
An exact variant that never differentiates through the inner graph (query gradient at a
detached φ, then an explicit forward-over-reverse Hessian-vector product on the support set)
was not faster either, and first-order MAML — the floor for any exact scheme — is within the
timing noise of the naive loop: the forward and backward passes over the query images dominate.
What did pay is memory: one backward per task cut the peak from ~2 GB to ~0.17 GB extra.

**Batched tasks** (``batched=True`` or ``"auto"``; the default ``False`` is the loop above,
unchanged). For small networks the loop is mostly Python overhead, so :meth:`MAML.meta_loss`
can instead evaluate all B tasks of the meta-batch at once with ``torch.func.vmap`` over the
task dimension of a per-task function that runs the inner loop with ``torch.func.grad``
(φᵢ = θ − α ∇_θ L^S_i(θ), the gradient detached for first-order MAML) and scores the query set
at φᵢ with ``functional_call``. θ is shared by all tasks (not batched); the returned meta-loss
(1/B) Σᵢ L^Q_i(φᵢ) is an ordinary autograd graph of the whole meta-batch, so ``backward()``
gives the same meta-gradient as the loop (checked in float64 to 1e-10 in
``tests/test_gradient_batched.py``), with the memory of the loop's full meta-batch graph
(``backward_per_task=False``) rather than of one task. It is used only where it is exact:

* models with a BatchNorm layer are refused by ``batched=True`` (a ValueError naming the fix)
  and run the loop under ``"auto"``: vmap's second-order meta-gradient through
  ``F.batch_norm`` with batch statistics is wrong in torch 2.13;
* so are models with dropout (random numbers drawn inside vmap are not the loop's), recurrent
  layers (their kernels do not run under vmap) and layers with running statistics;
  a custom ``forward`` that fails under vmap (``F.dropout``, say) makes ``batched=True`` raise a
  ValueError saying so;
* ``"auto"`` batches exactly when every layer is one known to batch exactly (the library's
  ``MLP`` and ``ConvNet4``, linear layers, activations, LayerNorm/GroupNorm, pooling: see
  :func:`vmap_known_safe`; a module with a ``forward`` of its own is not), so it never fails
  where the loop works; when also the model has no convolution layer
  (where it pays: vmap over convolutions was slower than the loop on CPU — ConvNet4 with
  ``norm="group"``/``"none"``, hidden 64, 4 tasks of 5-way 1-shot, about 1.5× slower in one quick
  run on the busy machine — while exact), and
  the meta-batch is an :class:`~metalearn_lite.data.episodes.EpisodeBatch` (stacked tensors,
  so every episode has the same shapes); ``batched=True`` on anything but an ``EpisodeBatch``
  is a ValueError, and on convolutional networks without BatchNorm it is allowed (exact).

``adapt`` (one task, test time) is the same in every mode. On MAML's sinusoid regressor
(``MLP(1, 1, (40, 40))``, 25 tasks of K = 10, one inner step, 1 thread) the batched meta-step
took 2.9 ms against 30 ms for a textbook per-task loop and 54 ms for this library's loop, in one
quick run on a busy shared 2-core machine (``benchmarks/maml_speed.py --workload sinusoid``,
``benchmarks/results/maml_speed_sinusoid.json``).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..data.episodes import EpisodeBatch
from ..protocol import MetaLearner, Predictor, check_batch, check_predictions, check_query, check_support, score_name, task_score
from ..utils import first_line, is_integer, is_real

Params = dict[str, Tensor]


def check_model(model: object, name: str = "model") -> nn.Module:
    """Refuse what a functional inner loop cannot handle: non-modules and running BatchNorm statistics."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    for layer_name, layer in model.named_modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.track_running_stats:
            raise ValueError(
                f"{name}.{layer_name or type(layer).__name__} is a BatchNorm layer that tracks running statistics; "
                "gradient-based meta-learners need BatchNorm without running statistics "
                "(nn.BatchNorm2d(c, track_running_stats=False), as in ConvNet4(norm='batch')) or another "
                "normalisation (ConvNet4(norm='group'/'layer'))"
            )
    return model


BATCHED_CHOICES = (False, True, "auto")


def check_batched(batched: object) -> bool | str:
    """``batched`` must be ``False``, ``True`` or ``"auto"``."""
    if not any(batched is choice or (isinstance(batched, str) and batched == choice) for choice in BATCHED_CHOICES):
        raise ValueError(f"batched must be False, True or 'auto', got {batched!r}")
    return batched


def vmap_obstacle(model: nn.Module) -> str | None:
    """Why the tasks of a meta-batch cannot be batched exactly with ``torch.func.vmap`` through
    ``model`` (a BatchNorm, dropout or recurrent layer, or a layer with running statistics), or
    ``None`` when no layer is known to prevent it (a custom ``forward`` may still, e.g. by calling
    ``F.dropout``: see :func:`vmap_known_safe`)."""
    for layer_name, layer in model.named_modules():
        name = layer_name or type(layer).__name__
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            return (
                f"{name} is a BatchNorm layer: vmap's second-order meta-gradient through batch statistics is wrong "
                "in torch 2.13; use batched=False (the per-task loop) or a per-example normalisation "
                "(ConvNet4(norm='group'/'layer'/'none'))"
            )
        if isinstance(layer, nn.modules.dropout._DropoutNd) and layer.p > 0:
            return f"{name} is a dropout layer: vmap does not draw the loop's random numbers; use batched=False"
        if isinstance(layer, nn.RNNBase):
            return f"{name} is a recurrent layer ({type(layer).__name__}): torch's RNN kernels do not run under vmap; use batched=False"
        if getattr(layer, "track_running_stats", False):
            return (f"{name} ({type(layer).__name__}) updates running statistics in place, which vmap cannot do "
                    "per task; use batched=False, or build it with track_running_stats=False")
    return None


#: Layers whose forward is a fixed, deterministic function of the input and the layer's parameters,
#: so vmap over tasks computes exactly what the per-task loop computes.
VMAP_SAFE_LAYERS = (
    nn.Linear, nn.Bilinear, nn.Identity, nn.Flatten, nn.Unflatten, nn.Sequential, nn.ModuleList, nn.ModuleDict,
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Softmax, nn.LogSoftmax,
    nn.LayerNorm, nn.GroupNorm, nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
)


def vmap_known_safe(model: nn.Module) -> bool:
    """True when every layer of ``model`` is one whose forward is known to batch exactly under vmap:
    the library's own models (ConvNet4, MLP) and the layers of :data:`VMAP_SAFE_LAYERS` (dropout
    with p = 0 included). A module of another class has a ``forward`` that the library cannot
    read, so it is not known to be safe, and ``batched="auto"`` takes the loop for it."""
    from ..models import MLP, ConvNet4

    for layer in model.modules():
        if isinstance(layer, nn.modules.dropout._DropoutNd) and layer.p == 0:
            continue
        if type(layer) in (MLP, ConvNet4) or isinstance(layer, VMAP_SAFE_LAYERS):
            continue
        return False
    return vmap_obstacle(model) is None


def check_stacked_batch(batch: EpisodeBatch, task_type: str) -> None:
    """:func:`~metalearn_lite.protocol.check_batch`, with the same errors, cheaper for regression:
    the episodes of an ``EpisodeBatch`` share their shapes, so when all its inputs are finite the
    per-episode checks of a regression batch are those of episode 0; otherwise (and for
    classification, whose labels differ between episodes) every episode is checked."""
    inputs = (batch.support_x, batch.query_x)
    if task_type == "regression" and all(isinstance(x, Tensor) and x.is_floating_point() and bool(torch.isfinite(x).all()) for x in inputs):
        check_batch([batch[0]], task_type)
    else:
        check_batch(batch, task_type)


def check_steps(inner_steps: object, test_inner_steps: object) -> tuple[int, int]:
    """``inner_steps`` (and ``test_inner_steps``, default the same) must be integers >= 0 (Python
    or NumPy); returned as Python ints."""
    for name, value in {"inner_steps": inner_steps, "test_inner_steps": test_inner_steps}.items():
        if value is not None and (not is_integer(value) or value < 0):
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if inner_steps is None:
        raise ValueError("inner_steps must be an integer >= 0, got None")
    return int(inner_steps), int(inner_steps if test_inner_steps is None else test_inner_steps)


def check_step_size(name: str, value: object) -> float:
    if not is_real(value) or not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_outputs(outputs: Tensor, y: Tensor, task_type: str) -> None:
    """The model's outputs must fit the task: N class scores per example (N = ``y.max() + 1``) for
    classification, the targets' shape for regression. Raises a ValueError saying how to build it."""
    if task_type == "classification":
        n_way = int(y.max()) + 1
        if outputs.dim() != 2 or outputs.shape[-1] != n_way:
            raise ValueError(
                f"the model outputs scores of shape {tuple(outputs.shape)} but the task has {n_way} classes; "
                f"build it with {n_way} outputs (e.g. ConvNet4(out_features={n_way}))"
            )
    elif outputs.shape != y.shape:
        raise ValueError(f"the model outputs shape {tuple(outputs.shape)} but the targets have shape {tuple(y.shape)}")


class MAML(MetaLearner):
    """Model-Agnostic Meta-Learning (Finn et al. 2017), exact (second-order) or first-order.

    ``model`` is any ``nn.Module``; for classification its output must be N class scores (e.g.
    ``ConvNet4(out_features=n_way)``), for regression the prediction. ``alpha`` is the inner
    step size α; ``inner_steps`` gradient steps are taken while meta-training and
    ``test_inner_steps`` (default: the same) when the learner is in ``eval()`` mode.
    ``first_order=True`` drops the second-order terms (FOMAML). The inner loop adapts every
    trainable parameter, BatchNorm's scale and shift included (see the module docstring). At
    test time (``eval()``) the inner gradients are never differentiated again, so adaptation is
    cheap in either case. ``batched`` chooses how :meth:`meta_loss` goes over the tasks of a
    meta-batch: ``False`` (default) a per-task loop, ``True`` all tasks at once with
    ``torch.func.vmap`` (refused for models with BatchNorm or dropout), ``"auto"`` vmap exactly
    when ``True`` would be allowed, the model has no convolution (vmap was slower there on CPU)
    and the batch is an ``EpisodeBatch`` (module docstring).

    Example::

        learner = MAML(ConvNet4(out_features=5), alpha=0.4)
        meta_train(learner, EpisodeSampler(train, n_way=5, k_shot=1, q_queries=15), steps=1000)
        scores = learner.adapt(support_x, support_y)(query_x)   # (Q, 5), the network at φ
    """

    adapt_needs_grad = True

    def __init__(
        self,
        model: nn.Module,
        alpha: float,
        inner_steps: int = 1,
        test_inner_steps: int | None = None,
        first_order: bool = False,
        task_type: str = "classification",
        backward_per_task: bool = True,
        batched: bool | str = False,
    ) -> None:
        super().__init__(task_type)
        self.model = check_model(model)
        self.alpha = check_step_size("alpha", alpha)
        self.inner_steps, self.test_inner_steps = check_steps(inner_steps, test_inner_steps)
        self.first_order = bool(first_order)
        self.backward_per_task = bool(backward_per_task)
        self.batched = check_batched(batched)
        if self.batched is True and (obstacle := vmap_obstacle(self.model)) is not None:
            raise ValueError(f"batched=True cannot be exact for this model: {obstacle}")

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, inner_steps={self.inner_steps}, test_inner_steps={self.test_inner_steps}, "
            f"first_order={self.first_order}, task_type={self.task_type!r}, batched={self.batched!r}"
        )

    # --- θ and the network evaluated at other weights ------------------------------------------
    def theta(self) -> Params:
        """θ: the model's trainable parameters by name (the very tensors, not copies)."""
        return {name: p for name, p in self.model.named_parameters() if p.requires_grad}

    clone_params = theta  # the learn2learn-style name; nothing is copied, nothing is mutated

    def forward_with(self, params: Params, x: Tensor) -> Tensor:
        """f(x; params): the model evaluated with ``params`` in place of its own parameters."""
        return functional_call(self.model, params, (x,))

    # --- the inner loop ---------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Inner steps used now: ``inner_steps`` in ``train()`` mode, ``test_inner_steps`` in ``eval()``."""
        return self.inner_steps if self.training else self.test_inner_steps

    def update(self, params: Params, grads: tuple[Tensor, ...]) -> Params:
        """One inner gradient step: φ = θ − α ∇L (Meta-SGD overrides this with a learned α)."""
        return {name: p - self.alpha * g for (name, p), g in zip(params.items(), grads)}

    def inner_loop(self, params: Params, x: Tensor, y: Tensor, steps: int | None = None) -> Params:
        """φ = θ − α ∇_θ L(f(x; θ), y), repeated ``steps`` times (default :attr:`steps`).

        With ``create_graph=True`` (meta-training, not first-order) the returned φ stays a
        differentiable function of ``params``, second-order terms included; otherwise the inner
        gradients are constants and ∂φ/∂θ = I (first-order MAML / test time).
        """
        steps = self.steps if steps is None else steps
        create_graph = self.training and not self.first_order
        phi = dict(params)
        with torch.enable_grad():  # adaptation takes gradients even if the caller is in no_grad
            for _ in range(steps):
                outputs = self.forward_with(phi, x)
                check_outputs(outputs, y, self.task_type)
                loss = self.loss(outputs, y)
                grads = torch.autograd.grad(
                    loss, list(phi.values()), create_graph=create_graph, allow_unused=True, materialize_grads=True
                )
                phi = self.update(phi, grads)
        return phi

    def functional_inner_loop(self, params: Params, x: Tensor, y: Tensor) -> Params:
        """The same φ as :meth:`inner_loop` (``steps`` times φ = update(φ, ∇_φ L(f(x; φ), y))),
        written with ``torch.func.grad`` so that it can run under ``torch.func.vmap``; the inner
        gradient is detached (∂φ/∂θ = I) exactly when :meth:`inner_loop` takes it without
        ``create_graph``: first-order MAML and ``eval()`` mode. Used by the batched meta-loss only."""
        detach = not (self.training and not self.first_order)

        def support_loss(phi: Params) -> Tensor:
            return self.loss(self.forward_with(phi, x), y)

        phi = dict(params)
        with torch.enable_grad():
            for _ in range(self.steps):
                grads = torch.func.grad(support_loss)(phi)
                phi = self.update(phi, tuple(grads[name].detach() if detach else grads[name] for name in phi))
        return phi

    def task_outputs(self, support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        """One task, functionally: f(query_x; φ) with φ = :meth:`functional_inner_loop` from θ.
        The batched meta-loss maps this over the tasks with ``torch.func.vmap`` (ANIL overrides it)."""
        return self.forward_with(self.functional_inner_loop(self.theta(), support_x, support_y), query_x)

    def uses_batched(self, batch: object) -> bool:
        """Whether :meth:`meta_loss` takes the batched (vmap) path for ``batch``: ``batched=True``
        (then ``batch`` must be an ``EpisodeBatch``), or ``"auto"`` with an ``EpisodeBatch`` and a
        model made only of layers known to batch exactly (:func:`vmap_known_safe`), none of them
        a convolution. So ``"auto"`` never fails where the loop works."""
        if self.batched is False:
            return False
        stacked = isinstance(batch, EpisodeBatch)
        if self.batched is True:
            if not stacked:
                raise ValueError(
                    f"batched=True needs an EpisodeBatch (episodes stacked, all of the same shapes), got "
                    f"{type(batch).__name__}; stack them with EpisodeBatch.stack(episodes) or use batched='auto'"
                )
            return True
        convolutional = any(isinstance(layer, nn.modules.conv._ConvNd) for layer in self.model.modules())
        return stacked and not convolutional and vmap_known_safe(self.model)

    def batched_meta_loss(self, batch: EpisodeBatch) -> tuple[Tensor, dict[str, float]]:
        """(1/B) Σᵢ L^Q_i(φᵢ) with all B tasks at once: ``torch.func.vmap`` of :meth:`task_outputs`
        over the leading task dimension of the batch, θ shared. The result is a plain autograd
        graph of the whole meta-batch; its gradient is the loop's meta-gradient. The batch is
        validated as by the loop (:func:`check_stacked_batch`). The model's
        outputs are first checked against the task (:func:`check_outputs`) on the first
        support set, one forward pass without gradients. The logged
        score is the mean over tasks of each task's score, as in the loop."""
        check_stacked_batch(batch, self.task_type)
        with torch.no_grad():  # outputs that do not fit the task: the loop's error, before vmap's
            check_outputs(self.model(batch.support_x[0]), batch.support_y[0], self.task_type)
        if self.task_type == "classification":  # every task's N, not only the first's
            n_ways = batch.support_y.amax(dim=1) + 1
            if bool((n_ways != n_ways[0]).any()):
                i = int((n_ways != n_ways[0]).nonzero()[0])
                raise ValueError(f"episode {i} of the meta-batch has {int(n_ways[i])} classes but episode 0 has "
                                 f"{int(n_ways[0])} (and the model outputs {int(n_ways[0])} scores): every task of a "
                                 f"meta-batch must have the model's number of classes")
        try:
            outputs = torch.func.vmap(self.task_outputs)(batch.support_x, batch.support_y, batch.query_x)
        except RuntimeError as error:
            raise ValueError(
                f"batched=True: this model does not run under torch.func.vmap ({first_line(error)}); a custom "
                f"forward may draw random numbers (F.dropout) or call a kernel vmap cannot batch: use batched=False "
                f"(the per-task loop works for any model) or batched='auto'") from error
        losses = torch.func.vmap(self.loss)(outputs, batch.query_y)
        loss = losses.mean()
        detached = outputs.detach()
        if self.task_type == "classification":
            scores = (detached.argmax(-1) == batch.query_y).float().flatten(1).mean(1)
        else:
            scores = (detached - batch.query_y).pow(2).flatten(1).mean(1)
        return loss, {"loss": float(loss.detach()), score_name(self.task_type): float(scores.mean())}

    # --- the protocol -----------------------------------------------------------------------------
    def adapted_params(self, support_x: Tensor, support_y: Tensor) -> Params:
        """φ for this support set: :meth:`inner_loop` started from θ."""
        check_support(support_x, support_y, self.task_type)
        return self.inner_loop(self.theta(), support_x, support_y)

    def adapt(self, support_x: Tensor, support_y: Tensor) -> Predictor:
        """Adapt on the support set; the predictor is the network at the adapted weights φ."""
        phi = self.adapted_params(support_x, support_y)
        return _Adapted(self.forward_with, phi, support_x)

    def meta_loss(self, batch: EpisodeBatch) -> tuple[Tensor, dict[str, float]]:
        """(1/B) Σᵢ L^Q_i(φᵢ), differentiated one task at a time (see ``backward_per_task``).

        The protocol's default builds the graphs of all B tasks (each holding a second-order
        inner step) and backpropagates once: peak memory grows with B. Here each task's
        meta-gradient ∇ L^Q_i(φᵢ) is taken right away, its graph freed, and the mean gradient ḡ
        is returned through the surrogate ``⟨params, ḡ⟩ − ⟨params, ḡ⟩.detach() + loss``,
        whose value is the meta-loss and whose gradient is exactly ḡ — so
        :func:`metalearn_lite.meta_train` takes the same step, with the memory of one task
        (12× less for a 32-task Omniglot meta-batch, at the same speed:
        ``benchmarks/maml_speed.py``). The surrogate cannot be differentiated twice; pass
        ``backward_per_task=False`` for the plain loop. Either way the batch is validated first
        (:func:`~metalearn_lite.protocol.check_batch`). When :meth:`uses_batched` says so
        (``batched=True``/``"auto"``), the tasks are instead evaluated all at once by
        :meth:`batched_meta_loss` (one graph of the whole meta-batch, differentiable as usual).
        """
        if self.uses_batched(batch):
            return self.batched_meta_loss(batch)
        if not self.backward_per_task or not torch.is_grad_enabled():
            return super().meta_loss(batch)
        check_batch(batch, self.task_type)
        params = [p for p in self.parameters() if p.requires_grad]  # θ, and Meta-SGD's α
        grad_sum = [torch.zeros_like(p) for p in params]
        losses, scores = [], []
        for episode in batch:
            outputs = self.adapt(episode.support_x, episode.support_y)(episode.query_x)
            check_predictions(outputs, episode.query_y, episode.n_way, self.task_type, type(self).__name__)
            loss = self.loss(outputs, episode.query_y)
            grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
            for total, g in zip(grad_sum, grads):
                total += g
            losses.append(float(loss.detach()))
            scores.append(task_score(self.task_type, outputs.detach(), episode.query_y))
        n = len(batch)
        mean_loss = sum(losses) / n
        surrogate = sum((p * (g / n)).sum() for p, g in zip(params, grad_sum))
        loss = surrogate - surrogate.detach() + mean_loss
        return loss, {"loss": mean_loss, score_name(self.task_type): sum(scores) / n}


class _Adapted:
    """``predictor(x) = forward(φ, x)``; keeps φ visible as ``predictor.params`` for inspection.
    Queries must be a tensor shaped like the support examples (:func:`~metalearn_lite.protocol.check_query`)."""

    def __init__(self, forward: Callable[[Params, Tensor], Tensor], params: Params, support_x: Tensor) -> None:
        self.forward, self.params, self.support_x = forward, params, support_x

    def __call__(self, x: Tensor) -> Tensor:
        check_query(x, self.support_x)
        return self.forward(self.params, x)


__all__ = ["MAML", "check_batched", "check_model", "check_stacked_batch", "check_outputs", "check_step_size", "check_steps",
           "vmap_obstacle", "vmap_known_safe", "VMAP_SAFE_LAYERS"]
