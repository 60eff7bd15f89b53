"""Open the database, bring its schema up to date (alembic), and seed store records from a shop folder."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command as migrations
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, event, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from assistant.errors import ConfigError
from assistant.store.models import Base, Customer, Order, StoreMeta

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The revision whose schema equals what `create_all` made before migrations existed.
BASELINE_REVISION = "0001"
_SALT_KEY = "client_hash_salt"
_PG_MIGRATION_LOCK = 7_316_245_001  # pg_advisory_xact_lock key: one process migrates at a time


class Database:
    """An engine plus a session factory; SQLite gets WAL mode and foreign keys.

    Opening it applies pending migrations (`migrate`), so every process sees the same schema."""

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        if is_sqlite and ":///" in url and not url.endswith(":memory:"):
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30} if is_sqlite else {},
            pool_pre_ping=not is_sqlite,  # a restarted PostgreSQL server: reconnect instead of failing a turn
        )
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if migrate_schema:
            migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new session; use as a context manager."""
        return self.sessions()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upsert(self, table: Any) -> Any:
        """`INSERT … ON CONFLICT` for this database (`.on_conflict_do_update`, `.returning`): the atomic
        check-and-set the shared limits and leases rely on; SQLite and PostgreSQL only."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            return postgresql_insert(table)
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        raise ConfigError(f"shared limits and leases need SQLite or PostgreSQL, not {self.dialect}")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file: the scripts live in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, *, revision: str = "head") -> str:
    """Bring the schema to `revision` and return the revision it is at.

    - an empty database is created from the models and stamped at head (alembic's recipe for a new
      database: equal to running every migration, which a test checks on SQLite and PostgreSQL);
    - a database made before migrations existed (tables, no `alembic_version`) gets the columns
      newer versions added, is stamped at the baseline, then upgraded;
    - otherwise pending migrations run. One process migrates at a time (an advisory lock on
      PostgreSQL, a lock file beside an SQLite file), so workers starting together do not race.
    """
    try:
        with _migration_lock(engine), engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            config = alembic_config(connection)
            tables = set(inspect(connection).get_table_names())
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None and not tables & set(Base.metadata.tables) and revision == "head":
                Base.metadata.create_all(connection)
                migrations.stamp(config, "head")
                return head_revision()
            if current is None and tables & set(Base.metadata.tables):
                _complete_baseline(connection, config)
                migrations.stamp(config, BASELINE_REVISION)
                logger.info("database: adopted a pre-migration schema at revision %s", BASELINE_REVISION)
            migrations.upgrade(config, revision)
            now = MigrationContext.configure(connection).get_current_revision() or ""
            if now != current:
                logger.info("database: migrated from revision %s to %s", current or "none", now)
            return now
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database {engine.url.render_as_string(hide_password=True)}: "
                          f"{exc.orig or exc}") from exc  # fmt: skip


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _complete_baseline(connection: Connection, config: Config) -> None:
    """Create the baseline's tables and columns that a pre-migration database lacks (additive only)."""
    baseline = ScriptDirectory.from_config(config).get_revision(BASELINE_REVISION).module.BASELINE
    baseline.create_all(connection, checkfirst=True)
    inspector = inspect(connection)
    for table in baseline.sorted_tables:
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            kind = column.type.compile(dialect=connection.dialect)
            default = column.server_default.arg if column.server_default is not None else None
            clause = "" if default is None else f" DEFAULT '{default}'"
            connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{clause}'))
            logger.info("database: added column %s.%s", table.name, column.name)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def seed_store(db: Database, shop_dir: Path, *, force: bool = False) -> bool:
    """Load customers and orders from `shop_dir/store/` unless the same files were loaded already.

    Returns True when it (re)loaded. Orders changed by the assistant (cancellations, address
    changes) are overwritten only when the shop's files change or `force` is set.
    """
    files = [shop_dir / "store" / "customers.jsonl", shop_dir / "store" / "orders.jsonl"]
    if not all(path.is_file() for path in files):
        # A real shop connects its own order system; without store records every order check fails politely.
        logger.info("no store records in %s/store: order questions cannot be verified here", shop_dir)
        return False
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()
    with db.session() as session:
        meta = session.get(StoreMeta, "store_seed_sha256")
        if meta is not None and meta.value == digest and not force:
            return False
        session.execute(delete(Order))
        session.execute(delete(Customer))
        for line in files[0].read_text(encoding="utf-8").splitlines():
            if line.strip():
                c = json.loads(line)
                session.add(Customer(id=c["id"], name=c["name"], email=c["email"], phone=c.get("phone", ""),
                                     language=c.get("language", "en"), address=c.get("address", {})))  # fmt: skip
        session.flush()
        for line in files[1].read_text(encoding="utf-8").splitlines():
            if line.strip():
                o = json.loads(line)
                session.add(Order(**{k: o.get(k) for k in Order.__table__.columns.keys()}))  # noqa: SIM118
        if meta is None:
            session.add(StoreMeta(key="store_seed_sha256", value=digest))
        else:
            meta.value = digest
        try:
            session.commit()
        except IntegrityError:  # another process (a worker starting at the same time) seeded it first
            session.rollback()
            return False
        count = len(session.scalars(select(Order.id)).all())
    logger.info("store seeded from %s: %d orders", shop_dir, count)
    return True


def install_salt(db: Database) -> str:
    """A random salt made once per database, so every worker hashes client addresses the same way."""
    with db.session() as session:
        row = session.get(StoreMeta, _SALT_KEY)
        if row is None:
            session.add(StoreMeta(key=_SALT_KEY, value=secrets.token_hex(16)))
            try:
                session.commit()
            except IntegrityError:  # another worker made it first
                session.rollback()
            row = session.get(StoreMeta, _SALT_KEY)
        return row.value if row is not None else ""
