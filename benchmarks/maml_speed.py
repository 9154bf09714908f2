"""How fast is one exact (second-order) MAML meta-step on the CPU, and can it be made faster?

Workload: ``ConvNet4(out_features=5, norm="batch")``, a meta-batch of 32 tasks, 5-way 1-shot
with 15 queries per class, one inner step (α = 0.4). One *meta-step* = ``meta_loss`` forward
plus the backward pass that gives the meta-gradient.

Variants (each is timed in its own subprocess, so that its peak memory is its own):

* ``naive``         — the reference: a per-task loop written out here, ``autograd.grad(...,
  create_graph=True)`` then ``functional_call`` at φ, summed over tasks.
* ``library``       — ``metalearn_lite.gradient.MAML.meta_loss``: the same per-task loop, but
  each task's meta-gradient is taken (and its graph freed) before the next task is built
  (``backward_per_task=True``, the default; a surrogate loss carries the summed gradient).
* ``library_plain_loop`` — ``MAML(..., backward_per_task=False)``: the protocol's default
  ``meta_loss`` (all task graphs alive, one backward).
* ``folded``        — all tasks in ONE graph: tasks folded into the channel dimension, grouped
  convolutions (``groups=B``), per-task BatchNorm = per-channel statistics of the folded
  tensor, a batched head (``baddbmm``). Same FLOPs, B times fewer (larger) kernel calls.
* ``hvp``           — exact MAML without differentiating through the inner loop's graph: per
  task, the query gradient g_Q = ∇_φ L_Q(φ) is taken at a detached φ (a plain first-order
  backward), then the meta-gradient is g_Q − α ∇²L_S(θ) g_Q, the Hessian-vector product computed
  forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``) on the support set alone.
* ``first_order``   — **not exact**, the floor: first-order MAML (the same loop without any
  second-order term). Every exact scheme does at least this work (one support backward, one
  query forward and backward per task), so no exact variant can beat it; it is excluded from
  the gradient check and reported to show how much of the time second order costs at all.
* ``channels_last`` — the library, with the network's weights in ``torch.channels_last``.
* ``no_mkldnn``     — the library with ``torch.backends.mkldnn.enabled = False``.
* each of ``naive``/``library`` again with 2 intra-op threads (``torch.set_num_threads``).

A second workload, **MAML's sinusoid regressor** (``MLP(1, 1, (40, 40))``, 25 tasks of K = 10
support and 10 query points, one inner step, α = 0.01, MSE, 1 thread), where the network is so
small that the per-task loop is mostly Python overhead:

* ``sinusoid_naive``   — the textbook per-task loop (what learn2learn and higher do), written out.
* ``sinusoid_library`` — ``MAML(..., task_type="regression")``: the library's default loop.
* ``sinusoid_batched`` — ``MAML(..., batched=True)``: ``torch.func.vmap`` over the 25 tasks of
  ``torch.func.grad`` + ``functional_call``, one graph for the meta-batch.

Its meta-gradients are checked against ``sinusoid_naive``'s in float64 as well.

A third, **ConvNet4 without BatchNorm** (``norm="group"`` and ``norm="none"``, the Omniglot
workload above otherwise), where vmap is exact: ``convnet_<norm>_library`` (the default loop)
against ``convnet_<norm>_batched`` (``batched=True``), to see whether batching pays for a
network whose convolutions, not Python, dominate. Memory is the
process's peak resident set size above what it held before the first meta-step
(``resource.getrusage``), which for a network this small is coarse (page-sized, allocator
noise): it shows that no variant needs much, not which needs least. For the sinusoid and
ConvNet4-without-BatchNorm variants, ``graph_kib`` is exact: the bytes of the tensors the
returned loss's autograd graph holds for the backward pass (:func:`graph_bytes`) — the
meta-batch's graph for ``naive`` and ``batched``, what is left of it for the library's
per-task loop, which frees each task's graph as it goes.

Correctness first: every variant's meta-gradient is compared with ``naive``'s in float64 on a
small meta-batch (must agree to 1e-5), and in float32 on the benchmark workload (reported).
Results go to ``benchmarks/results/maml_speed.json``. Run: ``python benchmarks/maml_speed.py``
(``--quick`` for a smoke run; ``--workload sinusoid`` for the sinusoid part alone, written to
``benchmarks/results/maml_speed_sinusoid.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call

import metalearn_lite as ml
from metalearn_lite.gradient import MAML

RESULTS = Path(__file__).resolve().parent / "results" / "maml_speed.json"
ALPHA = 0.4


# --- the meta-losses being compared ----------------------------------------------------------------
def naive_meta_loss(learner: MAML, batch) -> torch.Tensor:
    """The textbook loop: per task, φ = θ − α∇L_S(θ) with create_graph=True, then L_Q(φ)."""
    theta = dict(learner.model.named_parameters())
    total = 0.0
    for i in range(len(batch)):
        support = F.cross_entropy(functional_call(learner.model, theta, (batch.support_x[i],)), batch.support_y[i])
        grads = torch.autograd.grad(support, list(theta.values()), create_graph=True)
        phi = {name: p - ALPHA * g for (name, p), g in zip(theta.items(), grads)}
        total = total + F.cross_entropy(functional_call(learner.model, phi, (batch.query_x[i],)), batch.query_y[i])
    return total / len(batch)


def folded_forward(params: dict[str, torch.Tensor], x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """ConvNet4 (norm="batch") for B tasks at once: params have a leading task dimension B,
    x is (B, n, C, H, W); returns (B, n, N) scores. Task b's channels are block b of the folded
    tensor, so grouped convolution applies task b's filters to task b's images only, and
    per-channel BatchNorm statistics are per-task statistics."""
    B, n = x.shape[:2]
    h = x.transpose(0, 1).reshape(n, B * x.shape[2], *x.shape[3:])
    for block in range(4):
        conv, norm = f"features.{4 * block}", f"features.{4 * block + 1}"
        w = params[f"{conv}.weight"]
        h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), params[f"{conv}.bias"].reshape(-1), padding=1, groups=B)
        h = F.batch_norm(h, None, None, params[f"{norm}.weight"].reshape(-1), params[f"{norm}.bias"].reshape(-1), True, 0.0, eps)
        h = F.max_pool2d(F.relu(h), 2)
    h = h.reshape(n, B, -1).transpose(0, 1)
    return torch.baddbmm(params["head.bias"][:, None, :], h, params["head.weight"].transpose(1, 2))


def folded_meta_loss(learner: MAML, batch) -> torch.Tensor:
    B = len(batch)

    def loss(params, x, y):  # Σ over tasks of each task's mean cross-entropy
        scores = folded_forward(params, x)
        return F.cross_entropy(scores.flatten(0, 1), y.flatten(), reduction="none").view(B, -1).mean(1).sum()

    theta = dict(learner.model.named_parameters())
    phi = {name: p.expand(B, *p.shape) for name, p in theta.items()}  # every task starts at θ
    grads = torch.autograd.grad(loss(phi, batch.support_x, batch.support_y), list(phi.values()), create_graph=True)
    phi = {name: p - ALPHA * g for (name, p), g in zip(phi.items(), grads)}
    return loss(phi, batch.query_x, batch.query_y) / B


def _surrogate(params: list[torch.Tensor], grad_sum: list[torch.Tensor], loss_sum: float, n: int) -> torch.Tensor:
    """A scalar whose value is the mean loss and whose gradient with respect to ``params`` is grad_sum / n."""
    surrogate = sum((p * (g / n)).sum() for p, g in zip(params, grad_sum))
    return surrogate - surrogate.detach() + loss_sum / n


def _per_task_query_gradients(learner: MAML, batch, hessian_term: bool) -> torch.Tensor:
    """Per task: φ = θ − α∇L_S(θ) (no graph), g_Q = ∇_φ L_Q(φ); meta-gradient g_Q (first order)
    or g_Q − α ∇²L_S(θ) g_Q (exact, one inner step) with a forward-over-reverse Hessian-vector product."""
    model = learner.model
    theta = dict(model.named_parameters())
    names, params = list(theta), list(theta.values())
    grad_sum, loss_sum = [torch.zeros_like(p) for p in params], 0.0
    for i in range(len(batch)):
        xs, ys = batch.support_x[i], batch.support_y[i]

        def support_loss(p):
            return F.cross_entropy(functional_call(model, p, (xs,)), ys)

        g_s = torch.autograd.grad(support_loss(theta), params)
        phi = {n: (p - ALPHA * g).detach().requires_grad_() for n, p, g in zip(names, params, g_s)}
        query = F.cross_entropy(functional_call(model, phi, (batch.query_x[i],)), batch.query_y[i])
        g_q = torch.autograd.grad(query, list(phi.values()))
        if hessian_term:
            detached = {n: p.detach() for n, p in theta.items()}
            _, hvp = torch.func.jvp(torch.func.grad(support_loss), (detached,), (dict(zip(names, g_q)),))
            g_q = [g - ALPHA * hvp[n] for n, g in zip(names, g_q)]
        for total, g in zip(grad_sum, g_q):
            total += g
        loss_sum += float(query.detach())
    return _surrogate(params, grad_sum, loss_sum, len(batch))


def hvp_meta_loss(learner: MAML, batch) -> torch.Tensor:
    return _per_task_query_gradients(learner, batch, hessian_term=True)


def first_order_meta_loss(learner: MAML, batch) -> torch.Tensor:
    return _per_task_query_gradients(learner, batch, hessian_term=False)


def library_meta_loss(learner: MAML, batch) -> torch.Tensor:
    return learner.meta_loss(batch)[0]


def library_plain_loop_meta_loss(learner: MAML, batch) -> torch.Tensor:
    learner.backward_per_task = False
    try:
        return learner.meta_loss(batch)[0]
    finally:
        learner.backward_per_task = True


VARIANTS = {
    "naive": (naive_meta_loss, {}),
    "library": (library_meta_loss, {}),
    "library_plain_loop": (library_plain_loop_meta_loss, {}),
    "folded": (folded_meta_loss, {}),
    "hvp": (hvp_meta_loss, {}),
    "first_order": (first_order_meta_loss, {"exact": False}),
    "channels_last": (library_meta_loss, {"channels_last": True}),
    "no_mkldnn": (library_meta_loss, {"mkldnn": False}),
}


# --- the sinusoid workload -------------------------------------------------------------------------
SINUSOID_ALPHA = 0.01


def naive_sinusoid_meta_loss(learner: MAML, batch) -> torch.Tensor:
    """The textbook loop on regression: per task, φ = θ − α∇L_S(θ) with create_graph=True, then L_Q(φ)."""
    theta = dict(learner.model.named_parameters())
    total = 0.0
    for i in range(len(batch)):
        support = F.mse_loss(functional_call(learner.model, theta, (batch.support_x[i],)), batch.support_y[i])
        grads = torch.autograd.grad(support, list(theta.values()), create_graph=True)
        phi = {name: p - SINUSOID_ALPHA * g for (name, p), g in zip(theta.items(), grads)}
        total = total + F.mse_loss(functional_call(learner.model, phi, (batch.query_x[i],)), batch.query_y[i])
    return total / len(batch)


SINUSOID_VARIANTS = {
    "sinusoid_naive": (naive_sinusoid_meta_loss, {}),
    "sinusoid_library": (library_meta_loss, {}),
    "sinusoid_batched": (library_meta_loss, {"batched": True}),
}


def make_sinusoid_problem(tasks: int = 25, k_shot: int = 10, batched: bool = False, dtype=torch.float32, seed: int = 0):
    """MAML's sinusoid regressor and one meta-batch of ``tasks`` sinusoids from ``ml.SinusoidTasks``
    (amplitude in [0.1, 5], phase in [0, π], x in [−5, 5]), K = ``k_shot`` support and K query points each."""
    ml.seed_everything(seed)
    batch = ml.SinusoidTasks(k_shot=k_shot, q_queries=k_shot, seed=seed).sample(tasks)
    for name in ("support_x", "support_y", "query_x", "query_y"):
        setattr(batch, name, getattr(batch, name).to(dtype))
    learner = MAML(ml.MLP(1, 1, (40, 40)), alpha=SINUSOID_ALPHA, task_type="regression", batched=batched).to(dtype)
    return learner, batch


def check_sinusoid_float64(tasks: int = 5) -> dict[str, float]:
    """Max |meta-gradient − sinusoid_naive's| in float64, for each sinusoid variant."""
    diffs = {}
    reference = meta_gradient(naive_sinusoid_meta_loss, *make_sinusoid_problem(tasks, dtype=torch.float64))
    for name, (fn, options) in SINUSOID_VARIANTS.items():
        grads = meta_gradient(fn, *make_sinusoid_problem(tasks, batched=options.get("batched", False), dtype=torch.float64))
        diffs[name] = max(float((a - b).abs().max()) for a, b in zip(grads, reference))
    return diffs


