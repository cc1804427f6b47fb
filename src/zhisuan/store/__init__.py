"""Storage: schema, migrations and the unit of work. No domain logic lives here."""

from zhisuan.store.base import Base
from zhisuan.store.db import make_engine, ping
from zhisuan.store.migrate import current_heads, upgrade
from zhisuan.store.uow import UnitOfWork

__all__ = ["Base", "UnitOfWork", "current_heads", "make_engine", "ping", "upgrade"]
