"""The student edition (`python3 tasks.py book --student`) keeps the exercises, drops the solutions."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402  (the repository's tasks.py, standard library only)


def test_strip_solutions_removes_solution_blocks_and_answers_only():
    text = (
        "### Exercise 1\nWrite it.\n\n```{admonition} Solution\n:class: dropdown\n\n````python\nx = 1\n````\n```\n"
        "After.\n\n::::{admonition} Solution to 2\n:class: dropdown\nNo.\n::::\n"
        '<div><label>a</label><div class="ml-fb ml-right">✓ Correct. <span class="ml-explanation">Because.</span></div>'
        '<details><summary>Show the answer</summary><p>A. a</p></details></div>'
        "\n```{admonition} Hint\nKeep me.\n```\n"
    )
    out = tasks.strip_solutions(text)
    assert "Solution" not in out and "x = 1" not in out and "Show the answer" not in out and "No." not in out
    assert "Because." not in out and "✓ Correct." in out
    assert "### Exercise 1\nWrite it." in out and "After." in out and "<label>a</label>" in out and "Keep me." in out


def test_student_sources_have_every_exercise_and_no_solution(tmp_path):
    dest = tasks.student_sources(tmp_path / "student")
    notebooks = sorted((ROOT / "chapters").glob("*.ipynb"))
    assert notebooks
    solutions = 0
    for original in notebooks:
        full = original.read_text(encoding="utf-8")
        student = (dest / "chapters" / original.name).read_text(encoding="utf-8")
        solutions += full.count("{admonition} Solution")
        assert "{admonition} Solution" not in student and "Show the answer" not in student
        assert full.count("Exercise") - full.count("{admonition} Solution") <= student.count("Exercise")
        json.loads(student)  # still a valid notebook
    assert solutions >= 2 * len(notebooks)  # every chapter has at least two solved exercises
    assert (dest / "_toc.yml").exists()
