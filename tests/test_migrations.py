"""Alembic migrations (storage/migrate.py, storage/migrations/): SQLite files and, when a server
answers on 127.0.0.1:5432, PostgreSQL in a throw-away schema."""

import secrets
import threading
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, event, inspect, text
from sqlmodel import Session, SQLModel, select

from storage import migrate
from storage.db import make_engine
from storage.models import Role, Status, User

TABLES = set(SQLModel.metadata.tables)
BASELINE_TABLES = {"users", "conversation_state", "processed_updates", "families", "children", "pre_applications",
                   "case_documents", "case_notes", "status_changes", "audit_log"}  # made by 0001_initial


def _schema_diff(engine):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)


def _check_schema(engine):
    insp = inspect(engine)
    names = set(insp.get_table_names())
    assert TABLES <= names, TABLES - names
    assert names - TABLES == {"alembic_version"}
    for table in SQLModel.metadata.sorted_tables:  # every index, with its uniqueness
        expected = {ix.name: ix.unique for ix in table.indexes}
        found = {ix["name"]: bool(ix["unique"]) for ix in insp.get_indexes(table.name)}
        assert expected.items() <= found.items(), (table.name, expected, found)
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("pre_applications")}
    assert ("idempotency_key",) in uniques
    assert _schema_diff(engine) == []
    assert migrate.current_revision(engine) == migrate.head_revision()


def _sqlite(tmp_path, name="t.db"):
    return f"sqlite:///{tmp_path / name}"


# ---------------------------------------------------------------- SQLite

def test_sqlite_fresh_file_gets_every_table(tmp_path):
    engine = make_engine(_sqlite(tmp_path))
    try:
        _check_schema(engine)
    finally:
        engine.dispose()


def test_sqlite_upgrade_twice_is_a_noop(tmp_path):
    engine = make_engine(_sqlite(tmp_path))
    try:
        with Session(engine) as s:
            s.add(User(user_key="tg:1", role=Role.staff, telegram_id=2**40))
            s.commit()
        statements = []
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        migrate.upgrade(engine)
        assert not [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "INSERT",
                                                                            "UPDATE"))]
        # Alembic itself, past the short-cut, inside the engine's BEGIN IMMEDIATE: no second BEGIN, no change.
        for _ in range(2):
            with engine.begin() as conn:
                command.upgrade(migrate.alembic_config(conn), "head")
        assert migrate.current_revision(engine) == migrate.head_revision()
        with Session(engine) as s:
            user = s.exec(select(User)).one()
            assert (user.role, user.telegram_id) == (Role.staff, 2**40)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_upgrade_runs_inside_the_engines_begin_immediate(tmp_path):
    engine = make_engine(_sqlite(tmp_path), migrate=False)
    begins = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *a: begins.append(statement) if "BEGIN" in statement.upper() else None)
    try:
        migrate.upgrade(engine)
        assert "BEGIN IMMEDIATE" in begins
        assert all(b == "BEGIN IMMEDIATE" for b in begins), begins  # Alembic never issued its own BEGIN
        _check_schema(engine)
    finally:
        engine.dispose()


def test_sqlite_up_to_date_start_is_cheap(tmp_path):
    engine = make_engine(_sqlite(tmp_path))
    try:
        migrate.upgrade(engine)
        start = time.perf_counter()
        for _ in range(20):
            migrate.upgrade(engine)
        per_start = (time.perf_counter() - start) / 20
        assert per_start < 0.05, f"{per_start * 1000:.1f} ms per start-up migration check"
    finally:
        engine.dispose()


def test_sqlite_downgrade_and_upgrade_again(tmp_path):
    engine = make_engine(_sqlite(tmp_path))
    try:
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        _check_schema(engine)
    finally:
        engine.dispose()


