"""Pages: publishing a pack version — a form over the YAML, its review, and a second user's decision.

Province users and administrators only. The form's text starts from the version in force of a pack
(``?pack=ID``) or from an uploaded file; "check" shows the validation (file, line, key), the diff and
the recorded decisions that would change, "submit" stores the version for approval. Forms carry the
session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhisuan import publishing
from zhisuan.core.errors import ZhisuanError
from zhisuan.policy import PackError
from zhisuan.web import listing
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep, check_csrf
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(NavItem("/publish", "Publish", roles=("province",), order=45, group="Policy"))


def _error(exc: ZhisuanError) -> dict[str, object]:
    return {
        "message": exc.message,
        "file": exc.file if isinstance(exc, PackError) else None,
        "line": exc.row,
        "key": exc.field,
    }


VERSIONS = ListSpec(
    "versions",
    "Versions",
    (
        Column("id", "#", "num", link=lambda r: f"/publish/{r['id']}"),
        Column("pack", "Pack", filter=True),
        Column("version", "Version"),
        Column("state", "State", "word", filter=True),
        Column("submitted_by", "Submitted by", filter=True),
        Column("submitted_at", "Submitted", "date"),
        Column("decided_by", "Decided by"),
        Column("decided_at", "Decided on", "date"),
    ),
    sort="id",
    desc=True,
)


@router.get("/publish", response_model=None)
def publish_page(
    request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep, pack: str | None = None
) -> Response:
    """The versions so far and the form, pre-filled from the version in force of ``pack``."""
    publishing.check_may_publish(who)
    filename, text = publishing.text_in_force(uow, platform.packs, pack) if pack else ("", "")
    return _form(request, uow, who, platform, text, filename)


def _form(
    request: Request,
    uow: UowDep,
    who: PrincipalDep,
    platform: PlatformDep,
    text: str,
    filename: str,
    review: dict[str, object] | None = None,
    error: dict[str, object] | None = None,
    note: str = "",
) -> Response:
    lv = listing.view(request, VERSIONS, publishing.list_versions(uow, who))
    if isinstance(lv, Response):
        return lv
    return render(
        request,
        "publishing/index.html",
        {
            "lv": lv,
            "packs": sorted(p.id for p in platform.packs.current()),
            "text": text,
            "filename": filename,
            "note": note,
            "review": review,
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.post("/publish", response_model=None)
async def publish_form(
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    csrf_token: Annotated[str, Form()],
    text: Annotated[str, Form()] = "",
    filename: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "check",
    upload: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check the YAML (an uploaded file replaces the text) or submit it for approval."""
    check_csrf(request, csrf_token)
    publishing.check_may_publish(who)
    if upload is not None and upload.filename:
        try:
            text = (await upload.read()).decode("utf-8")
        except UnicodeDecodeError:
            return _form(
                request,
                uow,
                who,
                platform,
                "",
                upload.filename,
                error={"message": "the file is not UTF-8 text"},
            )
        filename = upload.filename
    name = publishing.clean_filename(filename)
    try:
        if action == "submit":
            out = publishing.submit(uow, who, platform.packs, text, name, platform.clock, note)
            uow.commit()
            return RedirectResponse(f"/publish/{out['id']}", status_code=303)
        review = publishing.review(uow, who, platform.packs, text, name)
    except PackError as exc:
        return _form(request, uow, who, platform, text, name, error=_error(exc), note=note)
    return _form(request, uow, who, platform, text, name, review=review, note=note)


@router.get("/publish/{version_id}", response_class=HTMLResponse)
def version_page(
    request: Request, version_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse:
    """One version: its YAML, its state, and the approve / reject forms for a second user."""
    version = publishing.get_version(uow, who, version_id, platform.packs, platform.clock)
    may_decide = version["state"] == publishing.State.SUBMITTED and version["submitted_by"] != who.username
    return render(request, "publishing/version.html", {"v": version, "may_decide": may_decide})


@router.post("/publish/{version_id}/approve")
def approve_form(
    request: Request,
    version_id: IntRowId,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    csrf_token: Annotated[str, Form()],
) -> RedirectResponse:
    """Approve (not one's own version)."""
    check_csrf(request, csrf_token)
    publishing.approve(uow, who, platform.packs, version_id, platform.clock)
    uow.commit()
    return RedirectResponse(f"/publish/{version_id}", status_code=303)


@router.post("/publish/{version_id}/reject")
def reject_form(
    request: Request,
    version_id: IntRowId,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    csrf_token: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Reject with a reason (not one's own version)."""
    check_csrf(request, csrf_token)
    publishing.reject(uow, who, version_id, reason, platform.clock)
    uow.commit()
    return RedirectResponse(f"/publish/{version_id}", status_code=303)
