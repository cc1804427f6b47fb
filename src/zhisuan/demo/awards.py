"""The demo's awards step: calls, applications in every state, the public notice, budgets and payment.

Everything goes through the awards services as the demo's people: ``province`` opens the calls,
``finance`` funds the budgets and pays, the cities review their applicants and record their payouts,
the organizations apply. Each step runs on a :class:`ManualClock` some days before the platform's
"now", so that the notice periods (five days) have run out for some awards and not for others: seen
from now, the demo holds drafts, applications in city and province review, a returned one corrected
and approved, a rejected one, awards in notice, one held by an objection, final awards and paid ones.

Calls of the 2023 measures stay open for a year from the last day their article is in force (events
inside the policy's validity are claimed later, POLICY position 13); art. 6, replaced by 2.0 art. 2 on
2025-08-11, is shown as its closed benchmark round of 2025, decided and paid.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from zhisuan.accounts.services import user_principal
from zhisuan.awards import applications, notice, payments, payouts, reports, review, views
from zhisuan.awards import calls as award_calls
from zhisuan.awards.programs import spec, split
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal
from zhisuan.core.clock import ManualClock, day_start, shanghai_date
from zhisuan.core.errors import ConflictError
from zhisuan.core.money import Money
from zhisuan.demo.organizations import DEMO_PASSWORD
from zhisuan.ledger import services as ledger
from zhisuan.policy import PackSet

#: the programs the demo opens calls for (art. 6 as a closed round; see the module's note)
OPEN_CALLS = ("art1", "art5", "art8", "art14", "anhui-2025/art1")
BUDGETS: Mapping[str, int] = {  # yuan per program for the demo's budget year
    "art1": 30_000_000,
    "art5": 200_000_000,
    "art8": 30_000_000,
    "art14": 5_000_000,
    "anhui-2025/art1": 50_000_000,
    "art6": 5_000_000,
}
#: a small valid PDF: the demo's evidence files
EVIDENCE = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


class Demo:
    """The step's state: the platform, its "now", and the demo people as principals."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.now = platform.clock.now()
        self.today = shanghai_date(self.now)
        self.packs: PackSet = platform.packs.current()
        self.root = platform.settings.data_dir
        self._who: dict[str, Principal] = {}
        #: the art. 8 match the city reports on once it is paid
        self.art8_match: int | None = None

    def who(self, username: str) -> Principal:
        if username not in self._who:
            with self.platform.uow(read_only=True) as uow:  # read inside the steps' writers
                self._who[username] = user_principal(uow, username)
        return self._who[username]

    def ago(self, days: int, hour: int = 10) -> ManualClock:
        """A clock ``days`` Shanghai days before today at ``hour``:00, never later than now."""
        at = day_start(self.today - dt.timedelta(days=days)) + dt.timedelta(hours=hour)
        return ManualClock(min(at, self.now))

    def apply(
        self,
        clock: ManualClock,
        user: str,
        call_id: int,
        ref: str,
        name: str,
        event_on: dt.date,
        facts: Mapping[str, object],
        *,
        submit: bool = True,
        funding: list[dict[str, object]] | None = None,
    ) -> int:
        """A draft with one evidence file, submitted unless told otherwise; its id."""
        who = self.who(user)
        data: dict[str, Any] = {
            "project_ref": ref,
            "project_name": name,
            "event_on": event_on.isoformat(),
            "facts": dict(facts),
            "other_funding": funding or [],
        }
        with self.platform.uow() as uow:
            app = applications.create_application(uow, who, self.packs, clock, call_id, data)
            app_id = int(str(app["id"]))
            applications.add_evidence(uow, who, clock, self.root, app_id, EVIDENCE, f"{ref}-材料.pdf")
            if submit:
                applications.submit(uow, who, self.packs, clock, app_id)
            uow.commit()
        return app_id

    def review(self, clock: ManualClock, user: str, app_id: int, **data: object) -> dict[str, object]:
        with self.platform.uow() as uow:
            out = review.review(uow, self.who(user), self.packs, clock, app_id, data)
            uow.commit()
        return out


