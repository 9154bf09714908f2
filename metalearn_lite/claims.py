"""Statements about a run, checked on the run that makes them.

The book never narrates one run's particular outcome in prose. Where the text says something
about what a run shows ("the curve climbs", "the learned embedding beats pixels"), a cell
checks it with :func:`claim`: on the reader's machine too, a run that contradicts the text
stops with a :class:`ClaimError` instead of leaving the prose silently wrong.
"""
from __future__ import annotations

import numpy as np
import torch


class ClaimError(AssertionError):
    """A statement the book makes about a run does not hold for this run."""


def _truth(holds) -> bool:
    """``holds`` as a Python bool if it is a real boolean (Python, NumPy or a 0-d torch bool); TypeError otherwise."""
    if isinstance(holds, (bool, np.bool_)):
        return bool(holds)
    if isinstance(holds, (np.ndarray, torch.Tensor)):
        shape = tuple(holds.shape)
        if holds.dtype in (np.bool_, torch.bool) and not shape:
            return bool(holds)
        kind = "NumPy array" if isinstance(holds, np.ndarray) else "tensor"
        if shape:
            hint = (f"a {kind} of shape {shape} is not one truth value: say which you mean, "
                    "with .all() or .any() (on a comparison if it is not boolean)")
        else:
            hint = f"a 0-d {kind} of dtype {holds.dtype} is not a boolean: compare it explicitly (e.g. x > 0.5)"
        raise TypeError(f"claim() takes a real boolean (True or False) as its first argument; {hint}")
    if callable(holds):
        hint = f"got the callable {holds!r}, which is never checked: call it, claim(f(), ...)"
    else:
        shown = repr(holds)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        hint = (f"got {type(holds).__name__} {shown}, whose truth is not what the statement means "
                "(a non-empty string, list or a NaN all count as true): compare explicitly, "
                "e.g. claim(accuracy > 0.5, ...) or claim(answer == \"yes\", ...)")
    raise TypeError(f"claim() takes a real boolean (True or False) as its first argument; {hint}")


def claim(holds: bool, statement: str, evidence: str = "") -> None:
    """Print ``✓ statement (evidence)`` when ``holds`` is true; raise :class:`ClaimError` otherwise.

    ``holds`` must be a real boolean: a Python ``bool``, a NumPy bool or a 0-d torch bool tensor
    (what comparisons give). Anything else — a string, a list, a number (NaN included), a tensor of
    several elements, a function — is refused with a TypeError, since its truth value is not the
    statement's. ``statement`` is the sentence the text relies on, ``evidence`` the numbers it was
    judged from (printed either way, so the reader sees why).
    """
    if not isinstance(statement, str) or not statement.strip():
        raise TypeError(f"claim() needs the statement the text makes, a non-empty string; got {statement!r}")
    if not isinstance(evidence, str):
        raise TypeError(
            f"claim()'s evidence must be a string (the numbers the statement was judged from, "
            f"e.g. f\"{{gain:.1f}} points\"); got {type(evidence).__name__} {evidence!r}"
        )
    holds = _truth(holds)
    shown = f" ({evidence})" if evidence else ""
    if not holds:
        raise ClaimError(
            f"The text says: {statement!r}, but this run shows otherwise{shown}. The surrounding prose "
            "does not describe your run: check that the chapter ran top to bottom in a fresh kernel, "
            "and if it did, please report it with your platform (python -m torch.utils.collect_env)."
        )
    print(f"✓ {statement}{shown}")
