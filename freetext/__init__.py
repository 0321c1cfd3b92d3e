"""Free text: answers from the knowledge base, facts proposed from a told situation, danger words.

    from freetext import answer_question   # questions → at most three sourced answers
    from freetext import propose_facts     # a told situation → proposed facts (facts.md)
    from freetext import detect_danger     # danger words anywhere → the safety response

The words themselves (numbers, durations, negation, relations, danger words, places) are read by
zhtext, below both free text and the conversation. Inside: intake does not import matcher; matcher
uses intake (a told situation points to categories).
"""

from freetext.intake import propose_facts
from freetext.matcher import answer_question
from zhtext.danger import detect_danger

__all__ = ["answer_question", "detect_danger", "propose_facts"]