def _window(packs: PackSet, program: str, today: dt.date) -> tuple[dt.date, dt.date, dt.date] | None:
    """(opens, closes, event day) of a call open today, or None when no call of ``program`` can be.

    The call opens 45 days ago or on the article's last day in force, whichever is earlier, and runs a
    year; the qualifying events lie 60 days ago or on that last day.
    """
    art, pack = split(program)
    versions = [v for v in packs.versions(art) if pack is None or v.pack_id == pack]
    if pack is None:
        versions = [v for v in versions if packs.resolve(art, v.effective_from) == v]
    if not versions:
        return None
    last = versions[-1]
    end = packs.in_force_until(last) or today
    opens = min(today - dt.timedelta(days=45), end)
    closes = opens + dt.timedelta(days=365)
    event = max(last.effective_from, min(today - dt.timedelta(days=60), end))
    if closes < today + dt.timedelta(days=1) or event > today - dt.timedelta(days=41):
        return None
    return opens, closes, event


def administer_awards(platform: Platform) -> list[str]:
    """Calls, applications through review and notice, budgets, a paid batch of awards and of vouchers."""
    d = Demo(platform)
    lines: list[str] = []
    calls: dict[str, int] = {}
    events: dict[str, dt.date] = {}
    year = d.today.year
    with platform.uow() as uow:
        for program in OPEN_CALLS:
            window = _window(d.packs, program, d.today)
            if window is None:
                lines.append(f"no call of {program} can be open on {d.today}: its article ended too long ago")
                continue
            opens, closes, events[program] = window
            title = f"{year}年度{spec(program).name_zh}申报"
            out = award_calls.create_call(
                uow,
                d.who("province"),
                d.packs,
                d.ago(46),
                program=program,
                title=title,
                opens_on=opens,
                closes_on=closes,
                budget_year=year,
            )
            calls[program] = int(str(out["id"]))
        uow.commit()
    with platform.uow() as uow:
        for program in calls:
            payments.fund_budget(
                uow,
                d.who("finance"),
                d.ago(45),
                program=program,
                year=year,
                amount=str(BUDGETS[program]),
                reference=f"DEMO-{program.replace('/', '-')}-{year}",
            )
        uow.commit()
    if {"art1", "art5", "art8", "art14", "anhui-2025/art1"} <= set(calls):
        lines += _scenarios(d, calls, events)
    lines += _art6_round(d)
    lines += _payment(d)
    lines += _figures(d)
    return lines


