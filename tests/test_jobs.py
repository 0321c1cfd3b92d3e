"""The maintenance job: stale unfinished conversations are deleted, and a round that comes less than
a period after another (another worker's) is skipped."""

import datetime as dt

from sqlmodel import Session, select

from casework.jobs import run_maintenance
from storage import repo
from storage.db import make_engine
from storage.models import AuditLog, ConversationState


def test_stale_sessions_are_deleted_once_per_period(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    with Session(engine) as s, s.begin():
        repo.save_state(s, user_key="tg:1", state={"stage": "questions"})
        repo.save_state(s, user_key="tg:2", state={"stage": "questions"})
    with Session(engine) as s, s.begin():
        old = s.get(ConversationState, "tg:1")
        old.updated_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)
        s.add(old)
    assert run_maintenance(engine, days=30, every=3600) == {"sessions": 1, "updates": 0, "outbox": 0}
    assert run_maintenance(engine, days=30, every=3600) is None, "a second worker's round is skipped"
    with Session(engine) as s:
        assert [r.user_key for r in s.exec(select(ConversationState))] == ["tg:2"]
        assert len(s.exec(select(AuditLog).where(AuditLog.action == "maintenance")).all()) == 1
