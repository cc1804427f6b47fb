"""The awards workflow through the JSON API, on SQLite and PostgreSQL: apply, review, notice, pay.

Each test runs the real app around the test's rolled-back database; the ledger is verified after money
moves. The world: two organizations in Hefei (A, B) and one in Suzhou (皖北, S); city users of Hefei,
Suzhou and Wuhu; two province users; a finance user.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from zhisuan import accounts
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import Account

ROOT = Principal(None, "fixture", Role.ADMIN)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Awards:
    client: TestClient
    platform: Platform
    clock: ManualClock
    orgs: dict[str, int]
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def post(
        self, who: str, url: str, body: dict[str, Any] | None = None, status: int = 200
    ) -> dict[str, Any]:
        r = self.client.post(f"/api/v1{url}", json=body or {}, headers=self.h(who))
        assert r.status_code == status, r.text
        out: dict[str, Any] = r.json()
        return out

    def get(self, who: str | None, url: str, status: int = 200) -> dict[str, Any]:
        r = self.client.get(f"/api/v1{url}", headers=self.h(who) if who else {})
        assert r.status_code == status, r.text
        out: dict[str, Any] = r.json()
        return out

    def call(self, program: str, **extra: Any) -> int:
        body = {
            "program": program,
            "title": f"2025 {program}",
            "opens_on": "2025-06-01",
            "closes_on": "2025-07-31",
        }
        return int(self.post("pia", "/awards/calls", {**body, **extra}, 201)["id"])

    def fund(self, program: str, amount: str = "100000000", payer: str = "province", ref: str = "B1") -> None:
        self.post(
            "fay",
            "/budgets",
            {"program": program, "year": 2025, "amount": amount, "payer": payer, "reference": ref},
            201,
        )

    def apply(self, who: str, call: int, ref: str, facts: dict[str, Any], submit: bool = True) -> int:
        out = self.post(
            who,
            f"/awards/calls/{call}/applications",
            {"project_ref": ref, "project_name": f"项目 {ref}", "event_on": "2025-06-01", "facts": facts},
            201,
        )
        if submit:
            self.post(who, f"/applications/{out['id']}/submit")
        return int(out["id"])

    def ledger_ok(self) -> None:
        with self.platform.uow() as uow:
            assert ledger.verify(uow.session) == []


@pytest.fixture
def aw(platform: Platform, client: TestClient, clock: ManualClock) -> Awards:
    now = clock.now()
    with platform.uow() as uow:
        orgs = {}
        for key, name, body, city in (
            ("A", "甲智能科技有限公司", "91340100MA2E2E001", "340100"),
            ("B", "乙智能科技有限公司", "91340100MA2E2E002", "340100"),
            ("S", "宿州数据标注有限公司", "91341300MA2E2E003", "341300"),
        ):
            orgs[key] = accounts.create_org(
                uow,
                ROOT,
                accounts.OrgInput(
                    name=name, credit_code=make_credit_code(body), kind=OrgKind.ENTERPRISE, city_code=city
                ),
                now,
            ).id
        people: dict[str, tuple[Role, int | None, str | None]] = {
            "alice": (Role.ORG_ADMIN, orgs["A"], None),
            "bob": (Role.USER, orgs["B"], None),
            "sam": (Role.USER, orgs["S"], None),
            "hefei": (Role.CITY, None, "340100"),
            "suzhou": (Role.CITY, None, "341300"),
            "wuhu": (Role.CITY, None, "340200"),
            "pia": (Role.PROVINCE, None, None),
            "pete": (Role.PROVINCE, None, None),
            "fay": (Role.FINANCE, None, None),
        }
        tokens = {}
        for username, (role, org, city) in people.items():
            accounts.add_user(
                uow,
                ROOT,
                username=username,
                password="password-1",
                role=role,
                org=org,
                city_code=city,
                now=now,
            )
            tokens[username] = accounts.create_token(uow, ROOT, username, "test", now)
        uow.commit()
    return Awards(client, platform, clock, orgs, tokens)


ART5 = {"rd_cost": "10000000", "selection_mode": "open_challenge", "in_provincial_plan": True}


def _art5_facts(aw: Awards) -> dict[str, Any]:
    """art5's facts, with the research topic when the pack in force takes it."""
    form = aw.get("alice", f"/awards/calls/{aw.call('art5')}")["form"]
    names = {f["name"] for f in form}
    return {**ART5, **({"topic": "industry_llm"} if "topic" in names else {})}


