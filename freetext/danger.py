"""Danger words: understood by zhtext.danger (below both the conversation and free text)."""

from zhtext.danger import detect_danger, detect_danger_kinds  # noqa: F401