CONVNET_VARIANTS = {
    f"convnet_{norm}_{kind}": (library_meta_loss, {"norm": norm, "batched": kind == "batched"})
    for norm in ("group", "none") for kind in ("library", "batched")
}


# --- setup ---------------------------------------------------------------------------------------
def make_problem(tasks: int, ways: int, shots: int, queries: int, hidden: int, dtype=torch.float32, seed: int = 0,
                 norm: str = "batch", batched: bool = False):
    ml.seed_everything(seed)
    classes, per_class = 100, shots + queries
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(classes, 1, 28, 28, generator=g)
    x = (prototypes.repeat_interleave(per_class, 0) + 0.3 * torch.randn(classes * per_class, 1, 28, 28, generator=g)).clamp(0, 1)
    dataset = ml.FewShotDataset(x, torch.arange(classes).repeat_interleave(per_class), [f"c{c}" for c in range(classes)])
    batch = ml.EpisodeSampler(dataset, ways, shots, queries, seed=seed).sample(tasks)
    batch.support_x, batch.query_x = batch.support_x.to(dtype), batch.query_x.to(dtype)
    learner = MAML(ml.ConvNet4(out_features=ways, hidden=hidden, norm=norm), alpha=ALPHA, batched=batched).to(dtype)
    return learner, batch


