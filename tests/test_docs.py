"""The library documentation's worked example runs, and its claims hold."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_library_page_worked_example_runs():
    text = (ROOT / "book" / "library.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "book/library.md should contain a python code block"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "book/library.md", "exec"), namespace)
    assert namespace["after"].mean > 0.9
