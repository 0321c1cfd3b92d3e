"""Free text: answers from the knowledge base, facts proposed from a told situation, danger words.

    from freetext.matcher import answer_question   # questions → at most three sourced answers
    from freetext.intake import propose_facts      # a told situation → proposed facts (facts.md)
    from freetext.danger import detect_danger      # danger words anywhere → the safety response
"""
