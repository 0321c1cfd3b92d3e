"""Counting the SQL statements an engine sends (bench and tests)."""

from __future__ import annotations


class StatementCounter:
    """Counts the SQL statements an engine sends while active (``with StatementCounter(engine) as n: …; n.count``)."""

    def __init__(self, engine) -> None:
        self.engine, self.count = engine, 0

    def _on(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> "StatementCounter":
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._on)
