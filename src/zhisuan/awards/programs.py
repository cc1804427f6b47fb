"""Which measures take applications, who applies, who pays, and the form each one's facts make.

The form is generated from the article's facts in the pack (type, unit, enum values, labels in Chinese
and English). Facts the platform already knows are *recorded*: filled from its records when the
application is submitted, shown on the form, never typed — ``city`` from the applicant's record,
``already_awarded`` from earlier awards on the project (``standard_already_awarded`` for art. 14),
``city_actual_payout`` from the city's recorded payouts, ``funded_under_art1`` from 2.0 art. 1 awards,
``claimed_on`` the day of submission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zhisuan.core.errors import ValidationError
from zhisuan.policy import ArticleVersion, FactError, PackSet, check_fact


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """How one measure is administered: ``applicant`` ("org" or "city"), ``payer`` ("province" or "city")."""

    program: str
    applicant: str
    payer: str
    #: a benchmark round: at most ten awards per call
    benchmark: bool = False
    name_zh: str = ""


PROGRAMS: Mapping[str, ProgramSpec] = {
    "art1": ProgramSpec("art1", "city", "province", name_zh="智算中心建设（市级兑付配套）"),
    "art4": ProgramSpec("art4", "org", "city", name_zh="数据供应商补贴（市级资金）"),
    "art5": ProgramSpec("art5", "org", "province", name_zh="关键技术研发"),
    "art6": ProgramSpec("art6", "org", "province", benchmark=True, name_zh="应用场景标杆案例"),
    "art8": ProgramSpec("art8", "city", "province", name_zh="引育重点企业（市级兑付配套）"),
    "art10": ProgramSpec("art10", "org", "province", name_zh="创新大赛落地支持"),
    "art14": ProgramSpec("art14", "org", "province", name_zh="标准制定奖励"),
    "anhui-2025/art1": ProgramSpec("anhui-2025/art1", "org", "province", name_zh="2.0 重大场景供给"),
    "anhui-2025/art2": ProgramSpec(
        "anhui-2025/art2", "org", "province", benchmark=True, name_zh="2.0 垂直模型应用标杆案例"
    ),
}

#: facts the platform fills from its own records; an applicant cannot type them
RECORDED = (
    "city",
    "already_awarded",
    "standard_already_awarded",
    "city_actual_payout",
    "payout_date",
    "funded_under_art1",
    "in_province",
    "claimed_on",
)
#: facts no applicant types: a case-by-case amount is a reviewers' decision, not a claim
DECIDED = ("case_by_case_amount",)


def spec(program: str) -> ProgramSpec:
    found = PROGRAMS.get(program)
    if found is None:
        known = ", ".join(PROGRAMS)
        raise ValidationError(
            f"no applications for {program!r}; measures that take them: {known}", field="program"
        )
    return found


def split(program: str) -> tuple[str, str | None]:
    """'anhui-2025/art1' → ('art1', 'anhui-2025'); 'art5' → ('art5', None): 2023 numbering."""
    if "/" in program:
        pack, _, art = program.rpartition("/")
        return art, pack
    return program, None


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an application form."""

    name: str
    type: str
    required: bool
    unit: str | None
    values: tuple[str, ...]
    label_zh: str
    label_en: str
    recorded: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "unit": self.unit,
            "values": list(self.values),
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "recorded": self.recorded,
        }


def form(version: ArticleVersion) -> list[Field]:
    """The form of an article version: every fact it takes but case-by-case amounts; recorded ones marked."""
    out = []
    for f in version.facts:
        if f.name in DECIDED:
            continue
        out.append(
            Field(
                name=f.name,
                type=f.type,
                required=f.required,
                unit=f.unit,
                values=f.values,
                label_zh=f.description_zh or f.name,
                label_en=f.description_en or f.name.replace("_", " "),
                recorded=f.name in RECORDED,
            )
        )
    return out


def check_typed(packs: PackSet, version: ArticleVersion, typed: Mapping[str, object]) -> dict[str, object]:
    """The applicant's facts, checked one by one as the engine reads them (a draft may leave some out).

    Recorded and decided facts are refused with the reason; the first bad field is named.
    """
    if not isinstance(typed, Mapping):
        raise ValidationError("facts are a JSON object {name: value}", field="facts")
    if len(typed) > 64:
        raise ValidationError("too many facts", field="facts")
    out: dict[str, object] = {}
    for name, raw in typed.items():
        if name in RECORDED and version.fact(name) is not None:
            raise ValidationError(
                f"{name} is filled from the platform's records; it cannot be typed", field=name
            )
        if name in DECIDED:
            raise ValidationError(
                "a case-by-case amount is decided by two province reviewers, not claimed", field=name
            )
        if raw is None or raw == "":
            continue
        try:
            check_fact(packs, version, name, raw)
        except FactError as e:
            raise ValidationError(e.message, field=name) from None
        out[name] = raw
    return out


def missing(version: ArticleVersion, typed: Mapping[str, object]) -> list[str]:
    """Required facts the applicant has still to give (recorded ones are filled on submission)."""
    return [
        f.name
        for f in version.facts
        if f.required and f.name not in RECORDED and f.name not in DECIDED and f.name not in typed
    ]


__all__ = [
    "DECIDED",
    "PROGRAMS",
    "RECORDED",
    "Field",
    "ProgramSpec",
    "check_typed",
    "form",
    "missing",
    "spec",
    "split",
]
