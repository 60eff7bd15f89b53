"""Open the database, create tables, and seed store records from a shop folder."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from assistant.store.models import Base, Customer, Order, StoreMeta

logger = logging.getLogger(__name__)


class Database:
    """An engine plus a session factory; SQLite gets WAL mode and foreign keys."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        if is_sqlite and ":///" in url and not url.endswith(":memory:"):
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30} if is_sqlite else {}
        )
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new session; use as a context manager."""
        return self.sessions()


def _add_missing_columns(engine: Engine) -> None:
    """Add columns that newer versions defined to tables an older version created (additive only)."""
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            default = (
                getattr(column.default, "arg", None)
                if column.default is not None and column.default.is_scalar
                else None
            )
            clause = (
                ""
                if default is None
                else f" DEFAULT {default!r}"
                if isinstance(default, str)
                else f" DEFAULT {int(default)}"
            )
            with engine.begin() as connection:
                connection.execute(
                    text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{clause}')
                )
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
        session.commit()
        count = len(session.scalars(select(Order.id)).all())
    logger.info("store seeded from %s: %d orders", shop_dir, count)
    return True