def _scenarios(d: Demo, calls: Mapping[str, int], events: Mapping[str, dt.date]) -> list[str]:
    """Applications in every state across the measures and cities (see the module's note)."""
    ev23, ev25 = events["art1"], events["anhui-2025/art1"]
    lines: list[str] = []
    # the cities' recorded payouts: the base of the art. 1 and art. 8 matches (POLICY position 8)
    payout_day = min(ev23, d.today - dt.timedelta(days=61))
    with d.platform.uow() as uow:
        for user, program, kind, ref, name, recipient, amount, days in (
            ("hefei", "art1", "loan_interest", "HF-AICC-2024", "合肥先进智算中心（二期）", "合肥智算运营有限公司", "9000000", 200),  # noqa: E501
            ("hefei", "art1", "operating", "HF-AICC-2024", "合肥先进智算中心（二期）", "合肥智算运营有限公司", "6000000", 0),  # noqa: E501
            ("suzhou", "art8", "project", "SZ-KEYTECH-01", "宿州多模态大模型研发基地", "宿州云图数据标注有限公司", "20000000", 0),  # noqa: E501
        ):  # fmt: skip
            payouts.record_payout(
                uow,
                d.who(user),
                d.ago(44),
                d.root,
                {
                    "program": program,
                    "kind": kind,
                    "project_ref": ref,
                    "project_name": name,
                    "recipient": recipient,
                    "amount": amount,
                    "paid_on": (payout_day - dt.timedelta(days=days)).isoformat(),
                },
                (EVIDENCE, f"{ref}-{kind}-拨付凭证.pdf"),
            )
        uow.commit()
    art5 = {"selection_mode": "open_challenge", "topic": "general_llm", "in_provincial_plan": True}
    # paid: the matches, a case-by-case grant with two approvers, a standard with a dismissed objection
    hefei_match = d.apply(
        d.ago(40),
        "hefei",
        calls["art1"],
        "HF-AICC-2024",
        "合肥先进智算中心（二期）",
        ev23,
        {"new_capacity_p": "600", "single_site": True, "completion_date": "2024-11-28"},
    )
    suzhou_match = d.apply(
        d.ago(40),
        "suzhou",
        calls["art8"],
        "SZ-KEYTECH-01",
        "宿州多模态大模型研发基地",
        ev23,
        {"key_technology_project": True},
    )
    case = d.apply(
        d.ago(40),
        "ustc",
        calls["art5"],
        "USTC-LLM-2025",
        "通用大模型基础理论与训练系统",
        ev23,
        {"rd_cost": "400000000", **art5},
        funding=[{"source": "国家重点研发计划", "amount": "20000000", "year": ev23.year}],
    )
    standard = d.apply(
        d.ago(40),
        "nongzhi",
        calls["art14"],
        "GB-AGRI-AI-01",
        "农业大模型应用技术要求（国家标准）",
        ev23,
        {"standard_level": "national", "leading_drafter": True, "general_ai_enterprise": True},
    )
    d.review(d.ago(38), "hefei", case, action="approve", reason="列入省科技计划，建议支持")
    d.review(d.ago(38), "fuyang", standard, action="approve")
    d.review(d.ago(30), "province", hefei_match, action="approve")
    d.review(d.ago(30), "province", suzhou_match, action="approve", uplift_confirmed=True)
    reason = "重大原创性通用大模型项目，经专班会议研究，一事一议按 8000 万元支持"
    d.review(
        d.ago(35), "province", case, action="approve", amount="80000000", case_by_case=True, reason=reason
    )
    d.review(
        d.ago(30), "province2", case, action="approve", amount="80000000", case_by_case=True, reason=reason
    )
    d.review(d.ago(30), "province", standard, action="approve", uplift_confirmed=True)
    with d.platform.uow() as uow:
        obj = notice.lodge_objection(
            uow, d.who("xinghe"), d.ago(28), standard, "该标准是否为本单位牵头起草存疑"
        )
        notice.resolve_objection(
            uow,
            d.who("province"),
            d.ago(27),
            int(str(obj["id"])),
            "dismissed",
            "经核实，标准公告列其为第一起草单位",
        )
        uow.commit()
    # final, not yet paid: 2.0 art. 1 science base (its notice ended five days ago)
    base = d.apply(
        d.ago(20),
        "nongzhi",
        calls["anhui-2025/art1"],
        "FY-AGRI-BASE",
        "阜阳农业科研大模型应用基地",
        ev25,
        {"kind": "science_base", "annual_rd_input": "10000000"},
    )
    d.review(d.ago(19), "fuyang", base, action="approve")
    d.review(d.ago(10), "province", base, action="approve", uplift_confirmed=True)
    # in notice: a scenario challenge; an uplifted R&D grant returned, corrected and resubmitted
    scenario = d.apply(
        d.ago(12),
        "xinghe",
        calls["anhui-2025/art1"],
        "XH-LLM-2025",
        "星河政务大模型场景揭榜",
        ev25,
        {"kind": "scenario_challenge", "scenario_dev_input": "20000000", "challenge_completed": True},
    )
    d.review(d.ago(10), "hefei", scenario, action="approve")
    d.review(d.ago(2), "province", scenario, action="approve")
    corrected = d.apply(
        d.ago(30),
        "yuntu",
        calls["art5"],
        "SZ-LABEL-LLM",
        "面向数据标注的行业大模型研发",
        ev23,
        {"rd_cost": "30000000", **art5},
    )
    d.review(d.ago(28), "suzhou", corrected, action="return", reason="请补充研发投入审计报告")
    with d.platform.uow() as uow:
        who, clock = d.who("yuntu"), d.ago(26)
        applications.update_application(
            uow, who, d.packs, clock, corrected, {"facts": {"rd_cost": "28000000"}}
        )
        applications.add_evidence(
            uow, who, clock, d.root, corrected, EVIDENCE + b"%audit\n", "研发投入专项审计报告.pdf"
        )
        applications.submit(uow, who, d.packs, clock, corrected)
        uow.commit()
    d.review(d.ago(25), "suzhou", corrected, action="approve")
    d.review(d.ago(1), "province", corrected, action="approve", uplift_confirmed=True)
    # held: an approved standard award with an open objection
    held = d.apply(
        d.ago(12),
        "autovision",
        calls["art14"],
        "IEC-AUTO-VIS-07",
        "车载视觉大模型评测方法（国际标准）",
        ev23,
        {"standard_level": "international", "leading_drafter": True, "general_ai_enterprise": True},
    )
    d.review(d.ago(10), "wuhu", held, action="approve")
    d.review(d.ago(1), "province", held, action="approve")
    with d.platform.uow() as uow:
        notice.lodge_objection(
            uow, d.who("ustc"), d.ago(0), held, "该国际标准尚未正式发布，申报材料与公告不符"
        )
        uow.commit()
    # still in review, returned, rejected, a draft; a case-by-case amount awaiting its second approver
    standard14 = {"leading_drafter": True, "general_ai_enterprise": True}
    d.apply(d.ago(3), "ustc", calls["art14"], "GB-EDU-AI-03", "教育大模型评测规范（行业标准）", ev23,
            {"standard_level": "industry", **standard14})  # fmt: skip
    in_province = d.apply(
        d.ago(5),
        "xinghe",
        calls["art5"],
        "XH-LLM-2025",
        "星河通用大模型研发",
        ev23,
        {"rd_cost": "60000000", **art5},
    )
    d.review(d.ago(4), "hefei", in_province, action="approve")
    returned = d.apply(
        d.ago(8),
        "autovision",
        calls["art5"],
        "WH-AUTO-LLM",
        "自动驾驶行业大模型",
        ev23,
        {"rd_cost": "15000000", **art5},
    )
    d.review(d.ago(6), "wuhu", returned, action="return", reason="请提供省科技计划立项文件")
    rejected = d.apply(
        d.ago(7), "xinghe", calls["art14"], "T-XH-2025-01", "政务大模型应用指南（团体标准）", ev23,
        {"standard_level": "group", "leading_drafter": True, "general_ai_enterprise": True},
    )  # fmt: skip
    d.review(d.ago(6), "hefei", rejected, action="approve")
    d.review(d.ago(3), "province", rejected, action="reject", reason="团体标准不属于第十四条支持范围")
    d.apply(d.ago(0), "nongzhi", calls["art5"], "FY-AGRI-LLM", "农业病虫害识别大模型", ev23,
            {"rd_cost": "8000000"}, submit=False)  # fmt: skip
    second = d.apply(
        d.ago(6), "ustc", calls["art5"], "USTC-HPC-2025", "合肥先进计算与大模型训练平台", ev23,
        {"rd_cost": "300000000", **art5},
    )  # fmt: skip
    d.review(d.ago(5), "hefei", second, action="approve")
    d.review(d.ago(2), "province", second, action="approve", amount="70000000", case_by_case=True,
             reason="承担国家重大任务配套，拟一事一议支持")  # fmt: skip
    # the city reports how it used its art. 8 match, once paid (after the batch below)
    d.art8_match = suzhou_match
    lines.append(
        f"calls open: {', '.join(calls)} → /awards/calls; the case-by-case art. 5 award #{case} "
        "(80,000,000.00 yuan over a formula maximum of 50,000,000.00) was approved by province and province2"
    )
    lines.append(
        f"合肥 (login hefei / {DEMO_PASSWORD}) recorded art. 1 payouts of 15,000,000.00 yuan → its match "
        f"#{hefei_match}; 宿州 (login suzhou) recorded 20,000,000.00 under art. 8 → match #{suzhou_match} "
        "with the 皖北 uplift"
    )
    return lines


