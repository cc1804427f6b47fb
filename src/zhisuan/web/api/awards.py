"""API: calls, applications, review, public notice and objections, budgets, payment batches, city payouts.

Every route asks the awards services, which check the caller's role and scope: an organization sees
its own applications, a city those of its applicants and its own, the province, finance and
administrators all. Amounts are decimal strings of yuan.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhisuan.awards import applications, calls, evidence, notice, payments, payouts, reports, review, views
from zhisuan.awards.programs import PROGRAMS
from zhisuan.web.api._common import committed
from zhisuan.web.deps import IntRowId, LoginDep, PlatformDep, PrincipalDep, UowDep
from zhisuan.web.downloads import XLSX, attachment

router = APIRouter(tags=["awards"])

Amount = str | int


class CallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program: str = Field(description="'art5', 'anhui-2025/art1' …: a measure that takes applications")
    title: str
    opens_on: str = Field(description="YYYY-MM-DD (Asia/Shanghai)")
    closes_on: str
    budget_year: int | None = None
    max_awards: int | None = Field(default=None, description="benchmark rounds: ten at most")


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_ref: str = Field(description="the project's identifier: the same project is found by it")
    project_name: str
    event_on: str | None = Field(default=None, description="date of the qualifying event (default today)")
    facts: dict[str, Any] = Field(default_factory=dict)
    other_funding: list[dict[str, Any]] = Field(
        default_factory=list, description="other public funding for the project: [{source, amount, year}]"
    )


class ApplicationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_ref: str | None = None
    project_name: str | None = None
    event_on: str | None = None
    facts: dict[str, Any] | None = None
    other_funding: list[dict[str, Any]] | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["approve", "reject", "return"]
    amount: Amount | None = Field(default=None, description="approved amount (province); default the maximum")
    reason: str | None = None
    case_by_case: bool = False
    uplift_confirmed: bool = Field(default=False, description="the reviewer confirms the 皖北 uplift")


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["dismissed", "upheld"]
    note: str


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program: str
    year: int
    amount: Amount
    payer: str = "province"
    reference: str


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["awards", "vouchers"]
    payer: str = "province"
    month: str | None = Field(default=None, description="vouchers settled up to this month (YYYY-MM)")


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str
    paid_on: str


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str


class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program: Literal["art1", "art4", "art8"]
    kind: str
    project_ref: str
    project_name: str
    recipient: str
    amount: Amount
    paid_on: str
    note: str | None = None


class MatchUseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    used_for: Literal["compute_buildout", "key_firms"]
    amount: Amount
    description: str


# calls ---------------------------------------------------------------------------------------------


@router.get("/awards/programs")
def list_programs() -> dict[str, object]:
    """The measures that take applications: who applies and who pays."""
    return {
        "programs": [
            {
                "program": p.program,
                "name_zh": p.name_zh,
                "applicant": p.applicant,
                "payer": p.payer,
                "benchmark": p.benchmark,
            }
            for p in PROGRAMS.values()
        ]
    }


@router.get("/awards/calls")
def list_calls(uow: UowDep, platform: PlatformDep, program: str | None = None) -> dict[str, object]:
    """Calls (申报批次), newest first, with whether each is open today (public)."""
    return {"calls": calls.list_calls(uow, platform.clock.now(), program)}


@router.post("/awards/calls", status_code=201)
def create_call(body: CallIn, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Open a call (province users)."""
    return committed(
        uow, calls.create_call(uow, who, platform.packs.current(), platform.clock, **body.model_dump())
    )


