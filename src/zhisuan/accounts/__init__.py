"""Organizations, ownership, users and API tokens: the service layer over core's values."""

from zhisuan.accounts.services import (
    OrgInput,
    OrgView,
    UserView,
    add_ownership,
    add_user,
    authenticate_password,
    authenticate_token,
    create_org,
    create_token,
    get_org,
    list_orgs,
    list_tokens,
    list_users,
    ownership_graph,
    revoke_token,
)

__all__ = [
    "OrgInput",
    "OrgView",
    "UserView",
    "add_ownership",
    "add_user",
    "authenticate_password",
    "authenticate_token",
    "create_org",
    "create_token",
    "get_org",
    "list_orgs",
    "list_tokens",
    "list_users",
    "ownership_graph",
    "revoke_token",
]
