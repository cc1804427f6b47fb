"""The awards pages over HTTP: the form from the facts with inline errors, review, the public notice and
objections, case by case, evidence, budgets and batches, the city's payouts — and who may see what."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from tests.e2e.lists import cells as _cells
from tests.e2e.lists import check_list, sheet
from zhisuan import accounts
from zhisuan.awards import calls, payments
from zhisuan.bootstrap import Platform
from zhisuan.core import security
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC, ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind

ROOT = Principal(None, "fixture", Role.ADMIN)
PASSWORD = "password-1"


@dataclass
class Office:
    """Two applicants in two cities, their city users, two province users and finance; an art. 5 call."""

    client: TestClient
    platform: Platform
    clock: ManualClock
    call: int

    def login(self, username: str) -> str:
        """Log in through the form; the session's CSRF token."""
        self.client.cookies.clear()
        token = _token(self.client.get("/login").text)
        r = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303
        return _token(self.client.get("/awards/calls").text)

    def logout(self) -> None:
        self.client.cookies.clear()


def _token(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.fixture
def office(
    platform: Platform, client: TestClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Office:
    # argon2 at its cheapest: these tests log in a dozen times; what is tested is who may see what
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    now = clock.now()
    with platform.uow() as uow:
        for name, body, city in (
            ("甲智能科技有限公司", "91340100MA2AW0001", "340100"),
            ("乙智能科技有限公司", "91340200MA2AW0002", "340200"),
        ):
            accounts.create_org(
                uow,
                ROOT,
                accounts.OrgInput(
                    name=name, credit_code=make_credit_code(body), kind=OrgKind.ENTERPRISE, city_code=city
                ),
                now,
            )
        for username, role, org, city in (
            ("alice", Role.ORG_ADMIN, "91340100MA2AW0001", None),
            ("wendy", Role.ORG_ADMIN, "91340200MA2AW0002", None),
            ("hefei", Role.CITY, None, "340100"),
            ("wuhu", Role.CITY, None, "340200"),
            ("pia", Role.PROVINCE, None, None),
            ("pete", Role.PROVINCE, None, None),
            ("fay", Role.FINANCE, None, None),
        ):
            accounts.add_user(
                uow,
                ROOT,
                username=username,
                password=PASSWORD,
                role=role,
                now=now,
                org=make_credit_code(org) if org else None,
                city_code=city,
            )
        pia = accounts.services.user_principal(uow, "pia")
        call = calls.create_call(
            uow,
            pia,
            platform.packs.current(),
            clock,
            program="art5",
            title="2025年度关键技术研发申报",
            opens_on="2025-06-01",
            closes_on="2025-12-31",
        )
        payments.fund_budget(
            uow,
            accounts.services.user_principal(uow, "fay"),
            clock,
            program="art5",
            year=2025,
            amount="100000000",
            reference="CZ-2025-05",
        )
        uow.commit()
    return Office(client, platform, clock, int(str(call["id"])))


def _apply(office: Office, token: str, rd_cost: str, action: str = "submit", ref: str = "HF-LLM-01") -> str:
    r = office.client.post(
        f"/awards/calls/{office.call}/apply",
        data={
            "csrf_token": token,
            "project_ref": ref,
            "project_name": "通用大模型研发",
            "event_on": "2025-06-10",
            "fact_rd_cost": rd_cost,
            "fact_selection_mode": "open_challenge",
            "fact_topic": "general_llm",
            "fact_in_provincial_plan": "true",
            "funding_source_0": "",
            "funding_amount_0": "",
            "funding_year_0": "",
            "action": action,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def _state(office: Office, url: str) -> str:
    found = re.search(r'id="application" data-state="([a-z_]+)"', office.client.get(url).text)
    assert found is not None
    return found.group(1)


def test_an_application_goes_from_the_form_through_review_to_the_public_notice(office: Office) -> None:
    client = office.client
    token = office.login("alice")
    call = client.get(f"/awards/calls/{office.call}")
    assert call.status_code == 200 and 'id="apply-form"' in call.text
    # the city is recorded: shown read-only with the platform's note, not typed
    assert 'name="recorded_city" value="340100" readonly disabled' in call.text
    assert "提交时由平台根据已有记录填写" in call.text
    bad = client.post(
        f"/awards/calls/{office.call}/apply",
        data={
            "csrf_token": token,
            "project_ref": "HF-LLM-01",
            "project_name": "通用大模型研发",
            "event_on": "2025-06-10",
            "fact_rd_cost": "lots",
            "funding_source_0": "省级专项",
            "funding_amount_0": "1.234",
            "funding_year_0": "2025",
            "action": "save",
        },
    )
    # the first bad value is named and shown next to its field; what was typed stays on the form
    assert bad.status_code == 422
    assert 'id="error-rd_cost"' in bad.text and 'value="lots"' in bad.text and "通用大模型研发" in bad.text
    url = _apply(office, token, "10000000")
    assert _state(office, url) == "city_review"
    page = client.get(url).text
    assert 'id="decision"' in page and "¥2,000,000.00" in page and 'id="review-form"' not in page
    # another city's reviewer cannot even see it; its own city's reviewer finds it in the queue
    office.login("wuhu")
    assert client.get(url).status_code == 404
    token = office.login("hefei")
    queue = client.get("/awards/applications?queue=1").text
    assert url.rsplit("/", 1)[1] in re.findall(r'data-app="(\d+)"', queue)
    assert 'id="review-form"' in client.get(url).text
    client.post(f"{url}/review", data={"csrf_token": token, "action": "approve"})
    assert _state(office, url) == "province_review"
    token = office.login("pia")
    app_id = url.rsplit("/", 1)[1]
    by_unit = client.get(
        "/awards/applications", params={"queue": "1", "lead_unit": "省科技厅", "state": "province_review"}
    )
    assert re.findall(r'data-app="(\d+)"', by_unit.text) == [app_id] and "省经济和信息化厅" in by_unit.text
    other = client.get("/awards/applications", params={"lead_unit": "省经济和信息化厅"})
    assert "data-app=" not in other.text
    above = client.post(
        f"{url}/review", data={"csrf_token": token, "action": "approve", "amount": "2000000.01"}
    )
    assert above.status_code == 422 and 'id="error-amount"' in above.text
    client.post(f"{url}/review", data={"csrf_token": token, "action": "approve", "amount": "1800000"})
    assert _state(office, url) == "notice"
    # the public notice shows it to anyone, with the day the notice ends; the application itself is not public
    office.logout()
    notice = client.get("/awards/notice")
    assert notice.status_code == 200 and "通用大模型研发" in notice.text and "¥1,800,000.00" in notice.text
    assert "2025-06-20" in notice.text  # five days after the decision (Shanghai time)
    assert "登录后提出异议" in notice.text
    assert client.get(url, follow_redirects=False).status_code == 303
    assert client.get(url, headers={"accept": "application/json"}).status_code == 401
    # a logged-in user objects; the award is held until the province resolves it
    token = office.login("wendy")
    short = client.post(f"/awards/notice/{app_id}/objection", data={"csrf_token": token, "reason": "x"})
    assert short.status_code == 422 and "field-error" in short.text
    client.post(
        f"/awards/notice/{app_id}/objection", data={"csrf_token": token, "reason": "研发投入与审计报告不符"}
    )
    assert 'data-state="held"' in client.get("/awards/notice").text
    token = office.login("pia")
    objections = client.get("/awards/objections").text
    oid = re.findall(r'data-objection="(\d+)"', objections)[0]
    client.post(
        f"/awards/objections/{oid}", data={"csrf_token": token, "outcome": "dismissed", "note": "经核实无误"}
    )
    assert _state(office, url) == "notice"
    office.clock.set(dt.datetime(2025, 6, 21, 2, tzinfo=UTC))
    office.login("pia")  # a session lasts 12 hours: days later one logs in again
    assert _state(office, url) == "final"
    final = client.get("/awards/final?program=art5&year=2025")
    assert "通用大模型研发" in final.text


def test_a_returned_application_is_corrected_and_resubmitted_on_its_page(office: Office) -> None:
    client = office.client
    token = office.login("alice")
    url = _apply(office, token, "10000000")
    token = office.login("hefei")
    no_reason = client.post(f"{url}/review", data={"csrf_token": token, "action": "return"})
    assert no_reason.status_code == 422 and 'id="error-reason"' in no_reason.text
    client.post(f"{url}/review", data={"csrf_token": token, "action": "return", "reason": "请补充审计报告"})
    token = office.login("alice")
    page = client.get(url).text
    assert _state(office, url) == "returned" and 'id="edit-form"' in page and "请补充审计报告" in page
    data = {
        "csrf_token": token,
        "project_ref": "HF-LLM-01",
        "project_name": "通用大模型研发（修订）",
        "event_on": "2025-06-10",
        "fact_rd_cost": "9000000",
        "fact_selection_mode": "open_challenge",
        "fact_topic": "general_llm",
        "fact_in_provincial_plan": "true",
        "funding_source_0": "",
        "action": "submit",
    }
    assert client.post(url, data=data, follow_redirects=False).status_code == 303
    assert _state(office, url) == "city_review"
    history = client.get(url).text
    assert "重新提交" in history and "¥1,800,000.00" in history


def test_a_draft_shows_what_is_missing_and_only_its_applicant_may_edit_it(office: Office) -> None:
    client = office.client
    token = office.login("alice")
    r = client.post(
        f"/awards/calls/{office.call}/apply",
        data={
            "csrf_token": token,
            "project_ref": "HF-DRAFT",
            "project_name": "草稿项目",
            "event_on": "2025-06-10",
            "fact_rd_cost": "5000000",
            "action": "save",
        },
        follow_redirects=False,
    )
    url = r.headers["location"]
    page = client.get(url).text
    assert (
        'id="missing"' in page
        and "立项方式" in page
        and "研究方向" in page
        and "是否列入省级科技攻关计划" in page
    )
    not_yet = client.post(
        url,
        data={
            "csrf_token": token,
            "project_ref": "HF-DRAFT",
            "project_name": "草稿项目",
            "event_on": "2025-06-10",
            "fact_rd_cost": "5000000",
            "action": "submit",
        },
    )
    assert not_yet.status_code == 422 and "selection_mode" in not_yet.text
    assert _state(office, url) == "draft"
    office.login("wendy")
    assert client.get(url).status_code == 404
    # reviewers see an application once submitted, not the applicant's draft (as in their lists)
    for reviewer in ("hefei", "pia", "fay"):
        token = office.login(reviewer)
        assert client.get(url).status_code == 404
        assert url.rsplit("/", 1)[1] not in re.findall(
            r'data-app="(\d+)"', client.get("/awards/applications").text
        )
    assert client.post(url, data={"csrf_token": token, "project_name": "x"}).status_code == 404
    token = office.login("alice")
    _submit = {
        "csrf_token": token,
        "project_ref": "HF-DRAFT",
        "project_name": "草稿项目",
        "event_on": "2025-06-10",
    }
    facts = {
        "fact_rd_cost": "5000000",
        "fact_selection_mode": "directed",
        "fact_topic": "industry_llm",
        "fact_in_provincial_plan": "true",
    }
    assert client.post(url, data=_submit | facts | {"action": "submit"}).status_code == 200
    token = office.login("pia")  # submitted: the province reads it, but does not edit it
    page = client.get(url).text
    assert 'data-state="city_review"' in page and 'id="edit-form"' not in page
    assert client.post(url, data={"csrf_token": token, "project_name": "x"}).status_code == 403


def test_the_province_confirms_the_northern_anhui_uplift_before_approving_it(
    office: Office, platform: Platform
) -> None:
    with platform.uow() as uow:
        accounts.create_org(
            uow,
            ROOT,
            accounts.OrgInput(
                name="宿州智能科技有限公司",
                credit_code=make_credit_code("91341300MA2AW0003"),
                kind=OrgKind.ENTERPRISE,
                city_code="341300",
            ),
            office.clock.now(),
        )
        for username, role, org, city in (
            ("sam", Role.ORG_ADMIN, make_credit_code("91341300MA2AW0003"), None),
            ("suzhou", Role.CITY, None, "341300"),
        ):
            accounts.add_user(
                uow,
                ROOT,
                username=username,
                password=PASSWORD,
                role=role,
                now=office.clock.now(),
                org=org,
                city_code=city,
            )
        uow.commit()
    client = office.client
    token = office.login("sam")
    url = _apply(office, token, "10000000", ref="SZ-LLM-01")
    token = office.login("suzhou")
    client.post(f"{url}/review", data={"csrf_token": token, "action": "approve"})
    token = office.login("pia")
    page = client.get(url).text
    assert 'id="uplift"' in page and "¥2,400,000.00" in page and "¥2,000,000.00" in page  # with and without
    unconfirmed = client.post(
        f"{url}/review", data={"csrf_token": token, "action": "approve", "amount": "2400000"}
    )
    assert unconfirmed.status_code == 422 and "uplift is not confirmed" in unconfirmed.text
    confirmed = {"csrf_token": token, "action": "approve", "amount": "2400000", "uplift_confirmed": "true"}
    client.post(f"{url}/review", data=confirmed)
    assert _state(office, url) == "notice" and 'id="approved">¥2,400,000.00<' in client.get(url).text


def test_evidence_of_the_wrong_type_or_too_large_is_refused_with_a_clear_message(office: Office) -> None:
    client = office.client
    token = office.login("alice")
    url = _apply(office, token, "10000000", action="save")
    exe = client.post(
        f"{url}/evidence", data={"csrf_token": token}, files={"file": ("a.pdf", b"MZ\x90\x00binary")}
    )
    assert exe.status_code == 422 and 'id="evidence-error"' in exe.text and "evidence must be PDF" in exe.text
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)
    too_large = client.post(f"{url}/evidence", data={"csrf_token": token}, files={"file": ("big.pdf", big)})
    assert too_large.status_code == 422 and "at most 10 MiB" in too_large.text
    ok = client.post(
        f"{url}/evidence", data={"csrf_token": token}, files={"file": ("审计报告.pdf", b"%PDF-1.4\n%%EOF\n")}
    )
    assert ok.status_code == 200 and "审计报告.pdf" in ok.text  # followed back to the page
    link = re.findall(r'href="(/awards/evidence/\d+)"', ok.text)[0]
    assert client.get(link).content == b"%PDF-1.4\n%%EOF\n"
    office.login("wuhu")
    assert client.get(link).status_code == 404
    forged = client.post(
        f"{url}/evidence", data={"csrf_token": "nope"}, files={"file": ("b.pdf", b"%PDF-1.4")}
    )
    assert forged.status_code == 403


def test_a_case_by_case_amount_waits_for_a_second_distinct_approver(office: Office) -> None:
    client = office.client
    token = office.login("alice")
    url = _apply(office, token, "400000000")  # formula maximum: the 50,000,000 cap
    token = office.login("hefei")
    client.post(f"{url}/review", data={"csrf_token": token, "action": "approve"})
    token = office.login("pia")
    form = client.get(url).text
    assert 'id="case-by-case"' in form and 'id="uplift"' not in form  # Hefei is not 皖北
    case = {"csrf_token": token, "action": "approve", "amount": "80000000", "case_by_case": "true"}
    no_reason = client.post(f"{url}/review", data=case)
    assert no_reason.status_code == 422 and 'id="error-case_reason"' in no_reason.text
    case["reason"] = "重大原创项目，专班会议决定一事一议"
    client.post(f"{url}/review", data=case)
    page = client.get(url).text
    assert _state(office, url) == "province_review" and 'id="awaiting-second"' in page
    again = client.post(f"{url}/review", data=case)
    assert again.status_code == 409 and "second, different province user" in again.text
    token = office.login("pete")
    client.post(f"{url}/review", data=case | {"csrf_token": token})
    assert _state(office, url) == "notice"
    register = client.get("/awards/case-by-case").text
    assert "¥80,000,000.00" in register and "pia, pete" in register


def test_finance_funds_a_budget_pays_a_batch_and_the_province_exports_the_round(office: Office) -> None:
    client = office.client
    token = office.login("alice")
    url = _apply(office, token, "10000000")
    token = office.login("hefei")
    client.post(f"{url}/review", data={"csrf_token": token, "action": "approve"})
    token = office.login("pia")
    client.post(f"{url}/review", data={"csrf_token": token, "action": "approve"})
    office.clock.set(dt.datetime(2025, 6, 22, 2, tzinfo=UTC))
    token = office.login("fay")
    budgets = client.get("/awards/budgets").text
    assert "¥100,000,000.00" in budgets and "¥2,000,000.00" in budgets  # funded, committed
    dup = client.post(
        "/awards/budgets",
        data={
            "csrf_token": token,
            "program": "art5",
            "year": "2025",
            "amount": "5",
            "payer": "province",
            "reference": "CZ-2025-05",
        },
    )
    assert dup.status_code == 409 and "already recorded" in dup.text
    made = client.post(
        "/awards/batches",
        data={"csrf_token": token, "kind": "awards", "payer": "province"},
        follow_redirects=False,
    )
    batch = made.headers["location"]
    assert "通用大模型研发" in client.get(batch).text
    future = client.post(
        f"{batch}/pay", data={"csrf_token": token, "reference": "GK-1", "paid_on": "2030-01-01"}
    )
    assert future.status_code == 422 and "future" in future.text
    client.post(f"{batch}/pay", data={"csrf_token": token, "reference": "GK-1", "paid_on": "2025-06-22"})
    assert 'data-state="paid"' in client.get(batch).text
    assert _state(office, url) == "paid"
    office.login("pia")
    xlsx = client.get(f"/awards/calls/{office.call}/decisions.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert "attachment" in xlsx.headers["content-disposition"]
    office.login("alice")
    assert client.get(f"/awards/calls/{office.call}/decisions.xlsx").status_code == 403
    assert client.get("/awards/budgets").status_code == 403
    mine = client.get("/awards/payments").text
    assert "¥2,000,000.00" in mine and "2025-06-22" in mine


def test_a_city_records_its_payouts_with_evidence(office: Office) -> None:
    client = office.client
    token = office.login("hefei")
    data = {
        "csrf_token": token,
        "program": "art1",
        "kind": "operating",
        "project_ref": "HF-AICC",
        "project_name": "合肥智算中心",
        "recipient": "合肥智算运营",
        "amount": "6000000",
        "paid_on": "2025-05-30",
    }
    wrong = client.post("/awards/payouts", data=data, files={"file": ("x.pdf", b"not a pdf")})
    assert wrong.status_code == 422 and "evidence must be PDF" in wrong.text
    r = client.post("/awards/payouts", data=data, files={"file": ("拨付凭证.pdf", b"%PDF-1.4\n")})
    assert r.status_code == 200 and "合肥智算中心" in r.text and "拨付凭证.pdf" in r.text
    office.login("wuhu")
    assert "合肥智算中心" not in client.get("/awards/payouts").text
    office.login("alice")
    assert client.get("/awards/payouts").status_code == 403
    office.logout()
    assert client.get("/awards/payouts", follow_redirects=False).status_code == 303


def test_an_old_application_without_chinese_steps_reads_in_the_page_language(office: Office) -> None:
    """Decisions frozen before steps kept ``result_zh`` show their results in Chinese on Chinese pages
    (judged again at reading, nothing written) and in English on English ones."""
    from zhisuan.store.models.awards import ApplicationRow

    client = office.client
    token = office.login("alice")
    url = _apply(office, token, "10000000")
    app_id = int(url.rsplit("/", 1)[1])

    def steps(lang: str) -> str:
        return client.get(f"{url}?lang={lang}").text.split('id="decision"')[1].split("</table>")[0]

    as_frozen = {lang: steps(lang) for lang in ("zh", "en")}
    with office.platform.uow() as uow:
        row = uow.session.get(ApplicationRow, app_id)
        assert row is not None and row.decision
        frozen = json.loads(row.decision)
        differ = [s for s in frozen["steps"] if s["result_zh"] != s["result"]]
        assert differ  # the measure has steps whose Chinese differs from their English
        old = frozen | {"steps": [{k: v for k, v in s.items() if k != "result_zh"} for s in frozen["steps"]]}
        row.decision = json.dumps(old, ensure_ascii=False)
        uow.commit()
    assert steps("zh") == as_frozen["zh"] and steps("en") == as_frozen["en"]
    assert not any(html.escape(s["result"]) in as_frozen["zh"] for s in differ)
    with office.platform.uow() as uow:  # read, not rewritten
        row = uow.session.get(ApplicationRow, app_id)
        assert row is not None and "result_zh" not in str(row.decision)


def _sheet(office: Office, url: str) -> list[list[object]]:
    return sheet(office.client, url)


def _check_list(
    office: Office, url: str, name: str, key: str, headers: list[str], *, at_least: int = 2
) -> list[list[object]]:
    return check_list(office.client, url, name, key, headers, at_least=at_least)


def test_every_awards_list_sorts_filters_pages_and_exports_with_chinese_headers(office: Office) -> None:
    client = office.client
    token = office.login("alice")
    first = _apply(office, token, "10000000")
    second = _apply(office, token, "5000000", ref="HF-LLM-02")
    token = office.login("hefei")
    for url in (first, second):
        client.post(f"{url}/review", data={"csrf_token": token, "action": "approve"})
    token = office.login("pia")
    for url in (first, second):
        client.post(f"{url}/review", data={"csrf_token": token, "action": "approve"})
    made = client.post(
        "/awards/calls",
        data={"csrf_token": token, "program": "art5", "title": "第二批", "opens_on": "2025-06-01",
              "closes_on": "2025-12-31", "budget_year": "2025", "max_awards": ""},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303, made.text

    # calls (the status tabs narrow first), and the public notice with its objection form on each row
    rows = _check_list(office, "/awards/calls?status=all", "calls", "title", ["#", "措施", "名称"])
    assert "第二批" in [r[2] for r in rows]
    office.logout()
    rows = _check_list(office, "/awards/notice", "notice", "amount", ["#", "措施", "申报主体", "城市"])
    assert {r[3] for r in rows[1:]} == {"合肥市"} and rows[1][5] in {2000000, 1000000}  # names, numbers
    by_city = client.get("/awards/notice", params={"f_city": "340200"}).text
    assert _cells(by_city, "notice", "id") == []
    token = office.login("wendy")
    for url in (first, second):
        app_id = url.rsplit("/", 1)[1]
        client.post(
            f"/awards/notice/{app_id}/objection", data={"csrf_token": token, "reason": "研发投入存疑"}
        )
    assert client.get("/awards/notice").text.count('class="stack objection-form"') == 2

    # objections (the province resolves on the row), the case-by-case register
    token = office.login("pia")
    _check_list(office, "/awards/objections?state=all", "objections", "application_id", ["#", "申报"])
    assert client.get("/awards/objections").text.count('class="stack resolve-form"') == 2
    for oid in re.findall(r'data-objection="(\d+)"', client.get("/awards/objections").text):
        client.post(
            f"/awards/objections/{oid}",
            data={"csrf_token": token, "outcome": "dismissed", "note": "经核实无误"},
        )
    assert _cells(client.get("/awards/objections").text, "objections", "id") == []
    _check_list(office, "/awards/case-by-case", "register", "id", ["#", "措施"], at_least=0)

    # budgets (burn drawn as a bar), batches and a batch's lines, for finance
    office.clock.set(dt.datetime(2025, 7, 1, 2, tzinfo=UTC))
    token = office.login("fay")
    client.post(
        "/awards/budgets",
        data={"csrf_token": token, "program": "art5", "year": "2026", "amount": "5000000",
              "payer": "province", "reference": "CZ-2026-05"},
    )  # fmt: skip
    budgets = client.get("/awards/budgets").text
    assert 'data-key="burn"><div class="bar"' in budgets
    rows = _check_list(office, "/awards/budgets", "budgets", "year", ["措施", "出资方", "年度", "已安排"])
    assert {r[1] for r in rows[1:]} == {"省级"} and 100000000 in [r[3] for r in rows]
    assert _cells(client.get("/awards/budgets?f_year=2026").text, "budgets", "year") == ["2026"]
    batch = {"csrf_token": token, "kind": "awards", "payer": "province"}
    cancelled = client.post("/awards/batches", data=batch, follow_redirects=False).headers["location"]
    client.post(f"{cancelled}/cancel", data={"csrf_token": token, "reason": "重新编制"})
    draft = client.post("/awards/batches", data=batch, follow_redirects=False).headers["location"]
    rows = _check_list(office, "/awards/batches", "batches", "id", ["#", "类别", "出资方"])
    assert {r[4] for r in rows[1:]} == {"已取消", "草稿"}
    rows = _check_list(office, draft, "lines", "amount", ["申报", "措施", "收款方"])
    assert {r[2] for r in rows[1:]} == {"甲智能科技有限公司"}

    # a city's payouts, narrowed by measure
    token = office.login("hefei")
    for ref, program, kind in (("HF-AICC", "art1", "operating"), ("HF-DATA", "art4", "supplier_subsidy")):
        client.post(
            "/awards/payouts",
            data={"csrf_token": token, "program": program, "kind": kind, "project_ref": ref,
                  "project_name": ref, "recipient": "合肥智算运营", "amount": "600000",
                  "paid_on": "2025-05-30"},
            files={"file": ("拨付凭证.pdf", b"%PDF-1.4\n")},
        )  # fmt: skip
    rows = _check_list(office, "/awards/payouts", "payouts", "project_ref", ["#", "城市", "措施", "类别"])
    assert {r[1] for r in rows[1:]} == {"合肥市"}
    art1 = next(str(r[2]) for r in rows[1:] if str(r[2]).startswith("art1"))
    assert _cells(
        client.get("/awards/payouts", params={"f_program": art1}).text, "payouts", "project_ref"
    ) == ["HF-AICC"]