@router.get("/awards/calls/{call_id}")
def get_call(call_id: IntRowId, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """A call with its application form (fields, labels, which are filled from records)."""
    return calls.get_call(uow, platform.packs.current(), call_id, platform.clock.now())


@router.get("/awards/calls/{call_id}/decisions.xlsx", response_class=Response)
def export_call(call_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """A round's decisions as Excel with Chinese headers (province, finance)."""
    data = reports.round_workbook(uow, who, call_id, platform.clock.now())
    return attachment(data, f"call-{call_id}-decisions.xlsx", XLSX)


# applications --------------------------------------------------------------------------------------


@router.get("/applications")
def list_applications(
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    program: str | None = None,
    state: str | None = None,
    call_id: int | None = Query(default=None, ge=1, le=2**31 - 1),
    city: str | None = None,
    lead_unit: str | None = Query(default=None, description="the lead unit the pack names (e.g. 省科技厅)"),
    queue: bool = Query(default=False, description="only those awaiting the caller's review"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=10**9),
) -> dict[str, object]:
    """The applications the caller may see, each with its ``program`` and ``state``."""
    return views.list_applications(
        uow,
        who,
        platform.clock.now(),
        program=program,
        state=state,
        call_id=call_id,
        city=city,
        lead_unit=lead_unit,
        queue=queue,
        limit=limit,
        offset=offset,
    )


@router.post("/awards/calls/{call_id}/applications", status_code=201)
def create_application(
    call_id: IntRowId, body: ApplicationIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Start a draft in an open call (the applicant organization's members, or a city's users)."""
    return committed(
        uow,
        applications.create_application(
            uow, who, platform.packs.current(), platform.clock, call_id, body.model_dump(exclude_none=True)
        ),
    )


@router.get("/applications/{app_id}")
def get_application(app_id: IntRowId, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """One application: facts, frozen decision, history, evidence, approvals, objections, flags."""
    return views.get_application(uow, who, platform.packs.current(), app_id, platform.clock.now())


@router.patch("/applications/{app_id}")
def update_application(
    app_id: IntRowId, body: ApplicationPatch, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Edit a draft or a returned application."""
    return committed(
        uow,
        applications.update_application(
            uow, who, platform.packs.current(), platform.clock, app_id, body.model_dump(exclude_unset=True)
        ),
    )


@router.post("/applications/{app_id}/submit")
def submit_application(
    app_id: IntRowId, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Submit or resubmit: the facts are frozen with the engine's decision; review begins."""
    return committed(uow, applications.submit(uow, who, platform.packs.current(), platform.clock, app_id))


@router.post("/applications/{app_id}/evidence", status_code=201)
async def upload_evidence(
    app_id: IntRowId, file: UploadFile, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Attach an evidence file (PDF, PNG, JPEG, GIF, Excel; at most 10 MiB)."""
    data = await file.read(evidence.MAX_BYTES + 1)
    return committed(
        uow,
        applications.add_evidence(
            uow, who, platform.clock, platform.settings.data_dir, app_id, data, file.filename
        ),
    )


@router.get("/evidence/{evidence_id}", response_class=Response)
def download_evidence(evidence_id: IntRowId, who: LoginDep, uow: UowDep, platform: PlatformDep) -> Response:
    """An evidence file, to those who may read its application."""
    name, ctype, data = applications.evidence_file(uow, who, platform.settings.data_dir, evidence_id)
    safe = name.encode("ascii", "replace").decode().replace('"', "_")
    return attachment(data, safe, ctype)


@router.post("/applications/{app_id}/review")
def review_application(
    app_id: IntRowId, body: ReviewIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """A reviewer's step: approve (the city recommends, the province decides), reject or return."""
    return committed(
        uow, review.review(uow, who, platform.packs.current(), platform.clock, app_id, body.model_dump())
    )


# notice and objections -------------------------------------------------------------------------------


@router.get("/awards/notices")
def list_notices(uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Proposed awards in public notice (公示) and those held by an objection (public)."""
    return {"notices": reports.notices(uow, platform.clock.now())}


@router.get("/awards/final")
def list_final(
    uow: UowDep,
    platform: PlatformDep,
    program: str | None = None,
    year: int | None = Query(None, ge=2000, le=2100),
) -> dict[str, object]:
    """Final and paid awards by measure and year (public)."""
    return {"awards": reports.final_awards(uow, platform.clock.now(), program, year)}


@router.post("/applications/{app_id}/objections", status_code=201)
def lodge_objection(
    app_id: IntRowId, body: ObjectionIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Object to a proposed award in notice, with a reason: the award is held until resolved."""
    return committed(uow, notice.lodge_objection(uow, who, platform.clock, app_id, body.reason))


@router.get("/objections")
def list_objections(who: LoginDep, uow: UowDep, state: str | None = None) -> dict[str, object]:
    """Objections: all (province users), or the caller's own."""
    return {"objections": notice.list_objections(uow, who, state)}


@router.post("/objections/{objection_id}/resolve")
def resolve_objection(
    objection_id: IntRowId, body: ResolveIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Resolve an objection (province): dismissed (the award goes on) or upheld (withdrawn)."""
    return committed(
        uow, notice.resolve_objection(uow, who, platform.clock, objection_id, body.outcome, body.note)
    )


@router.get("/awards/case-register")
def case_register(who: LoginDep, uow: UowDep) -> dict[str, object]:
    """Every case-by-case award with its reason and approvers (province, finance)."""
    return {"cases": reports.case_register(uow, who)}


# budgets and payment ---------------------------------------------------------------------------------


@router.get("/budgets")
def list_budgets(
    who: LoginDep, uow: UowDep, year: int | None = Query(None, ge=2000, le=2100)
) -> dict[str, object]:
    """Award budgets: funded, committed, paid and left, per program, payer and year (province, finance)."""
    return {"budgets": payments.budgets(uow, who, year)}


@router.post("/budgets", status_code=201)
def fund_budget(body: BudgetIn, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Fund a budget (finance), once per reference."""
    return committed(uow, payments.fund_budget(uow, who, platform.clock, **body.model_dump()))


@router.get("/payment-batches")
def list_batches(who: LoginDep, uow: UowDep, state: str | None = None) -> dict[str, object]:
    """Payment batches, newest first (finance, province)."""
    return {"batches": payments.list_batches(uow, who, state)}


@router.post("/payment-batches", status_code=201)
def create_batch(body: BatchIn, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """A draft batch of a payer's final awards, or of its compute vouchers granted up to a month (finance)."""
    return committed(
        uow, payments.create_batch(uow, who, platform.clock, platform.packs.current(), **body.model_dump())
    )


@router.get("/payment-batches/{batch_id}")
def get_batch(batch_id: IntRowId, who: LoginDep, uow: UowDep) -> dict[str, object]:
    """A batch with its lines."""
    return payments.get_batch(uow, who, batch_id)


@router.post("/payment-batches/{batch_id}/pay")
def pay_batch(
    batch_id: IntRowId, body: PayIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Record a draft batch as paid, with its reference and date; the ledger posts payable → paid."""
    return committed(
        uow,
        payments.pay_batch(
            uow, who, platform.clock, batch_id, reference=body.reference, paid_on=body.paid_on
        ),
    )


@router.post("/payment-batches/{batch_id}/cancel")
def cancel_batch(
    batch_id: IntRowId, body: CancelIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Cancel a draft batch with a reason; its items are free for the next one."""
    return committed(uow, payments.cancel_batch(uow, who, platform.clock, batch_id, body.reason))


@router.get("/payments/vouchers")
def voucher_payments(who: LoginDep, uow: UowDep) -> dict[str, object]:
    """Compute vouchers granted, paid and owed per organization (one's own for its members)."""
    return {"vouchers": payments.voucher_payments(uow, who)}


@router.get("/payments/awards")
def award_payments(who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """The caller's approved awards and their payment."""
    return {"awards": payments.award_payments(uow, who, platform.clock.now())}


# the city's side ---------------------------------------------------------------------------------------


@router.get("/city-payouts")
def list_payouts(
    who: LoginDep, uow: UowDep, city: str | None = None, program: str | None = None
) -> dict[str, object]:
    """Payouts cities recorded (a city's own for its users)."""
    return {"payouts": payouts.list_payouts(uow, who, city=city, program=program)}


@router.post("/city-payouts", status_code=201)
def record_payout(body: PayoutIn, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Record a payout the city made (city users); the base of the province's match."""
    return committed(
        uow, payouts.record_payout(uow, who, platform.clock, platform.settings.data_dir, body.model_dump())
    )


@router.get("/applications/{app_id}/match-uses")
def list_match_uses(app_id: IntRowId, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """How the city used an art. 8 match."""
    views.get_application(uow, who, platform.packs.current(), app_id, platform.clock.now())
    return payouts.match_uses(uow, app_id)


@router.post("/applications/{app_id}/match-uses", status_code=201)
def report_match_use(
    app_id: IntRowId, body: MatchUseIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """The city reports a use of a paid art. 8 match (compute build-out, attracting key firms)."""
    return committed(uow, payouts.report_match_use(uow, who, platform.clock, app_id, body.model_dump()))
