"""How commands get the platform and who they act as: built lazily, once per process.

The command line acts as a named account, so that the audit log names a person: ``--as USER`` (or
``ZHISUAN_CLI_USER``) acts as that account, with its role and scope; without either, as the
platform administrator recorded as ``cli:<the operating-system login>`` — whoever runs the command on
the server already holds the database.
"""

from __future__ import annotations

import getpass
from functools import cache

from zhisuan.bootstrap import Platform, bootstrap
from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import AuthenticationError, NotFoundError

_acting_as: list[str] = []


def act_as(username: str | None) -> None:
    """Make the commands of this process act as ``username`` (the root option ``--as``)."""
    _acting_as[:] = [username] if username else []
    cli_principal.cache_clear()


def _os_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): still say who ran it
        return "unknown"


#: the administrator the command line acts as when no account is named (its name says who ran it)
CLI_ADMIN = Principal(user_id=None, username=f"cli:{_os_login()}"[:64], role=Role.ADMIN)


@cache
def platform() -> Platform:
    return bootstrap()


@cache
def cli_principal() -> Principal:
    """The account this command acts as (``--as`` / ``ZHISUAN_CLI_USER``), else :data:`CLI_ADMIN`."""
    name = _acting_as[0] if _acting_as else platform().settings.cli_user
    if not name:
        return CLI_ADMIN
    from zhisuan.accounts.services import UserView, find_user

    with platform().uow(read_only=True) as uow:
        try:
            row = find_user(uow, name)
        except NotFoundError:
            raise AuthenticationError(f"no account {name!r} to act as (--as / ZHISUAN_CLI_USER)") from None
        if not row.active:
            raise AuthenticationError(f"the account {name!r} is disabled")
        return UserView.of(row).principal()


def acting(username: str | None) -> Principal:
    """Who a command acts as: its own ``--as USER`` when given, else the root option's account."""
    if username:
        act_as(username)
    return cli_principal()


def cli_actor() -> str:
    """The name the audit log records for this command's actions."""
    return cli_principal().username
