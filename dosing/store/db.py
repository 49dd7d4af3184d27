"""Opening the store: one engine per database URL, the schema upgraded by Alembic before first use.

SQLite is the embedded default. Its write transactions start with ``BEGIN IMMEDIATE`` so that two
processes recording at the same moment queue on the write lock instead of both reading a stale
snapshot; readers are never blocked (WAL journal). PostgreSQL relies on the unique constraints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ProgrammingError
from sqlmodel import Session

from dosing.errors import DosingError
from dosing.settings import get_settings, sqlite_file

#: Seconds a SQLite writer waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT = 60
#: The PostgreSQL advisory lock key that serialises the ledger's writers ("dose" in ASCII).
WRITER_LOCK = 0x646F7365


def _migrations_dir() -> str:
    return str(resources.files("dosing.store") / "migrations")


if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(url: str) -> Config:
    """Alembic configuration built in code: users need no alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _migrations_dir())
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if sqlite_file(url) is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is synced to disk before it returns, so a recorded dose survives a power
            # loss (NORMAL in WAL mode may lose the last transactions; the ledger cannot).
            cursor.execute("PRAGMA synchronous=FULL")
            # Room for the indexes the overdue sweep walks (64 MiB of page cache, 256 MiB mapped).
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"', re.MULTILINE)
_DOWN = re.compile(r'^down_revision(?:: [^=]+)? = (?:"([^"]+)"|None)', re.MULTILINE)


@cache
def _revision_graph() -> tuple[frozenset[str], frozenset[str]]:
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (Path(_migrations_dir()) / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        down = _DOWN.search(source)
        if down is not None and down.group(1):
            parents.add(down.group(1))
    return frozenset(revisions), frozenset(parents)


def head_revision() -> str | None:
    """The newest migration, read from the revision files without importing Alembic (a test checks
    it against Alembic's own answer)."""
    revisions, parents = _revision_graph()
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {heads}")
    return heads[0] if heads else None


class Store:
    """A database holding the ledger. Use :meth:`session` for reads and :meth:`transaction` for writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(url, immediate=False)
            self._write_engine = _sqlite_engine(url, immediate=True)
        else:
            from dosing.store.tables import declare_postgresql_options

            declare_postgresql_options()
            self.engine = create_engine(url, pool_pre_ping=True)
            self._write_engine = self.engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session; closing it ends the transaction and keeps loaded rows readable."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block ends normally, rolled back on any exception.

        Writers are serialised, so the audit chain has one head: SQLite by ``BEGIN IMMEDIATE``,
        PostgreSQL by a transaction-scoped advisory lock taken before anything is read.
        """
        with Session(self._write_engine, expire_on_commit=False) as session:
            try:
                if not self.is_sqlite:
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def current_revision(self) -> str | None:
        """The schema's revision, read with one query (Alembic is imported only to upgrade)."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(found) > 1:  # pragma: no cover - the migrations have one head
            raise RuntimeError(f"the store has several schema heads: {found}")
        return found[0] if found else None

    def head_revision(self) -> str | None:
        return head_revision()

    def upgrade(self, revision: str = "head") -> None:
        from alembic import command

        command.upgrade(alembic_config(self.url), revision)

    def dispose(self) -> None:
        self.engine.dispose()
        self._write_engine.dispose()


def create_private_sqlite_file(path: Path) -> None:
    """Create ``path`` (mode 0600) and its missing folders (mode 0700); an existing file is left as is.

    SQLite gives its -wal and -shm files the database file's mode, so they are private too.
    """
    missing = [folder for folder in [path.parent, *path.parent.parents] if not folder.exists()]
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as error:
        raise DosingError(
            "DOSING_DATABASE_URL",
            "a SQLite file in a folder this user can create and write",
            f"cannot create {path}: {error.strerror or error}",
        ) from error
    os.close(descriptor)


def open_store(url: str | None = None, *, upgrade: bool = True) -> Store:
    """The store at ``url`` (default: ``DOSING_DATABASE_URL`` or the per-user SQLite file), schema at head.

    A new SQLite file (and any folder made for it) is created for its owner only: the ledger holds
    subject codes, weights and doses.
    """
    url = url or get_settings().database_url
    path = sqlite_file(url)
    if path is not None:
        create_private_sqlite_file(path)
    store = Store(url)
    current = store.current_revision()
    if current is not None and current not in _revision_graph()[0]:
        store.dispose()
        raise DosingError(
            "database",
            "a store this version of dosing knows",
            f"the store's schema is at revision {current}, newer than this installation: upgrade dosing",
        )
    if upgrade and current != store.head_revision():
        try:
            store.upgrade()
        except ProgrammingError as error:
            store.dispose()
            raise DosingError(
                "database",
                "the schema is created and upgraded by its owner: "
                "dosing db upgrade --owner-database-url OWNER_URL",
                "this account may not change the schema, and the schema is not at the newest revision",
            ) from error
    return store