def test_art5_goes_through_city_and_province_review_notice_and_payment(aw: Awards) -> None:
    call = aw.call("art5")
    aw.fund("art5")
    facts = {**ART5}
    if "topic" in {f["name"] for f in aw.get("alice", f"/awards/calls/{call}")["form"]}:
        facts["topic"] = "industry_llm"
    app = aw.apply("alice", call, "HF-RD-01", facts)
    got = aw.get("alice", f"/applications/{app}")
    assert got["state"] == "city_review" and got["maximum"] == "2000000.00"
    assert (
        got["decision"]["facts"]["city"] == "340100" and got["decision"]["facts"]["already_awarded"] == "0.00"
    )
    assert got["decision"]["steps"] and got["lead_unit"]
    # the queue of Hefei's city user holds it; Wuhu's does not see it at all
    assert [a["id"] for a in aw.get("hefei", "/applications?queue=true")["applications"]] == [app]
    aw.get("wuhu", f"/applications/{app}", status=404)
    assert aw.get("wuhu", "/applications")["applications"] == []
    aw.get("bob", f"/applications/{app}", status=404)
    # the province cannot act before the city has
    aw.post("pia", f"/applications/{app}/review", {"action": "approve", "amount": "1000000"}, 403)
    aw.post("hefei", f"/applications/{app}/review", {"action": "approve"})
    # above the maximum is refused, at the maximum is approved
    r = aw.post("pia", f"/applications/{app}/review", {"action": "approve", "amount": "2000000.01"}, 422)
    assert r["error"]["field"] == "amount" and "maximum" in r["error"]["message"]
    out = aw.post("pia", f"/applications/{app}/review", {"action": "approve", "amount": "1800000"})
    assert out["state"] == "notice" and out["approved"] == "1800000.00"
    notices = aw.get(None, "/awards/notices")["notices"]
    assert [n["id"] for n in notices] == [app] and "facts" not in notices[0]
    # finance cannot batch an award still in notice
    aw.post("fay", "/payment-batches", {"kind": "awards"}, 409)
    aw.clock.advance(6 * 86400)
    assert aw.get("alice", f"/applications/{app}")["state"] == "final"
    batch = aw.post("fay", "/payment-batches", {"kind": "awards"}, 201)
    assert batch["total"] == "1800000.00" and batch["items"] == 1
    paid = aw.post(
        "fay", f"/payment-batches/{batch['id']}/pay", {"reference": "GK-2025-001", "paid_on": "2025-06-21"}
    )
    assert paid["state"] == "paid"
    assert aw.get("alice", f"/applications/{app}")["state"] == "paid"
    aw.post(
        "fay", f"/payment-batches/{batch['id']}/pay", {"reference": "again", "paid_on": "2025-06-21"}, 409
    )
    budgets = {b["program"]: b for b in aw.get("fay", "/budgets")["budgets"]}
    assert budgets["art5"]["paid"] == "1800000.00" and budgets["art5"]["left"] == "98200000.00"
    with aw.platform.uow() as uow:
        assert ledger.balance(uow.session, Account.award_paid(f"org:{aw.orgs['A']}")) == 180_000_000
        assert ledger.balance(uow.session, Account.award_payable(f"org:{aw.orgs['A']}")) == 0
    aw.ledger_ok()
    assert [a["id"] for a in aw.get(None, "/awards/final?program=art5")["awards"]] == [app]
    history = [h["action"] for h in aw.get("alice", f"/applications/{app}")["history"]]
    assert history == ["create", "submit", "recommend", "approve", "paid"]


