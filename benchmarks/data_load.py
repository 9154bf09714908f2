"""How long Omniglot takes to load, and how well pixel nearest neighbour does on Lake et al.'s runs.

For images_background_small1, images_background_small2 and the 20 one-shot runs of Lake et al.
(2015), measures the *cold* load (md5 check, read the zip, preprocess every image, write the
cache) and the *warm* load (read the cache), in a temporary data root filled with copies of the
official zips, so the user's own cache is left alone. Then evaluates pixel 1-nearest-neighbour
on the 20 runs at 28 px and at the native 105 px (chance: 95% error).

    python benchmarks/data_load.py [--source /work/shared/data/omniglot]

Writes benchmarks/results/data_load.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import PIL
import torch

from metalearn_lite.baselines import NearestNeighbour
from metalearn_lite.data.lake import evaluate_lake, load_lake_runs
from metalearn_lite.data.omniglot import OMNIGLOT_FILES, load_omniglot

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data" / "omniglot"
FILES = ("images_background_small1", "images_background_small2", "all_runs")


def timed(load: Callable[[], object], repeats: int) -> tuple[float, list[float], object]:
    """(cold seconds, warm seconds for each repeat, the loaded data)."""
    start = time.perf_counter()
    data = load()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        load()
        warm.append(time.perf_counter() - start)
    return cold, warm, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder holding the official small Omniglot zips")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "data_load.json")
    parser.add_argument("--repeats", type=int, default=5, help="warm loads to time (the median is reported)")
    args = parser.parse_args()

    loads, nn_results = [], {}
    with tempfile.TemporaryDirectory(prefix="metalearn_lite_bench_") as tmp:
        root = Path(tmp)
        (root / "omniglot").mkdir()
        for name in FILES:
            filename = Path(OMNIGLOT_FILES[name][0]).name
            shutil.copyfile(args.source / filename, root / "omniglot" / filename)

        cases: list[tuple[str, int, Callable[[], object]]] = [
            (name, 28, lambda name=name: load_omniglot(name, root=root, download=False, progress=False))
            for name in FILES[:2]
        ]
        cases += [("all_runs", size, lambda size=size: load_lake_runs(root, image_size=size, download=False)) for size in (28, 105)]
        for name, size, load in cases:
            cold, warm, data = timed(load, args.repeats)
            images = len(data) if name != "all_runs" else sum(len(r.support_x) + len(r.query_x) for r in data)
            loads.append({"dataset": name, "image_size": size, "images": images, "cold_s": cold, "warm_s": statistics.median(warm), "warm_runs_s": warm})
            if name == "all_runs":
                nn_results[str(size)] = evaluate_lake(NearestNeighbour(), data).to_dict()

    report = {
        "what": "Omniglot load times (cold = checksum + read zip + preprocess + write cache; warm = read cache) "
        "and pixel 1-nearest-neighbour error on the 20 one-shot runs of Lake et al. (2015)",
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pillow": PIL.__version__,
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
        "loads": loads,
        "pixel_nearest_neighbour": nn_results,
        "chance_error": 19 / 20,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'dataset':<26}{'size':>6}{'images':>8}{'cold (s)':>10}{'warm (s)':>10}")
    for row in loads:
        print(f"{row['dataset']:<26}{row['image_size']:>6}{row['images']:>8}{row['cold_s']:>10.2f}{row['warm_s']:>10.3f}")
    for size, result in nn_results.items():
        per_run = " ".join(f"{e:.0%}" for e in result["errors"])
        print(f"pixel 1-NN on the 20 runs at {size:>3} px: error {result['error']:.1%} ({result['wrong']}/{result['total']}); per run: {per_run}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
