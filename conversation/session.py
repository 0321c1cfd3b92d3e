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
from storage import hot, outbox, repo
from storage.hygiene import clean_text
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
           edit_of: str | int | None = None, queued: list | None = None, inbox: bool = True,
           delivered: outbox.Delivered | None = None) -> Outcome | None:
    """→ the outcome, or None when this update was already handled (its replies were queued then).
    `edit_of`: the channel's id of the message whose button was pressed (a reply marked `edit` may
    replace it).  `queued`: a list that receives the outbox items of the replies, leased to the
    caller to send at once with `outbox.send_items` (see storage/outbox.py `add_outcome`).
    `inbox=False`: the update did not come through the inbox (a webhook), so there is no row to delete.
    `delivered`: messages the caller's sender delivered since its last transaction, recorded as sent
    first in this one (storage/outbox.py `Delivered`; a failed transaction gives them back).

    The statements (storage/hot.py): the lock, the dedupe and one read of the user, the state and
    whether older messages are pending (SQLite: one statement; PostgreSQL: two), then the state's
    UPDATE and the replies' INSERT (PostgreSQL: one statement).  An ORM
    session is opened on the same connection only when something needs one (first contact, a
    referral link, the case services)."""
    inp = clean_input(inp)
    sent = delivered.take() if delivered is not None else []
    try:
        with engine.begin() as conn:
            if sent:
                delivered.record(conn, sent)
            row = hot.begin_update(conn, user_key=user_key, update_id=update_id, bot_id=bot_id, inbox=inbox)
            if row is None:
                return None
            orm = _LazySession(conn)
            role, name = row.role, row.display_name
            if row.user_id is None:
                user = repo.get_or_create_user(orm.get(), user_key=user_key, telegram_id=telegram_id,
                                               display_name=display_name)
                role, name = user.role.value, user.display_name
                referred = user.referred_by
            else:
                referred = row.referred_by
            if inp.text.startswith("/start ") and referred is None:
                session = orm.get()
                user = (session.get(User, row.user_id) if row.user_id is not None
                        else repo.get_user(session, user_key=user_key))
                link_referral(session, user=user, code=inp.text.split(maxsplit=1)[1])
            who = Who(user_key=user_key, role=role, name=display_name or name or "")
            state = repo.decode_state(row.state_json) if row.state_json is not None else None
            outcome = step(state, inp, who=who, services=services.bind(orm) if services else None)
            orm.flush()
            out = outbox.Outgoing(user_key=user_key, replies=list(outcome.replies), notices=outcome.notices,
                                  edit_of=edit_of, queued=queued, pending=row.pending)
            out.written(hot.save_state(conn, user_key=user_key, payload=repo.encode_state(outcome.state),
                                       existed=row.state_json is not None, outbox_rows=out.rows))
            orm.close()
    except BaseException:
        if sent:  # rolled back: the next transaction records them
            delivered.give_back(sent)
        raise
    return outcome


class _LazySession:
    """An ORM Session on the update's connection, made the first time it is asked for (most updates
    never need one).  It joins the connection's transaction: the `with engine.begin()` block commits."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.session: Session | None = None

    def get(self) -> Session:
        if self.session is None:
            self.session = Session(bind=self.conn)
        return self.session

    def flush(self) -> None:
        if self.session is not None:
            self.session.flush()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def clean_input(inp: Input) -> Input:
    """NUL and other control characters never reach the engine or the database (PostgreSQL refuses
    NUL in text); tabs and line breaks are kept."""
    text = clean_text(inp.text)
    action = clean_text(inp.action) if inp.action is not None else None
    return inp if (text, action) == (inp.text, inp.action) else Input(text=text.strip(), action=action)
