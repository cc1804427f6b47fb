"""What the awards pages share: role sets, words for the services' codes, the page renderer and small
readers of the services' dictionaries (a form's errors are :mod:`zhisuan.web.forms`')."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, UploadFile

from zhisuan.awards import model as awards_model
from zhisuan.awards import payments
from zhisuan.awards.evidence import MAX_BYTES
from zhisuan.awards.programs import PROGRAMS
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import SHANGHAI
from zhisuan.core.errors import AuthenticationError, ValidationError, ZhisuanError
from zhisuan.core.regions import all_cities
from zhisuan.core.regions import city as city_of
from zhisuan.web.templating import render

APPLICANTS = ("user", "org_admin", "operator", "city")
#: lines of other public funding offered on a form beyond those already declared
SPARE_FUNDING_LINES = 2
REVIEWERS = frozenset({Role.CITY, Role.PROVINCE, Role.ADMIN})
OFFICE = frozenset({Role.PROVINCE, Role.FINANCE, Role.ADMIN})


def _login(who: Principal, what: str = "log in to see applications") -> None:
    if not who.authenticated:
        raise AuthenticationError(what)


def _sh(value: object) -> str:
    """An ISO timestamp or datetime in Shanghai time, to the minute."""
    if value is None or value == "":
        return "—"
    at = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(at, dt.datetime):
        return str(value)
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


#: words the pages show for the services' codes: (Chinese, English)
WORDS: Mapping[str, tuple[str, str]] = {
    "call_open": ("申报中", "open"),
    "call_upcoming": ("未开始", "upcoming"),
    "call_closed": ("已截止", "closed"),
    "call_all": ("全部", "all"),
    "objection_open": ("待处理", "open"),
    "objection_dismissed": ("已驳回", "dismissed"),
    "objection_upheld": ("异议成立", "upheld"),
    "objection_all": ("全部", "all"),
    "stage_city": ("市级审核", "city review"),
    "stage_province": ("省级审核", "province review"),
    "step_create": ("创建草稿", "draft created"),
    "step_edit": ("修改", "edited"),
    "step_evidence": ("上传材料", "evidence added"),
    "step_submit": ("提交", "submitted"),
    "step_resubmit": ("重新提交", "resubmitted"),
    "step_recommend": ("市级推荐", "recommended by the city"),
    "step_approve_first": ("一事一议第一审批人", "first case-by-case approval"),
    "step_approve": ("批准", "approved"),
    "step_reject": ("不予支持", "rejected"),
    "step_return": ("退回修改", "returned for correction"),
    "step_objection": ("提出异议", "objection lodged"),
    "step_objection_dismissed": ("异议驳回", "objection dismissed"),
    "step_objection_upheld": ("异议成立，撤销", "objection upheld, withdrawn"),
    "step_paid": ("已拨付", "paid"),
    "step_match_use": ("报告配套资金使用", "use of the match reported"),
    "kind_awards": ("奖补资金", "awards"),
    "kind_vouchers": ("算力券", "compute vouchers"),
    "batch_draft": ("草稿", "draft"),
    "batch_paid": ("已拨付", "paid"),
    "batch_cancelled": ("已取消", "cancelled"),
    "payer_province": ("省级", "province"),
}


def _labels(lang: str) -> dict[str, Callable[[object], str]]:
    """Helpers the templates share: state, city and measure names in the page's language."""

    def state(value: object) -> str:
        try:
            st = awards_model.State(str(value))
        except ValueError:
            return str(value)
        return awards_model.STATE_ZH[st] if lang == "zh" else st.value.replace("_", " ")

    def city(code: object) -> str:
        try:
            return city_of(str(code)).name(lang)
        except ZhisuanError:
            return str(code or "—")

    def measure(program: object) -> str:
        sp = PROGRAMS.get(str(program))
        if sp is None or lang != "zh":
            return str(program)
        return f"{program} {sp.name_zh}"

    def word(key: object) -> str:
        zh, en = WORDS.get(str(key), (str(key), str(key).replace("_", " ")))
        return zh if lang == "zh" else en

    return {"state_label": state, "city_label": city, "measure": measure, "sh": _sh, "word": word}


def _page(request: Request, template: str, ctx: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    lang: str = getattr(request.state, "lang", "zh")
    base = {"programs": list(PROGRAMS), "cities": all_cities(), "Role": Role} | _labels(lang)
    return render(request, template, base | ctx, status_code)


async def _upload(form: FormData) -> tuple[bytes, str] | None:
    """The uploaded ``file`` (at most one byte over the limit is read), and the form's files closed."""
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return None
        return await upload.read(MAX_BYTES + 1), upload.filename
    finally:
        await form.close()


def _int(text: str, field: str) -> int | None:
    if not text:
        return None
    if not text.isdecimal() or len(text) > 9:
        raise ValidationError("a whole number", field=field)
    return int(text)


def _opt_str(value: object) -> str | None:
    return str(value) if value is not None else None


def _opt_int(value: object) -> int | None:
    return int(str(value)) if value is not None else None


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _payer(payer: object, labels: Mapping[str, Callable[[object], str]]) -> str:
    """Who pays, as people read it: the province, or a city's name."""
    return labels["word"]("payer_province") if payer == payments.PROVINCE else labels["city_label"](payer)


def _app_link(app_id: object) -> str:
    return f"/awards/applications/{app_id}"


__all__ = ["APPLICANTS", "OFFICE", "REVIEWERS", "SPARE_FUNDING_LINES", "WORDS"]