def test_art1_city_applies_and_the_match_comes_from_recorded_payouts(aw: Awards) -> None:
    call = aw.call("art1")
    aw.fund("art1")
    facts = {"new_capacity_p": "520", "single_site": True, "completion_date": "2024-11-30"}
    # no recorded payouts: the city is told to record them first
    app = aw.apply("hefei", call, "HF-ZS-01", facts, submit=False)
    r = aw.post("hefei", f"/applications/{app}/submit", status=409)
    assert r["error"]["field"] == "city_actual_payout"
    # the city cannot type its payout
    r = aw.client.patch(
        f"/api/v1/applications/{app}", json={"facts": {"city_actual_payout": "9"}}, headers=aw.h("hefei")
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "city_actual_payout"
    for amount, day in (("20000000", "2025-03-31"), ("10000000", "2025-05-31")):
        aw.post(
            "hefei",
            "/city-payouts",
            {
                "program": "art1",
                "kind": "loan_interest",
                "project_ref": "hf-zs-01",
                "project_name": "合肥智算中心",
                "recipient": "合肥智算公司",
                "amount": amount,
                "paid_on": day,
            },
            201,
        )
    aw.post(
        "suzhou",
        "/city-payouts",
        {
            "program": "art1",
            "kind": "operating",
            "project_ref": "HF-ZS-01",
            "project_name": "x",
            "recipient": "y",
            "amount": "5",
            "paid_on": "2025-05-01",
        },
        201,
    )
    aw.post(
        "alice",
        "/city-payouts",
        {
            "program": "art1",
            "kind": "operating",
            "project_ref": "X",
            "project_name": "x",
            "recipient": "y",
            "amount": "5",
            "paid_on": "2025-05-01",
        },
        403,
    )
    out = aw.post("hefei", f"/applications/{app}/submit")
    assert out["state"] == "province_review"  # a city's application goes straight to the province
    assert out["decision"]["facts"]["city_actual_payout"] == "30000000.00"  # Suzhou's payout not counted
    assert out["decision"]["payee"] == "city" and out["maximum"] == "10000000.00"
    done = aw.post("pia", f"/applications/{app}/review", {"action": "approve"})
    assert done["approved"] == "10000000.00" and done["payee"] == "city:340100"
    aw.clock.advance(6 * 86400)
    batch = aw.post("fay", "/payment-batches", {"kind": "awards"}, 201)
    aw.post("fay", f"/payment-batches/{batch['id']}/pay", {"reference": "GK-1", "paid_on": "2025-06-21"})
    with aw.platform.uow() as uow:
        assert ledger.balance(uow.session, Account.award_paid("city:340100")) == 1_000_000_000
    aw.ledger_ok()
    assert [p["amount"] for p in aw.get("hefei", "/city-payouts")["payouts"]] == [
        "10000000.00",
        "20000000.00",
    ]
    assert len(aw.get("pia", "/city-payouts")["payouts"]) == 3


def test_case_by_case_needs_a_reason_and_two_distinct_province_approvers(aw: Awards) -> None:
    call = aw.call("art5")
    aw.fund("art5", "200000000")
    app = aw.apply("alice", call, "HF-BIG-01", _art5_facts(aw))
    aw.post("hefei", f"/applications/{app}/review", {"action": "approve"})
    body = {"action": "approve", "amount": "60000000", "case_by_case": True}
    r = aw.post("pia", f"/applications/{app}/review", body, 422)
    assert r["error"]["field"] == "case_reason"
    body["reason"] = "省重大项目，经专班会议研究一事一议"
    first = aw.post("pia", f"/applications/{app}/review", body)
    assert first["state"] == "province_review"  # awaiting the second approver
    r = aw.post("pia", f"/applications/{app}/review", body, 409)
    assert "second" in r["error"]["message"]
    aw.post("pete", f"/applications/{app}/review", {**body, "amount": "50000000"}, 409)  # not the same amount
    done = aw.post("pete", f"/applications/{app}/review", body)
    assert done["state"] == "notice" and done["approved"] == "60000000.00" and done["case_by_case"] is True
    register = aw.get("pia", "/awards/case-register")["cases"]
    assert register[0]["approvers"] == ["pia", "pete"] and register[0]["reason"] == body["reason"]
    assert aw.get(None, "/awards/notices")["notices"][0]["case_by_case"] is True
    aw.get("alice", "/awards/case-register", status=403)


def test_art14_standard_award_and_one_award_per_standard(aw: Awards) -> None:
    call = aw.call("art14")
    aw.fund("art14")
    form = {f["name"] for f in aw.get("bob", f"/awards/calls/{call}")["form"]}
    facts: dict[str, Any] = {"standard_level": "national", "leading_drafter": True}
    if "general_ai_enterprise" in form:
        facts["general_ai_enterprise"] = True
    one = aw.apply("bob", call, "GB/T 45001-2025", facts)
    two = aw.apply("alice", call, "GB/T 45001-2025", facts)
    for app in (one, two):
        aw.post("hefei", f"/applications/{app}/review", {"action": "approve"})
    seen = aw.get("pia", f"/applications/{two}")
    assert [(d["kind"], d["application_id"]) for d in seen["duplicates"]] == [("same_program", one)]
    assert "duplicates" not in aw.get("alice", f"/applications/{two}")  # applicants do not see others' claims
    assert aw.post("pia", f"/applications/{one}/review", {"action": "approve"})["approved"] == "500000.00"
    r = aw.post("pia", f"/applications/{two}/review", {"action": "approve"}, 409)
    assert r["error"]["field"] == "project_ref"


def test_return_for_correction_then_resubmit_keeps_the_history(aw: Awards) -> None:
    call = aw.call("art5")
    app = aw.apply("alice", call, "HF-RD-02", _art5_facts(aw))
    aw.post("hefei", f"/applications/{app}/review", {"action": "return"}, 422)  # a reason is required
    aw.post("hefei", f"/applications/{app}/review", {"action": "return", "reason": "研发投入审计报告缺失"})
    assert aw.get("alice", f"/applications/{app}")["state"] == "returned"
    r = aw.client.patch(
        f"/api/v1/applications/{app}", json={"facts": {"rd_cost": "8000000"}}, headers=aw.h("alice")
    )
    assert r.status_code == 200
    up = aw.client.post(
        f"/api/v1/applications/{app}/evidence",
        files={"file": ("审计报告.pdf", PDF, "application/pdf")},
        headers=aw.h("alice"),
    )
    assert up.status_code == 201 and up.json()["content_type"] == "application/pdf"
    out = aw.post("alice", f"/applications/{app}/submit")
    assert out["state"] == "city_review" and out["round"] == 2 and out["maximum"] == "1600000.00"
    actions = [h["action"] for h in out["history"]]
    assert actions == ["create", "submit", "return", "edit", "evidence", "resubmit"]
    edit = out["history"][3]["detail"]
    assert edit["before"]["facts"]["rd_cost"] == "10000000" and edit["after"]["facts"]["rd_cost"] == "8000000"
    aw.post("hefei", f"/applications/{app}/review", {"action": "reject", "reason": "不符合条件"})
    assert aw.get("alice", f"/applications/{app}")["state"] == "rejected"
    aw.post("alice", f"/applications/{app}/submit", status=409)
    # the evidence file is readable by the applicant and its city, not by another organization
    ev = out["evidence"][0]["id"]
    assert aw.client.get(f"/api/v1/evidence/{ev}", headers=aw.h("hefei")).content == PDF
    assert aw.client.get(f"/api/v1/evidence/{ev}", headers=aw.h("bob")).status_code == 404


def test_evidence_of_the_wrong_type_or_too_large_is_refused_with_a_clear_message(aw: Awards) -> None:
    app = aw.apply("alice", aw.call("art5"), "HF-RD-03", _art5_facts(aw), submit=False)

    def upload(name: str, data: bytes) -> Any:
        return aw.client.post(
            f"/api/v1/applications/{app}/evidence", files={"file": (name, data)}, headers=aw.h("alice")
        )

    r = upload("setup.exe", b"MZ\x90\x00" + b"\x00" * 100)
    assert r.status_code == 422 and "PDF" in r.json()["error"]["message"]
    r = upload("report.pdf", b"MZ\x90\x00")  # named PDF, is not
    assert r.status_code == 422
    r = upload("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024))
    assert r.status_code == 422 and "MiB" in r.json()["error"]["message"]
    assert upload("ok.png", b"\x89PNG\r\n\x1a\n" + b"0" * 20).status_code == 201
    assert len(aw.get("alice", f"/applications/{app}")["evidence"]) == 1


def test_budget_exhaustion_refuses_the_approval_and_writes_nothing(aw: Awards) -> None:
    call = aw.call("art5")
    aw.fund("art5", "1000000")
    app = aw.apply("alice", call, "HF-RD-04", _art5_facts(aw))
    aw.post("hefei", f"/applications/{app}/review", {"action": "approve"})
    r = aw.post("pia", f"/applications/{app}/review", {"action": "approve", "amount": "1500000"}, 409)
    assert "budget" in r["error"]["message"] and "1000000.00" in r["error"]["message"]
    got = aw.get("pia", f"/applications/{app}")
    assert got["state"] == "province_review" and got["approvals"][-1]["stage"] == "city"
    assert (
        aw.post("pia", f"/applications/{app}/review", {"action": "approve", "amount": "1000000"})["state"]
        == "notice"
    )
    aw.ledger_ok()


def test_duplicate_funding_across_measures_is_shown_with_both_records(aw: Awards) -> None:
    a5 = aw.apply("alice", aw.call("art5"), "HF-DUP-01", _art5_facts(aw))
    a6 = aw.apply(
        "alice",
        aw.call("art6", opens_on="2025-06-01"),
        "HF-DUP-01",
        {"total_investment": "3000000", "benchmark_selected": True},
    )
    flags = aw.get("hefei", f"/applications/{a6}")["duplicates"]
    assert [(f["kind"], f["application_id"], f["program"]) for f in flags] == [("other_program", a5, "art5")]
    assert aw.get("hefei", f"/applications/{a5}")["duplicates"][0]["application_id"] == a6


def test_a_benchmark_round_grants_at_most_its_limit(aw: Awards) -> None:
    call = aw.call("art6", max_awards=2)
    assert aw.get(None, f"/awards/calls/{call}")["max_awards"] == 2
    assert aw.get(None, f"/awards/calls/{aw.call('art6', max_awards=50)}")["max_awards"] == 10
    aw.fund("art6")
    apps = [
        aw.apply("alice", call, f"SC-{i}", {"total_investment": "1000000", "benchmark_selected": True})
        for i in range(3)
    ]
    for app in apps:
        aw.post("hefei", f"/applications/{app}/review", {"action": "approve"})
    for app in apps[:2]:
        aw.post("pia", f"/applications/{app}/review", {"action": "approve"})
    r = aw.post("pia", f"/applications/{apps[2]}/review", {"action": "approve"}, 409)
    assert "2 awards" in r["error"]["message"]


def test_an_objection_holds_the_award_until_resolved(aw: Awards) -> None:
    call = aw.call("art5")
    aw.fund("art5")
    apps = []
    for ref in ("HF-OB-1", "HF-OB-2"):
        app = aw.apply("alice", call, ref, _art5_facts(aw))
        aw.post("hefei", f"/applications/{app}/review", {"action": "approve"})
        aw.post("pia", f"/applications/{app}/review", {"action": "approve"})
        apps.append(app)
    aw.client.post(f"/api/v1/applications/{apps[0]}/objections", json={"reason": "重复申报"})  # anonymous
    assert aw.get(None, "/awards/notices")["notices"][0]["state"] == "notice"
    o1 = aw.post("bob", f"/applications/{apps[0]}/objections", {"reason": "该项目已获其他财政资金支持"}, 201)
    o2 = aw.post("bob", f"/applications/{apps[1]}/objections", {"reason": "研发投入金额存疑，请核实"}, 201)
    aw.post("bob", f"/applications/{apps[0]}/objections", {"reason": "再次提出异议"}, 409)
    states = {n["id"]: n["state"] for n in aw.get(None, "/awards/notices")["notices"]}
    assert states == {apps[0]: "held", apps[1]: "held"}
    aw.clock.advance(10 * 86400)  # the notice period is over, but the objections still hold
    aw.post("fay", "/payment-batches", {"kind": "awards"}, 409)
    aw.post("bob", f"/objections/{o1['id']}/resolve", {"outcome": "dismissed", "note": "经核实无重复"}, 403)
    aw.post("pia", f"/objections/{o1['id']}/resolve", {"outcome": "dismissed", "note": "经核实无重复"})
    aw.post("pia", f"/objections/{o2['id']}/resolve", {"outcome": "upheld", "note": "研发投入虚报，撤销"})
    assert aw.get("alice", f"/applications/{apps[0]}")["state"] == "final"
    assert aw.get("alice", f"/applications/{apps[1]}")["state"] == "withdrawn"
    budgets = {b["program"]: b for b in aw.get("fay", "/budgets")["budgets"]}
    assert budgets["art5"]["committed"] == "2000000.00" and budgets["art5"]["left"] == "98000000.00"
    batch = aw.post("fay", "/payment-batches", {"kind": "awards"}, 201)
    assert batch["items"] == 1
    aw.ledger_ok()
    aw.post("bob", f"/applications/{apps[0]}/objections", {"reason": "公示期已过"}, 409)


def test_voucher_payout_batches_pay_every_granted_voucher_once(aw: Awards, tmp_path: Any) -> None:
    from tests.factories.metering import center, row, usage_file
    from zhisuan import metering
    from zhisuan.core.clock import Month
    from zhisuan.ledger.model import budget_posting

    june = Month(2025, 6)
    clock = aw.platform.clock
    with aw.platform.uow() as uow:
        from tests.factories.metering import org

        op = org(uow, "算力运营方")
        center(uow, 1, op, 10, 1000)
        ledger.post(uow.session, [budget_posting("art2", 2025, 10**8, dt.date(2025, 1, 2), "init")], clock)
        rows = [
            row("a1", aw.orgs["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T18:00:00+08:00"),
            row("b1", aw.orgs["B"], "2025-06-11T08:00:00+08:00", "2025-06-11T13:00:00+08:00"),
        ]
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", rows), aw.platform.packs.current())
        metering.draft_bills(uow, june, clock)
        metering.issue_bills(uow, clock, month=june)
        metering.pay_all(uow, june, "BANK-1", dt.date(2025, 7, 1), clock)
        metering.settle_vouchers(uow, june, clock, aw.platform.packs.current())
        uow.commit()
    owed = {v["organization"]: v for v in aw.get("fay", "/payments/vouchers")["vouchers"]}
    assert owed["甲智能科技有限公司"]["paid"] == "0.00" and owed["甲智能科技有限公司"]["granted"] != "0.00"
    batch = aw.post("fay", "/payment-batches", {"kind": "vouchers", "month": "2025-06"}, 201)
    assert batch["items"] == 2
    lines = aw.get("fay", f"/payment-batches/{batch['id']}")["lines"]
    assert {ln["payee_name"] for ln in lines} == {"甲智能科技有限公司", "乙智能科技有限公司"}
    aw.post("fay", "/payment-batches", {"kind": "vouchers", "month": "2025-06"}, 409)  # nothing left to batch
    aw.post(
        "fay", f"/payment-batches/{batch['id']}/pay", {"reference": "VP-2025-06", "paid_on": "2025-06-15"}
    )
    mine = aw.get("alice", "/payments/vouchers")["vouchers"]
    assert len(mine) == 1 and mine[0]["paid"] == mine[0]["granted"] and mine[0]["owed"] == "0.00"
    with aw.platform.uow() as uow:
        assert ledger.balance(uow.session, Account.subsidy_payable(aw.orgs["A"])) == 0
        assert ledger.balance(uow.session, Account.subsidy_disbursed(aw.orgs["A"])) > 0
    aw.ledger_ok()
    aw.post("alice", "/payment-batches", {"kind": "vouchers"}, 403)


def test_art8_match_paid_to_the_city_and_its_use_reported(aw: Awards) -> None:
    call = aw.call("art8")
    aw.fund("art8")
    aw.post(
        "suzhou",
        "/city-payouts",
        {
            "program": "art8",
            "kind": "project",
            "project_ref": "SZ-KEY-1",
            "project_name": "重点企业落地",
            "recipient": "某大模型公司",
            "amount": "20000000",
            "paid_on": "2025-05-20",
        },
        201,
    )
    form = {f["name"] for f in aw.get("suzhou", f"/awards/calls/{call}")["form"]}
    facts: dict[str, Any] = {"key_technology_project": True}
    for name, value in (("enterprise_category", "general_llm"),):
        if name in form:
            facts[name] = value
    app = aw.apply("suzhou", call, "SZ-KEY-1", facts)
    got = aw.get("suzhou", f"/applications/{app}")
    # 30% of 20,000,000 = 6,000,000; Suzhou is in 皖北: ×1.2 = 7,200,000 once a reviewer confirms it
    assert got["maximum"] == "7200000.00" and got["maximum_without_uplift"] == "6000000.00"
    r = aw.post("pia", f"/applications/{app}/review", {"action": "approve", "amount": "7200000"}, 422)
    assert "uplift" in r["error"]["message"]
    aw.post(
        "pia",
        f"/applications/{app}/review",
        {"action": "approve", "amount": "7200000", "uplift_confirmed": True},
    )
    aw.clock.advance(6 * 86400)
    batch = aw.post("fay", "/payment-batches", {"kind": "awards"}, 201)
    aw.post("fay", f"/payment-batches/{batch['id']}/pay", {"reference": "GK-8", "paid_on": "2025-06-21"})
    use = {"used_for": "compute_buildout", "amount": "5000000", "description": "宿州智算中心二期"}
    aw.post("hefei", f"/applications/{app}/match-uses", use, 404)
    aw.post("suzhou", f"/applications/{app}/match-uses", use, 201)
    r = aw.post("suzhou", f"/applications/{app}/match-uses", {**use, "amount": "2200000.01"}, 422)
    assert r["error"]["field"] == "amount"
    assert aw.get("suzhou", f"/applications/{app}/match-uses")["total"] == "5000000.00"


def test_the_round_exports_to_excel_with_chinese_headers(aw: Awards) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    call = aw.call("art5")
    aw.apply("alice", call, "HF-X-1", _art5_facts(aw))
    r = aw.client.get(f"/api/v1/awards/calls/{call}/decisions.xlsx", headers=aw.h("pia"))
    assert r.status_code == 200
    ws = load_workbook(BytesIO(r.content)).active
    assert ws.cell(2, 1).value == "申请编号" and ws.cell(3, 3).value == "甲智能科技有限公司"
    assert ws.cell(3, 11).value == "市级审核"
    assert (
        aw.client.get(f"/api/v1/awards/calls/{call}/decisions.xlsx", headers=aw.h("alice")).status_code == 403
    )


def test_applications_list_names_program_and_state_for_each_caller(aw: Awards) -> None:
    call5 = aw.call("art5")
    a = aw.apply("alice", call5, "L-1", _art5_facts(aw))
    d = aw.apply("bob", call5, "L-2", _art5_facts(aw), submit=False)
    assert [
        (x["id"], x["program"], x["state"]) for x in aw.get("alice", "/applications")["applications"]
    ] == [(a, "art5", "city_review")]
    assert [x["id"] for x in aw.get("bob", "/applications")["applications"]] == [d]
    assert [x["id"] for x in aw.get("hefei", "/applications")["applications"]] == [a]  # no one else's drafts
    assert aw.get("pia", "/applications?state=city_review")["total"] == 1
    assert aw.client.get("/api/v1/applications").status_code == 401
    aw.get("pia", "/applications?state=nonsense", status=422)


def test_evaluate_answers_a_case_by_case_amount_only_as_a_labelled_bounded_what_if(aw: Awards) -> None:
    case = {
        "program": "art5",
        "on": "2024-06-30",
        "facts": {**ART5, "city": "340100", "case_by_case_amount": "999999999"},
    }
    form_names = {f["name"] for f in aw.get("alice", f"/awards/calls/{aw.call('art5')}")["form"]}
    if "topic" in form_names:
        case["facts"]["topic"] = "general_llm"  # type: ignore[index]
    r = aw.client.post("/api/v1/policy/evaluate", json=case)
    assert (
        r.status_code == 200 and r.json()["what_if"] is True and "two province approvers" in r.json()["note"]
    )
    case["facts"]["case_by_case_amount"] = "1E+30"  # type: ignore[index]
    r = aw.client.post("/api/v1/policy/evaluate", json=case)
    assert r.status_code in (400, 422) and r.json()["error"]["field"] == "case_by_case_amount"
    r = aw.client.post("/api/v1/policy/evaluate", json={"cases": [case]})
    assert "error" in r.json()["results"][0]
    # nothing was recorded: an evaluation is not an application
    assert aw.get("pia", "/applications")["total"] == 0
