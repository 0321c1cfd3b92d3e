"""What every served mode (`bot.py web`, `bot.py --webhook`) does before and as uvicorn starts."""

from __future__ import annotations

import logging


def configure_logging() -> None:
    """In each worker too: uvicorn's workers do not inherit the parent's logging set-up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


def start_problem(*, workers: int, extra: tuple[str | None, ...] = ()) -> str | None:
    """Why the server must not start (the data key, `extra` problems, several workers on SQLite), or None."""
    from storage.crypto import key_problem
    from storage.db import database_url

    for problem in (key_problem(), *extra):
        if problem:
            return problem
    if workers > 1 and database_url().startswith("sqlite"):
        return "several workers need PostgreSQL (DATABASE_URL); SQLite has one writer"
    return None
