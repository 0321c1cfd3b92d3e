"""The console chat: the same conversation engine as Telegram, on stdin/stdout.

Buttons are shown numbered; typing the number presses the button.  State lives in the database
(DATABASE_URL, default sqlite:///tongzhu.db), written on every step, so a restart goes on where the
user was.
"""

from __future__ import annotations

import getpass
import sys

from casework.service import CaseService
from conversation.model import Input, Reply
from conversation.session import handle
from sqlmodel import Session

from storage import outbox
from storage.db import make_engine
from templates import render_reply


def render(reply: Reply) -> str:
    text = render_reply(reply)
    if reply.buttons and reply.numbered:
        text += "\n" + "\n".join(f"  {i}. {b.label}" for i, b in enumerate(reply.flat_buttons, 1))
    elif reply.buttons:
        text += "\n" + "  ".join(f"［{b.label}］" for b in reply.flat_buttons)
    return text


def run_console(stdin=None, stdout=None, user: str | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    engine = make_engine()
    services = CaseService(engine=engine)
    key = f"console:{user or getpass.getuser()}"

    def show() -> None:  # the console pulls its messages from the outbox, like the web chat
        with Session(engine) as session, session.begin():
            items = outbox.take(session, user_key=key)
        for item in items:
            stdout.write(render(item.reply) + "\n\n")

    handle(engine=engine, services=services, user_key=key, inp=Input.typed("/start"))
    show()
    while True:
        stdout.write("> ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        handle(engine=engine, services=services, user_key=key, inp=Input.typed(line))
        show()
    stdout.write("\n")
    return 0
