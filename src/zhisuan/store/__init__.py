"""Storage: schema, migrations and the unit of work. No domain logic lives here.

Migrations are :mod:`zhisuan.store.migrate`, imported only by what migrates (it loads alembic).
"""

from zhisuan.store.base import Base
from zhisuan.store.db import make_engine, ping
from zhisuan.store.uow import UnitOfWork

__all__ = ["Base", "UnitOfWork", "make_engine", "ping"]
