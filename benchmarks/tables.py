"""Print every Omniglot benchmark result in ``benchmarks/results/`` as one Markdown table.

Reads the JSON reports written by ``metric_omniglot.py``, ``siamese_omniglot.py``, ``gradient_omniglot.py`` and
``memory_omniglot.py`` (any file with ``config``, ``training`` and ``results``), one row per
run: method, training set, budget (CPU minutes) and meta-steps, the three episode settings on
the unseen alphabets (mean ± 95% CI; "—" where the model cannot run the setting), the error on
Lake et al.'s 20 runs, and for MANN the per-presentation accuracies. The published anchors for
the same minimal condition on the 20 runs follow the table.

    python benchmarks/tables.py
"""
from __future__ import annotations

from pathlib import Path

from metalearn_lite.results import BUDGET_NOTE, LAKE_ANCHORS, LAKE_PEOPLE_ERROR, SETTINGS, format_result, load_report

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def describe(config: dict) -> str:
    """The options that distinguish runs of one method."""
    parts = []
    if config.get("augment"):
        parts.append("augment" + (" (Koch's distortions)" if config.get("distortion") == "koch" else ""))
    if "train_way" in config:
        parts.append(f"{config['train_way']}-way")
    if config.get("halve_lr_every"):
        parts.append(f"lr/2 every {config['halve_lr_every']}")
    if config.get("classes") and config["method"] == "mann":
        parts.append(f"{config['classes']} classes")
    return ", ".join(parts)


def rows() -> list[str]:
    out = ["| file | method | options | train | CPU min | steps | 5-way 1-shot | 5-way 5-shot | 20-way 1-shot | Lake error |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    curves = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        try:
            report = load_report(path)
        except ValueError:  # another kind of results file (e.g. maml_speed.json)
            continue
        if "method" not in report["config"] or "train" not in report["config"]:
            continue  # a benchmark of another protocol (e.g. rl_bandits.json)
        c, t, r = report["config"], report["training"], report["results"]
        clock = "" if t.get("clock", "").startswith("CPU") else " (wall)"
        out.append(f"| {path.stem} | {c['method']} | {describe(c)} | {c['train']} | {t['seconds'] / 60:.1f}{clock} | {t['steps']} | "
                   + " | ".join(format_result(r.get(s)) for s in SETTINGS) + f" | {format_result(r.get('lake_20way_1shot'))} |")
        if "presentation_curve" in r:
            curve = r["presentation_curve"]
            curves.append(f"| {path.stem} | {curve['classes']} | "
                          + " | ".join(f"{a:.1%}" for a in curve["accuracy"]) + " |")
        if "time_to_target" in r:
            target = r["time_to_target"]
            when = "not reached" if target["minutes"] is None else f"{target['minutes']:.1f} CPU min (step {target['step']})"
            curves.append(f"| {path.stem} | time to {target['target']:.0%} 5-way 1-shot ({target['episodes']} watch episodes): {when} |")
    anchors = "; ".join(f"trained on {k}: " + ", ".join(f"{n} {e:.1%}" for n, e in v.items()) for k, v in LAKE_ANCHORS.items())
    anchors += f"; people {LAKE_PEOPLE_ERROR:.1%}"
    return out + ["", f"Lake et al. (2015) anchors on the 20 runs — {anchors}", ""] + curves


if __name__ == "__main__":
    print("\n".join(rows()))
    print(f"\n{BUDGET_NOTE}")
