"""Statements about a run, checked on the run that makes them.

The book never narrates one run's particular outcome in prose. Where the text says something
about what a run shows ("the curve climbs", "the learned embedding beats pixels"), a cell
checks it with :func:`claim`: on the reader's machine too, a run that contradicts the text
stops with a :class:`ClaimError` instead of leaving the prose silently wrong.
"""
from __future__ import annotations


class ClaimError(AssertionError):
    """A statement the book makes about a run does not hold for this run."""


def claim(holds: bool, statement: str, evidence: str = "") -> None:
    """Print ``✓ statement (evidence)`` when ``holds`` is true; raise :class:`ClaimError` otherwise.

    ``statement`` is the sentence the text relies on, ``evidence`` the numbers it was judged
    from (printed either way, so the reader sees why).
    """
    if not isinstance(holds, bool):
        holds = bool(holds)  # numpy / torch booleans
    shown = f" ({evidence})" if evidence else ""
    if not holds:
        raise ClaimError(
            f"The text says: {statement!r}, but this run shows otherwise{shown}. The surrounding prose "
            "does not describe your run: check that the chapter ran top to bottom in a fresh kernel, "
            "and if it did, please report it with your platform (python -m torch.utils.collect_env)."
        )
    print(f"✓ {statement}{shown}")
