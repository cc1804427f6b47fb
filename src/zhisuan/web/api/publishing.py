"""API: publishing a pack version — check an upload, submit it, approve or reject it (province users).

A pack version is sent as JSON ``{"text": "<YAML>", "filename": "…", "note": "…"}`` or as the YAML
itself (``Content-Type: application/yaml``, file name in ``?filename=``). An invalid pack is a 422
whose ``error`` names ``file``, ``row`` (the line) and ``field`` (the key); nothing is stored then.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from zhisuan import publishing
from zhisuan.core.clock import Month
from zhisuan.core.errors import ValidationError
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep

router = APIRouter(tags=["policy publishing"])


async def _upload(request: Request, filename: str | None) -> tuple[str, str, str]:
    """(text, file name, note) from a JSON body or a raw YAML body."""
    raw = await request.body()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the pack must be UTF-8 text", field="text") from None
    if "json" in request.headers.get("content-type", ""):
        try:
            data: Any = json.loads(body)
        except json.JSONDecodeError:
            raise ValidationError("the body must be JSON {text, filename, note}", field="body") from None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise ValidationError("send the pack's YAML as 'text'", field="text")
        name, note = data.get("filename") or filename, data.get("note") or ""
        if not isinstance(name, str | None) or not isinstance(note, str):
            raise ValidationError("filename and note are text", field="filename")
        return data["text"], publishing.clean_filename(name), note
    return body, publishing.clean_filename(filename), ""


def _month(month: str | None) -> Month | None:
    return Month.parse(month) if month else None


@router.post("/policy/versions/check")
async def check_version(
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    filename: str | None = None,
    month: str | None = Query(None, description="Settlement month whose decisions to re-judge (YYYY-MM)."),
) -> dict[str, object]:
    """Validate a pack version, diff it against the version in force, and list the recorded decisions it
    would change; nothing is stored."""
    text, name, _ = await _upload(request, filename)
    return publishing.review(uow, who, platform.packs, text, name, _month(month))


@router.post("/policy/versions", status_code=201)
async def submit_version(
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    filename: str | None = None,
    month: str | None = None,
) -> JSONResponse:
    """Submit a pack version for approval by a second province user (audited); 201 with its review."""
    text, name, note = await _upload(request, filename)
    out = publishing.submit(uow, who, platform.packs, text, name, platform.clock, note, _month(month))
    uow.commit()
    return JSONResponse(out, status_code=201)


@router.get("/policy/versions")
def list_versions(
    who: PrincipalDep, uow: UowDep, pack: str | None = None, state: str | None = None
) -> dict[str, object]:
    """Pack versions, newest first (province users and administrators)."""
    if state is not None and state not in {s.value for s in publishing.State}:
        raise ValidationError("state is submitted, approved or rejected", field="state")
    return {"versions": publishing.list_versions(uow, who, pack, state)}


@router.get("/policy/versions/{version_id}")
def show_version(
    version_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """One version with its YAML and, per article, whether it judges events today."""
    return publishing.get_version(uow, who, version_id, platform.packs, platform.clock)


@router.post("/policy/versions/{version_id}/approve")
def approve_version(
    version_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Approve a submitted version (not one's own): it is served from the next call, on its own dates."""
    out = publishing.approve(uow, who, platform.packs, version_id, platform.clock)
    uow.commit()
    return out


@router.post("/policy/versions/{version_id}/reject")
async def reject_version(
    request: Request, version_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Reject a submitted version (not one's own) with ``{"reason": "…"}``."""
    try:
        data: Any = json.loads((await request.body()) or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("the body must be JSON {reason}", field="body") from None
    reason = data.get("reason") if isinstance(data, dict) else None
    out = publishing.reject(uow, who, version_id, reason if isinstance(reason, str) else "", platform.clock)
    uow.commit()
    return out
