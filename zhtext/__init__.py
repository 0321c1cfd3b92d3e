"""Understanding Chinese text as families type it — one package below both the conversation
(conversation/) and free text (freetext/). It knows words, not policies or conversations.

    zhtext.normal     normalise(text), clauses(text)
    zhtext.numbers    chinese_number, parse_age ("9岁了"), parse_months ("还剩一年八个月"), parse_disability
    zhtext.yesno      polarity("嗯" / "不是" / "没有") → True / False / None; negated(text, pos)
    zhtext.relations  relation("我是孩子奶奶") → "祖父母"; the kinship words
    zhtext.danger     detect_danger(text), detect_danger_kinds(text) (data: zhtext/danger.yaml)
    zhtext.places     place_phrase("户口在通化") → "通化"; find_place(text) in a sentence;
                      resolve_place(text) → the most specific place (重庆齐江 → 綦江区)

Nothing here imports conversation/ or freetext/.
"""
