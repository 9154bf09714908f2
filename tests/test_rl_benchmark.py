"""The committed report of benchmarks/rl_bandits.py reads as a benchmark report and says what it should."""
from pathlib import Path

import pytest

from metalearn_lite.results import load_report

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "rl_bandits.json"
POLICIES = {"rl2", "random", "ucb1", "thompson", "greedy", "epsilon_greedy", "gittins", "oracle"}


def test_rl_bandits_report():
    report = load_report(REPORT)
    if report is None:
        pytest.skip("benchmarks/rl_bandits.py has not been run")
    assert set(report["results"]) == set(report["training"]) == {"n10", "n100"}
    for setting, results in report["results"].items():
        n = int(setting[1:])
        assert set(results) == POLICIES and all({"mean", "ci95"} <= set(r) for r in results.values())
        assert 0 <= results["random"]["mean"] <= results["oracle"]["mean"] <= n
        assert max(r["mean"] for r in results.values()) == results["oracle"]["mean"]
        assert results["rl2"]["mean"] > results["random"]["mean"] + 3 * (results["rl2"]["ci95"] + results["random"]["ci95"])
        assert report["training"][setting]["steps"] > 0 and report["training"][setting]["cpu_seconds"] > 0
        # Duan et al.'s Table 1 was not found exactly: no published number is filled in
        assert all(value is None for value in report["paper"][setting].values())


NAVIGATION = REPORT.with_name("rl_navigation.json")
METHODS = {"maml", "fomaml", "es_maml", "pretrained", "scratch"}


def test_rl_navigation_report():
    report = load_report(NAVIGATION)
    assert report is not None, "benchmarks/results/rl_navigation.json is missing: run benchmarks/rl_navigation.py"
    assert set(report["results"]) == set(report["training"]) == METHODS
    seeds = report["config"]["seeds"]
    for method, result in report["results"].items():
        assert len(result["mean"]) == len(result["ci95"]) == report["config"]["steps"] + 1
        assert len(result["per_seed"]) == seeds == len(report["training"][method])
        # the mean is the mean of the seeds' means
        for k, mean in enumerate(result["mean"]):
            assert abs(mean - sum(s[k] for s in result["per_seed"]) / seeds) < 1e-5 * (1 + abs(mean))
        assert all(r <= 0 for r in result["mean"]) and max(result["mean"]) < report["oracle"]["mean"] + 1e-9
        for run in report["training"][method]:
            trained = method != "scratch"
            assert (run["steps"] > 0 and run["env_steps"] > 0) == trained
    # every meta-learner gains from the first adaptation step on held-out goals
    for method in ("maml", "fomaml", "es_maml"):
        assert report["results"][method]["mean"][1] > report["results"][method]["mean"][0]
    policies = NAVIGATION.with_name("rl_navigation_policies.pt")
    assert policies.is_file() and policies.stat().st_size < 1_000_000
