"""One update, one transaction: lock the user, skip a redelivered update, load the state, step,
save the state AND queue the replies and notices in the outbox (storage/outbox.py).

Every adapter (Telegram polling or webhook, WeChat, the web chat, the console, the benchmark) calls
`handle`; the state never lives in process memory, so a restart or a second worker goes on exactly
where the user was.  Since the replies are committed with the state, a crash right after the
commit loses nothing: the channel's sender (or the next page view) delivers them.  Adapters must
deliver from the outbox, not from the returned outcome (which is returned for tests and tools).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from conversation.engine import Outcome, step
from conversation.model import Input, Who
from storage import outbox, repo
from storage.hygiene import clean_text
from storage.db import lock_user
from storage.models import Role, User


def link_referral(session: Session, *, user: User, code: str) -> None:
    """A family that starts from a volunteer's link (t.me/<bot>?start=CODE) is linked to that
    volunteer, who then hears of every change to the family's cases."""
    volunteer = session.exec(select(User).where(User.referral_code == code.strip()[:64])).first()
    if volunteer is not None and volunteer.role == Role.volunteer and volunteer.id != user.id:
        user.referred_by = volunteer.id
        session.add(user)


def handle(*, engine: Engine, services, user_key: str, inp: Input, update_id: int | None = None,
           telegram_id: int | None = None, display_name: str | None = None, bot_id: int = 0,
           edit_of: str | int | None = None, queued: list | None = None) -> Outcome | None:
    """→ the outcome, or None when this update was already handled (its replies were queued then).
    `edit_of`: the channel's id of the message whose button was pressed (a reply marked `edit` may
    replace it).  `queued`: a list that receives the outbox items of the replies, leased to the
    caller to send at once with `outbox.send_items` (see storage/outbox.py `add_outcome`)."""
    inp = clean_input(inp)
    with Session(engine) as session, session.begin():
        lock_user(session, user_key)
        if update_id is not None and not repo.first_time(session, update_id=update_id, user_key=user_key,
                                                         bot_id=bot_id):
            return None
        user = repo.get_or_create_user(session, user_key=user_key, telegram_id=telegram_id,
                                       display_name=display_name)
        if inp.text.startswith("/start ") and user.referred_by is None:
            link_referral(session, user=user, code=inp.text.split(maxsplit=1)[1])
        who = Who(user_key=user_key, role=user.role.value, name=display_name or user.display_name or "")
        state = repo.load_state(session, user_key=user_key)
        outcome = step(state, inp, who=who, services=services.bind(session) if services else None)
        repo.save_state(session, user_key=user_key, state=outcome.state)
        outbox.add_outcome(session, user_key=user_key, replies=outcome.replies, notices=outcome.notices,
                           edit_of=edit_of, queued=queued)
    return outcome


def clean_input(inp: Input) -> Input:
    """NUL and other control characters never reach the engine or the database (PostgreSQL refuses
    NUL in text); tabs and line breaks are kept."""
    text = clean_text(inp.text)
    action = clean_text(inp.action) if inp.action is not None else None
    return inp if (text, action) == (inp.text, inp.action) else Input(text=text.strip(), action=action)
