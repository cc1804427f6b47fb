"""How commands get the platform: built lazily, once per process, from the environment."""

from __future__ import annotations

from functools import cache

from zhisuan.bootstrap import Platform, bootstrap
from zhisuan.core.access import Principal, Role

# Whoever runs the CLI on the server has the database in hand; commands act as the platform admin.
CLI_ADMIN = Principal(user_id=None, username="cli", role=Role.ADMIN)


@cache
def platform() -> Platform:
    return bootstrap()