def _art6_round(d: Demo) -> list[str]:
    """The 2025 benchmark round of art. 6 (replaced by 2.0 art. 2 on 2025-08-11): decided and final."""
    versions = [v for v in d.packs.versions("art6") if v.pack_id == "anhui-2023"]
    if not versions:
        return []
    end = d.packs.in_force_until(versions[0])
    if end is None or (d.today - end).days < 60:
        return []
    opens, closes = end - dt.timedelta(days=40), end
    round_day = (d.today - end).days  # days ago the round closed
    with d.platform.uow() as uow:
        call = award_calls.create_call(
            uow,
            d.who("province"),
            d.packs,
            d.ago(round_day + 41),
            program="art6",
            title=f"{end.year}年度应用场景“十大”标杆案例评选",
            opens_on=opens,
            closes_on=closes,
            budget_year=end.year,
        )
        payments.fund_budget(
            uow,
            d.who("finance"),
            d.ago(round_day + 40),
            program="art6",
            year=end.year,
            amount=str(BUDGETS["art6"]),
            reference=f"DEMO-art6-{end.year}",
        )
        uow.commit()
    call_id = int(str(call["id"]))
    event = end - dt.timedelta(days=30)
    for user, city, ref, name, invest in (
        ("autovision", "wuhu", "WH-SCENE-01", "芜湖智能网联汽车测试场景", "3000000"),
        ("nongzhi", "fuyang", "FY-SCENE-02", "阜阳智慧农业大模型应用场景", "4000000"),
    ):
        app = d.apply(
            d.ago(round_day + 20),
            user,
            call_id,
            ref,
            name,
            event,
            {"total_investment": invest, "benchmark_selected": True},
        )
        d.review(d.ago(round_day + 15), city, app, action="approve")
        d.review(d.ago(round_day + 10), "province", app, action="approve", uplift_confirmed=True)
    return [f"the {end.year} art. 6 benchmark round (call #{call_id}, closed {closes}): 2 awards decided"]