def meta_gradient(fn, learner, batch) -> list[torch.Tensor]:
    return list(torch.autograd.grad(fn(learner, batch), list(learner.parameters())))


def check_float64(tasks: int = 4, hidden: int = 8) -> dict[str, float]:
    """Max |meta-gradient − naive's| in float64 on a small meta-batch, for each variant."""
    learner, batch = make_problem(tasks, 5, 1, 3, hidden, dtype=torch.float64)
    reference = meta_gradient(naive_meta_loss, learner, batch)
    diffs = {}
    for name, (fn, options) in VARIANTS.items():
        if not options.get("exact", True):
            continue
        torch.backends.mkldnn.enabled = options.get("mkldnn", True)
        model = learner
        if options.get("channels_last"):
            model = MAML(ml.ConvNet4(out_features=5, hidden=hidden), alpha=ALPHA).double()
            model.load_state_dict(learner.state_dict())
            model.to(memory_format=torch.channels_last)
        grads = meta_gradient(fn, model, batch)
        diffs[name] = max(float((a - b).abs().max()) for a, b in zip(grads, reference))
        torch.backends.mkldnn.enabled = True
    return diffs


def graph_bytes(loss: torch.Tensor, exclude=()) -> int:
    """Bytes of the tensors that the autograd graph of ``loss`` holds for its backward pass.

    Walks the graph from ``loss.grad_fn`` and adds up the storages of every node's saved
    tensors (its ``_saved_*`` attributes), each storage once, leaving out those of ``exclude``
    (the parameters, which exist anyway). Exact for what is alive when ``loss`` is returned —
    for the naive loop and the batched path the whole meta-batch's graph; the library's
    per-task loop has already freed each task's graph by then, so for it this is only what is
    left, not its peak (one task's graph). ``saved_tensors_hooks`` would count the peak too,
    but ``torch.func`` transforms refuse to run under them.
    """
    skip = {p.untyped_storage().data_ptr() for p in exclude}
    seen, storages, stack = set(), {}, [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for name in dir(node):
            if not name.startswith("_saved_"):
                continue
            try:
                value = getattr(node, name)
            except RuntimeError:  # a saved tensor that was already freed
                continue
            for t in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in skip:
                    storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        stack.extend(next_node for next_node, _ in node.next_functions)
    return sum(storages.values())


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- one variant, in its own process -----------------------------------------------------------------
def run_variant(args) -> dict:
    torch.set_num_threads(args.threads)
    if args.variant in SINUSOID_VARIANTS:
        fn, options = SINUSOID_VARIANTS[args.variant]
        learner, batch = make_sinusoid_problem(batched=options.get("batched", False))
    elif args.variant in CONVNET_VARIANTS:
        fn, options = CONVNET_VARIANTS[args.variant]
        learner, batch = make_problem(args.tasks, args.ways, args.shots, args.queries, args.hidden, **options)
    else:
        fn, options = VARIANTS[args.variant]
        torch.backends.mkldnn.enabled = options.get("mkldnn", True)
        learner, batch = make_problem(args.tasks, args.ways, args.shots, args.queries, args.hidden)
    if options.get("channels_last"):
        learner.to(memory_format=torch.channels_last)
    rss_before = rss_mib()
    seconds = []
    for _ in range(args.repeats + 1):  # the first run is a warm-up
        start = time.perf_counter()
        grads = meta_gradient(fn, learner, batch)
        seconds.append(time.perf_counter() - start)
        del grads
    grads = meta_gradient(fn, learner, batch) if args.save_grad else None
    if grads is not None:
        torch.save([g.detach() for g in grads], args.save_grad)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    graph_kib = graph_bytes(fn(learner, batch), list(learner.parameters())) / 1024
    return {
        "variant": args.variant,
        "threads": args.threads,
        "seconds_per_meta_step": statistics.median(seconds[1:]),
        "seconds_all_runs": seconds,
        "peak_rss_mib": peak,
        "rss_before_mib": rss_before,
        "peak_extra_mib": peak - rss_before,
        "graph_kib": graph_kib,
    }


def machine(load_at_start: float) -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
            "load_average_1min_at_start": load_at_start, "processor": platform.processor() or platform.machine()}


