"""Pages: calls, applications and their review, the public notice, budgets, payment batches, city payouts.

Every page asks the awards services, which check the caller's role and scope (a page nobody may read
is the error page's 404, one the caller may read but not change a 403; an anonymous caller is sent to
the login page). A form that fails validation is shown again with what was typed and the message next
to the field the error names. Forms carry the session's CSRF token.

The pages by area: ``applications`` (calls, the form, the list and one application), ``review`` (the
reviewers' forms, a round's export, the case-by-case register), ``notices`` (the public notice, objections,
final awards) and ``payments`` (budgets, batches, payments, city payouts); ``_common`` holds what they share.
"""

from __future__ import annotations

from fastapi import APIRouter

from zhisuan.web.pages.awards import applications, notices, payments, review
from zhisuan.web.pages.awards._common import APPLICANTS
from zhisuan.web.templating import NavItem, add_nav

router = APIRouter(include_in_schema=False)
for part in (applications, review, notices, payments):
    router.include_router(part.router)

add_nav(
    NavItem("/awards/calls", "Calls", order=55, group="Policy"),
    NavItem("/awards/notice", "Public notice", order=56, group="Policy"),
    NavItem("/awards/final", "Final awards", order=57, group="Policy"),
    NavItem(
        "/awards/applications",
        "Applications",
        roles=(*APPLICANTS, "province", "finance"),
        order=58,
        group="Policy",
    ),
    NavItem("/awards/budgets", "Budgets", roles=("province", "finance"), order=31, group="Funds"),
    NavItem("/awards/batches", "Payment batches", roles=("province", "finance"), order=32, group="Funds"),
    NavItem(
        "/awards/payouts", "City payouts", roles=("city", "province", "finance"), order=33, group="Funds"
    ),
)

__all__ = ["router"]
