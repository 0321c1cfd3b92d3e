"""Free text: answers from the knowledge base, facts proposed from a told situation, danger words.

    from freetext import answer_question   # questions → at most three sourced answers
    from freetext import propose_facts     # a told situation → proposed facts (facts.md)
    from freetext import read_story        # the same, with the numbers that are lower bounds (好几年)
    from freetext import detect_danger     # danger words anywhere → the safety response

The words themselves (numbers, durations, negation, relations, danger words, places) are read by
zhtext, below both free text and the conversation. Inside: intake does not import matcher; matcher
uses intake (a told situation points to categories).
"""

from __future__ import annotations

from typing import Any

__all__ = ["answer_question", "detect_danger", "propose_facts", "read_story"]
_WHERE = {"answer_question": "freetext.matcher", "propose_facts": "freetext.intake", "read_story": "freetext.intake",
          "detect_danger": "zhtext.danger"}


def __getattr__(name: str) -> Any:
    """Loaded on first use, so that `bot.py screen` (which only names the `ask` command) stays quick."""
    if name not in _WHERE:
        raise AttributeError(f"module 'freetext' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