def _payment(d: Demo) -> list[str]:
    """Finance pays the final awards in a batch; the vouchers settled so far are paid out in another."""
    lines: list[str] = []
    finance = d.who("finance")
    with d.platform.uow() as uow:
        batch = payments.create_batch(uow, finance, d.ago(20), d.packs, kind="awards")
        batch_id = int(str(batch["id"]))
        paid = payments.pay_batch(
            uow,
            finance,
            d.ago(20, 15),
            batch_id,
            reference=f"GK{d.today.year}-0001",
            paid_on=(d.today - dt.timedelta(days=20)).isoformat(),
        )
        uow.commit()
    lines.append(
        f"awards batch #{batch_id}: {paid['items']} final awards paid, {_yuan(paid['total'])} yuan "
        "→ /awards/batches (login finance)"
    )
    match = d.art8_match
    if match is not None:
        with d.platform.uow() as uow:
            for used_for, amount, text in (
                ("compute_buildout", "4000000", "宿州智算中心二期扩容（新增 200P）"),
                ("key_firms", "2000000", "引进多模态大模型企业落户奖励"),
            ):
                payouts.report_match_use(
                    uow,
                    d.who("suzhou"),
                    d.ago(15),
                    match,
                    {"used_for": used_for, "amount": amount, "description": text},
                )
            uow.commit()
        lines.append(f"宿州 reported how it used its art. 8 match #{match}: 6,000,000.00 yuan")
    with d.platform.uow() as uow:
        try:
            vb = payments.create_batch(uow, finance, d.platform.clock, d.packs, kind="vouchers")
        except ConflictError as e:
            lines.append(f"no compute vouchers to pay out: {e.message}")
            return lines
        vid = int(str(vb["id"]))
        vp = payments.pay_batch(
            uow,
            finance,
            d.platform.clock,
            vid,
            reference=f"SLQ{d.today.year}-0001",
            paid_on=d.today.isoformat(),
        )
        uow.commit()
    lines.append(
        f"compute vouchers batch #{vid}: {_yuan(vp['total'])} yuan paid out on {vp['items']} voucher lines "
        "(art. 2 and 2.0 art. 3) → /awards/payments"
    )
    return lines


def _yuan(amount: object) -> str:
    """'94360000.00' → '94,360,000.00'."""
    return f"{Decimal(str(amount)):,.2f}"


def _figures(d: Demo) -> list[str]:
    with d.platform.uow() as uow:
        found = views.list_applications(uow, d.who("province"), d.now, limit=1000)
        apps = found["applications"]
        assert isinstance(apps, list)
        states = Counter(str(a["state"]) for a in apps)
        drafts = views.list_applications(uow, d.who("nongzhi"), d.now, state="draft")["total"]
        noticed = reports.notices(uow, d.now)
        final = reports.final_awards(uow, d.now)
        problems = ledger.verify(uow.session)
    shown = ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
    final_fen = sum(Money(str(a["amount"])).to_fen() for a in final)
    return [
        f"applications: {shown}, draft {drafts} → /awards/applications (login province / {DEMO_PASSWORD})",
        f"public notice: {sum(1 for a in noticed if a['state'] == 'notice')} in notice, "
        f"{sum(1 for a in noticed if a['state'] == 'held')} held by an objection → /awards/notice; "
        f"{len(final)} final awards, {_yuan(Money.from_fen(final_fen))} yuan → /awards/final",
        f"ledger verified: {'ok' if not problems else problems[0].message}",
    ]


__all__ = ["administer_awards"]