def test_sqlite_database_made_before_alembic_is_adopted(tmp_path):
    url = _sqlite(tmp_path)
    raw = create_engine(url)
    # What the placeholder storage/migrate.py's create_all() used to make is the baseline revision's
    # schema (later revisions add columns the old create_all never made), without a version table.
    with raw.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), migrate.BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO users (user_key, role, created_at) VALUES ('console:root', 'admin', "
                          "'2026-01-01 00:00:00')"))
    raw.dispose()
    engine = make_engine(url)
    try:
        _check_schema(engine)
        with Session(engine) as s:
            assert s.exec(select(User)).one().user_key == "console:root"
    finally:
        engine.dispose()


def _start_together(engines) -> None:
    """Migrate several engines of one database at the same moment, as workers starting together."""
    errors, barrier = [], threading.Barrier(len(engines))

    def start(engine):
        try:
            barrier.wait(5)
            migrate.upgrade(engine)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        _check_schema(engines[0])
    finally:
        for e in engines:
            e.dispose()


def test_sqlite_two_starts_at_once(tmp_path):
    url = _sqlite(tmp_path)
    _start_together([make_engine(url, migrate=False) for _ in range(2)])


def test_two_databases_migrated_from_two_threads(tmp_path):
    """Alembic's context/op proxies are process globals: migrate.upgrade runs one migration at a time."""
    engines = [make_engine(_sqlite(tmp_path, f"{i}.db"), migrate=False) for i in range(4)]
    errors, barrier = [], threading.Barrier(4)

    def start(engine):
        try:
            barrier.wait(5)
            migrate.upgrade(engine)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        for e in engines:
            _check_schema(e)
    finally:
        for e in engines:
            e.dispose()


# ---------------------------------------------------------------- PostgreSQL

def _pg_server():
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed"
    reasons = []
    for user in ("postgres", "root"):
        try:
            conn = psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user=user, connect_timeout=3,
                                   autocommit=True)
        except Exception as exc:  # noqa: BLE001
            reasons.append(f"{user}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
            continue
        return (user, conn), None
    return None, "no PostgreSQL server reachable at 127.0.0.1:5432/test (" + "; ".join(reasons) + ")"


@pytest.fixture
def pg_url():
    found, reason = _pg_server()
    if found is None:
        pytest.skip(reason)
    user, admin = found
    schema = f"tz_{secrets.token_hex(6)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def _enum_types(engine):
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE t.typtype = 'e' AND n.nspname = current_schema()")).scalars())


def test_postgres_fresh_schema_gets_every_table(pg_url):
    engine = make_engine(pg_url)
    try:
        _check_schema(engine)
        assert _enum_types(engine) == {"role", "status"}
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("users")}
        assert type(columns["telegram_id"]).__name__ == "BIGINT"
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("processed_updates")}
        assert type(columns["update_id"]).__name__ == "BIGINT"
        with Session(engine) as s:  # the ORM's enums bind to the migration's types
            s.add(User(user_key="tg:1", role=Role.staff, telegram_id=2**40))
            s.commit()
            assert s.exec(select(User).where(User.role == Role.staff)).one().telegram_id == 2**40
            s.execute(text("SELECT CAST(:v AS status)"), {"v": Status.needs_documents.name})
    finally:
        engine.dispose()


def test_postgres_upgrade_twice_is_a_noop(pg_url):
    engine = make_engine(pg_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:  # past the short-cut: Alembic finds nothing to do
            command.upgrade(migrate.alembic_config(conn), "head")
        make_engine(pg_url).dispose()  # another process starting later
        _check_schema(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_postgres_two_starts_at_once(pg_url):
    _start_together([make_engine(pg_url, migrate=False) for _ in range(3)])


def test_postgres_downgrade_drops_the_enum_types(pg_url):
    engine = make_engine(pg_url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert _enum_types(engine) == set()
        migrate.upgrade(engine)
        _check_schema(engine)
        assert _enum_types(engine) == {"role", "status"}
    finally:
        engine.dispose()