def sinusoid_report(args) -> dict:
    """The sinusoid workload: float64 check, then each variant timed in its own process (1 thread)."""
    correctness = check_sinusoid_float64()
    print("sinusoid float64 max |Δ meta-gradient| vs naive:", correctness, flush=True)
    assert all(d < 1e-10 for d in correctness.values()), correctness
    rows, tmp = [], Path(tempfile.mkdtemp(prefix="maml_speed_sinusoid_"))
    for name in SINUSOID_VARIANTS:
        grad_file = tmp / f"{name}.pt"
        cmd = [sys.executable, __file__, "--variant", name, "--threads", "1", "--repeats", str(args.sinusoid_repeats),
               "--save-grad", str(grad_file)]
        row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        grads, reference = torch.load(grad_file), torch.load(tmp / "sinusoid_naive.pt")
        row["float32_max_abs_diff_vs_naive"] = max(float((a - b).abs().max()) for a, b in zip(grads, reference))
        del row["seconds_all_runs"]
        rows.append(row)
        print(f"{name:17s} {1000 * row['seconds_per_meta_step']:.2f} ms/meta-step  graph {row['graph_kib']:.0f} KiB  "
              f"peak RSS +{row['peak_extra_mib']:.0f} MiB  "
              f"|Δgrad| {row['float32_max_abs_diff_vs_naive']:.1e}", flush=True)
    base = rows[0]["seconds_per_meta_step"]
    for row in rows:
        row["speedup_vs_naive"] = base / row["seconds_per_meta_step"]
    return {
        "workload": {"model": "MLP(1, 1, (40, 40))", "tasks": 25, "k_shot": 10, "k_query": 10, "inner_steps": 1,
                     "alpha": SINUSOID_ALPHA, "order": "second (exact MAML)", "dtype": "float32", "threads": 1},
        "float64_max_abs_diff_vs_naive": correctness,
        "runs": rows,
    }


