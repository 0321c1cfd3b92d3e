"""The console chat: the same conversation engine as Telegram, on stdin/stdout."""

from __future__ import annotations

import getpass
import sys

from conversation.engine import Reply, step
from storage.db import load_state, make_engine, save_state
from templates import render_text


def render(reply: Reply) -> str:
    return render_text(f"text/{reply.template}.txt.j2", **{"choices": reply.choices, **reply.context})


def run_console(stdin=None, stdout=None, user: str | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    engine = make_engine()
    key = f"console:{user or getpass.getuser()}"
    state = load_state(engine=engine, user_key=key)
    state, replies = step(state, "" if state else "/start")
    save_state(engine=engine, user_key=key, state=state)
    for reply in replies:
        stdout.write(render(reply) + "\n")
    while not state.get("done"):
        stdout.write("> ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            break
        state, replies = step(state, line.strip())
        save_state(engine=engine, user_key=key, state=state)
        for reply in replies:
            stdout.write(render(reply) + "\n")
    if state.get("done"):
        save_state(engine=engine, user_key=key, state={**state, "current": None})
    return 0