def check_convnet_float64(tasks: int = 3, hidden: int = 8) -> dict[str, float]:
    """Max |batched meta-gradient − the loop's| in float64, for each ConvNet4 normalisation."""
    diffs = {}
    for norm in ("group", "none"):
        loop = meta_gradient(library_meta_loss, *make_problem(tasks, 5, 1, 3, hidden, torch.float64, norm=norm))
        batched = meta_gradient(library_meta_loss, *make_problem(tasks, 5, 1, 3, hidden, torch.float64, norm=norm, batched=True))
        diffs[norm] = max(float((a - b).abs().max()) for a, b in zip(loop, batched))
    return diffs


def convnet_report(args) -> dict:
    """ConvNet4 without BatchNorm: float64 check, then loop and batched timed in their own processes."""
    correctness = check_convnet_float64()
    print("ConvNet4 float64 max |Δ meta-gradient| batched vs loop:", correctness, flush=True)
    assert all(d < 1e-10 for d in correctness.values()), correctness
    workload = ["--tasks", str(args.tasks), "--ways", str(args.ways), "--shots", str(args.shots),
                "--queries", str(args.queries), "--hidden", str(args.hidden), "--repeats", str(args.repeats)]
    rows = []
    for name in CONVNET_VARIANTS:
        cmd = [sys.executable, __file__, "--variant", name, "--threads", "1", *workload]
        row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        del row["seconds_all_runs"]
        rows.append(row)
        print(f"{name:22s} {row['seconds_per_meta_step']:.2f} s/meta-step  graph {row['graph_kib'] / 1024:.0f} MiB  "
              f"peak RSS +{row['peak_extra_mib']:.0f} MiB", flush=True)
    return {
        "workload": {"model": f"ConvNet4(hidden={args.hidden}, norm='group'/'none')", "tasks": args.tasks, "n_way": args.ways,
                     "k_shot": args.shots, "queries_per_class": args.queries, "inner_steps": 1, "alpha": ALPHA,
                     "order": "second (exact MAML)", "dtype": "float32", "threads": 1},
        "float64_max_abs_diff_batched_vs_loop": correctness,
        "runs": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="timed meta-steps per variant (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variant", choices=sorted(VARIANTS) + sorted(SINUSOID_VARIANTS) + sorted(CONVNET_VARIANTS))
    parser.add_argument("--workload", choices=["all", "sinusoid", "convnet"], default="all",
                        help="'sinusoid' / 'convnet': only the sinusoid MLP / the ConvNet4 without BatchNorm part "
                             "(written to maml_speed_<workload>.json by default)")
    parser.add_argument("--sinusoid-repeats", type=int, default=200, help="timed sinusoid meta-steps per variant")
    parser.add_argument("--save-grad")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (4 tasks, 1 repeat)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.variant is not None:  # child process: time one variant, print JSON
        print(json.dumps(run_variant(args)))
        return
    if args.quick:
        args.tasks, args.repeats, args.sinusoid_repeats = 4, 1, 3
    if args.out is None:
        args.out = RESULTS if args.workload == "all" else RESULTS.with_name(f"maml_speed_{args.workload}.json")
    if args.workload != "all":
        load_at_start = os.getloadavg()[0]
        part = sinusoid_report(args) if args.workload == "sinusoid" else convnet_report(args)
        report = {"machine": machine(load_at_start), args.workload: part}
        report["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
        return

    load_at_start = os.getloadavg()[0]  # the CPU may be shared: timings are only comparable within one run
    correctness = check_float64()
    print("float64 max |Δ meta-gradient| vs naive:", correctness, flush=True)
    assert all(d < 1e-5 for d in correctness.values()), correctness

    workload = ["--tasks", str(args.tasks), "--ways", str(args.ways), "--shots", str(args.shots),
                "--queries", str(args.queries), "--hidden", str(args.hidden), "--repeats", str(args.repeats)]
    runs = [(name, 1) for name in VARIANTS] + [("naive", 2), ("library", 2)]
    results, tmp = [], Path(tempfile.mkdtemp(prefix="maml_speed_"))
    for name, threads in runs:
        grad_file = tmp / f"{name}-{threads}.pt"
        cmd = [sys.executable, __file__, "--variant", name, "--threads", str(threads), "--save-grad", str(grad_file), *workload]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        grads, reference = torch.load(grad_file), torch.load(tmp / "naive-1.pt")
        row["exact"] = VARIANTS[name][1].get("exact", True)
        row["float32_max_abs_diff_vs_naive"] = max(float((a - b).abs().max()) for a, b in zip(grads, reference))
        row["float32_max_abs_meta_gradient"] = max(float(a.abs().max()) for a in reference)
        results.append(row)
        print(f"{name:14s} threads={threads}  {row['seconds_per_meta_step']:.2f} s/meta-step  "
              f"peak RSS {row['peak_rss_mib']:.0f} MiB (+{row['peak_extra_mib']:.0f})  "
              f"|Δgrad| {row['float32_max_abs_diff_vs_naive']:.1e}", flush=True)
    base = next(r for r in results if r["variant"] == "naive" and r["threads"] == 1)
    for r in results:
        r["speedup_vs_naive_1_thread"] = base["seconds_per_meta_step"] / r["seconds_per_meta_step"]
    report = {
        "workload": {"model": f"ConvNet4(hidden={args.hidden}, norm='batch')", "tasks": args.tasks, "n_way": args.ways,
                     "k_shot": args.shots, "queries_per_class": args.queries, "inner_steps": 1, "alpha": ALPHA,
                     "order": "second (exact MAML)", "dtype": "float32"},
        "machine": machine(load_at_start),
        "float64_max_abs_diff_vs_naive": correctness,
        "runs": results,
        "sinusoid": sinusoid_report(args),
        "convnet": convnet_report(args),
    }
    report["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
