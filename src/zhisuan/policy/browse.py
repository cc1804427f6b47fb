"""Read-only views of packs for people: an article's parts, units, conditions and parameters in force with
history, and pack diffs.

Used by the CLI (``policy show``, ``policy diff``), the API and the web pack browser; pure (no I/O).
"""

from __future__ import annotations

import datetime as dt

from zhisuan.policy.packset import PackSet, packs_period
from zhisuan.policy.schema import (
    ArticleVersion,
    AwardRule,
    Check,
    FactSpec,
    Label,
    Pack,
    Parameter,
    Part,
    Rule,
    article_key,
    dump_value,
)


def describe(version: ArticleVersion, packs: PackSet, on: dt.date) -> dict[str, object]:
    """Everything about one article version: facts, parameters in force on ``on`` with history, rules."""
    params = []
    for name, p in version.parameters.items():
        current = p.version_at(on)
        params.append(
            {
                "name": name,
                "type": p.type,
                "unit": p.unit,
                "value": dump_value(current.value if current else p.history[0].value, p.type),
                "since": (current.start if current else p.history[0].start).isoformat(),
                "history": [
                    {"from": h.start.isoformat(), "value": dump_value(h.value, p.type)} for h in p.history
                ],
                "description_zh": p.description_zh,
                "description_en": p.description_en,
                "provisional": p.provisional_at(on),
                "note": p.note_at(on),
            }
        )
    award = []
    for a in version.award:
        award.append(
            {
                "id": a.id,
                "base": a.base.describe(),
                "rate": a.rate.describe() if a.rate else None,
                "cap": a.cap,
                "cumulative": a.cumulative,
                "priority": a.priority,
                "when": [check_text(c) for c in a.when],
            }
        )
    cut = packs.superseded_from(version)
    return {
        "pack": version.pack_id,
        "article": version.article,
        "name_zh": version.name_zh,
        "name_en": version.name_en,
        "effective_from": version.effective_from.isoformat(),
        "effective_to": version.effective_to.isoformat() if version.effective_to else None,
        "superseded": {"from": cut[0].isoformat(), "by": cut[1], "article": _successor(packs, version)}
        if cut
        else None,
        "measure": version.measure,
        "on": on.isoformat(),
        "lead_unit": version.lead_unit,
        "cooperating_units": list(version.cooperating_units),
        "payee": version.payee,
        "grants": version.grants,
        "case_by_case": version.case_by_case,
        "uplift_location": version.uplift_location,
        "evidence": list(version.evidence),
        "facts": [
            {
                "name": f.name,
                "type": f.type,
                "required": f.required,
                "unit": f.unit,
                "values": list(f.values) or None,
                "description_en": f.description_en,
            }
            for f in version.facts
        ],
        "parameters": params,
        "eligibility": [_rule(r, version, on) for r in version.eligibility],
        "parts": [_part(p, version, on) for p in version.parts],
        "award": award,
        "notes_zh": version.notes_zh,
        "notes_en": version.notes_en,
    }


def _labels(labels: tuple[Label, ...]) -> list[dict[str, str]]:
    return [{"zh": x.zh, "en": x.en} for x in labels]


def _part(part: Part, version: ArticleVersion, on: dt.date) -> dict[str, object]:
    """One part of an article as the text states it: units, what it grants and gives, its conditions."""
    return {
        "id": part.id,
        "main": part.main,
        "name_zh": part.name_zh,
        "name_en": part.name_en,
        "grants": part.grants,
        "lead_unit": part.lead_unit,
        "cooperating_units": list(part.cooperating_units),
        "gives": _labels(part.gives),
        "use_of_funds": _labels(part.use_of_funds),
        "evidence": list(part.evidence),
        "eligibility": [_rule(r, version, on) for r in part.eligibility],
    }


def _rule(rule: Rule, version: ArticleVersion, on: dt.date) -> dict[str, object]:
    return {
        "id": rule.id,
        "check": check_text(rule.check),
        "condition": condition(rule.check, version, on),
        "fail_zh": rule.fail_zh,
        "fail_en": rule.fail_en,
    }


def condition(c: Check, version: ArticleVersion, on: dt.date) -> list[dict[str, object]]:
    """A check as people read it, with the values in force on ``on``: one entry per alternative.

    Each entry names the fact (``fact``, and its description ``label_zh`` / ``label_en``), the test
    (``op``: a comparison sign, ``in``, ``not_in``, ``is_true``, ``is_false``, ``in_effect_period``)
    and what it is tested against (``values``: enum codes or figures as text, ``unit``).
    """
    if c.any_of:
        return [entry for part in c.any_of for entry in condition(part, version, on)]
    if c.ratio is not None:
        a, b = (version.fact(x) for x in c.ratio)
        label_zh = f"{_label(a, 'zh')} / {_label(b, 'zh')}"
        label_en = f"{_label(a, 'en')} / {_label(b, 'en')}"
        fact = f"{c.ratio[0]}/{c.ratio[1]}"
        unit: str | None = None
        ptype: str | None = "rate"
    else:
        spec = version.fact(c.fact or "")
        label_zh, label_en, fact = _label(spec, "zh"), _label(spec, "en"), c.fact or ""
        unit = spec.unit if spec is not None else None
        ptype = spec.type if spec is not None else None
    values: list[str] = []
    if c.op == "in_effect_period":
        values = [version.period_text()]
    elif c.op not in ("is_true", "is_false"):
        if c.parameter is not None:
            param = version.parameters[c.parameter]
            raw = param.at(on)
            unit = param.unit or unit
            ptype = "rate" if ptype == "rate" else param.type
        else:
            raw = c.value
        values = [str(v) for v in raw] if isinstance(raw, tuple) else [dump_value(raw, ptype)]
    return [
        {
            "fact": fact,
            "label_zh": label_zh,
            "label_en": label_en,
            "op": c.op,
            "values": values,
            "unit": unit,
        }
    ]


def _label(spec: FactSpec | None, lang: str) -> str:
    if spec is None:
        return ""
    text = spec.description_zh if lang == "zh" else spec.description_en
    return text or spec.name


def check_text(c: Check) -> str:
    if c.any_of:
        return " or ".join(check_text(x) for x in c.any_of)
    left = f"{c.ratio[0]}/{c.ratio[1]}" if c.ratio else c.fact
    if c.op in ("is_true", "is_false"):
        return f"{left} {'is true' if c.op == 'is_true' else 'is false'}"
    if c.op == "in_effect_period":
        return f"{left} within the article's effective dates"
    right = f"parameter {c.parameter}" if c.parameter else dump_value(c.value)
    return f"{left} {c.op} {right}"


def diff_packs(a: Pack, b: Pack) -> list[dict[str, str]]:
    """What changes from pack A to pack B: articles, dates, units, facts, parameters, rules."""
    out: list[dict[str, str]] = []

    def add(article: str, what: str, old: object, new: object) -> None:
        if old != new:
            out.append({"article": article, "what": what, "a": _txt(old), "b": _txt(new)})

    for art in sorted(set(a.articles) | set(b.articles), key=article_key):
        va, vb = a.articles.get(art), b.articles.get(art)
        if va is None or vb is None:
            add(art, "article", "present" if va else "absent", "present" if vb else "absent")
            continue
        for attr in (
            "name_zh",
            "name_en",
            "effective_from",
            "effective_to",
            "lead_unit",
            "cooperating_units",
            "payee",
            "evidence",
            "grants",
            "case_by_case",
            "uplift_location",
        ):
            add(art, attr, getattr(va, attr), getattr(vb, attr))
        fa = {f.name: f for f in va.facts}
        fb = {f.name: f for f in vb.facts}
        for name in sorted(set(fa) | set(fb)):
            add(art, f"fact {name}", _fact_txt(fa.get(name)), _fact_txt(fb.get(name)))
        for name in sorted(set(va.parameters) | set(vb.parameters)):
            pa, pb = va.parameters.get(name), vb.parameters.get(name)
            add(art, f"parameter {name}", _param_txt(pa), _param_txt(pb))
        ra = {r.id: check_text(r.check) for r in va.eligibility}
        rb = {r.id: check_text(r.check) for r in vb.eligibility}
        for rid in sorted(set(ra) | set(rb)):
            add(art, f"rule {rid}", ra.get(rid), rb.get(rid))
        aa = {x.id: _award_txt(x) for x in va.award}
        ab = {x.id: _award_txt(x) for x in vb.award}
        for aid in sorted(set(aa) | set(ab)):
            add(art, f"award {aid}", aa.get(aid), ab.get(aid))
        parts_a = {x.id: _part_txt(x) for x in va.parts}
        parts_b = {x.id: _part_txt(x) for x in vb.parts}
        for pid in sorted(set(parts_a) | set(parts_b)):
            add(art, f"part {pid}", parts_a.get(pid), parts_b.get(pid))
    return out


def _part_txt(p: Part) -> str:
    """A part as one line of a diff: what it grants, its units, conditions and labels."""
    units = "、".join((p.lead_unit, *p.cooperating_units))
    rules = " and ".join(check_text(r.check) for r in p.eligibility) or "no condition"
    gives = "；".join(x.zh for x in (*p.gives, *p.use_of_funds))
    return f"{'main ' if p.main else ''}{p.grants}; {units}; {rules}; {gives}"


def _txt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _fact_txt(f: FactSpec | None) -> str | None:
    if f is None:
        return None
    return (
        f"{f.type}{' required' if f.required else ' optional'}{' ' + '/'.join(f.values) if f.values else ''}"
    )


def _param_txt(p: Parameter | None) -> str | None:
    if p is None:
        return None
    return "; ".join(f"{h.start.isoformat()}: {dump_value(h.value, p.type)}" for h in p.history)


def _award_txt(a: AwardRule) -> str:
    parts = [a.base.describe()]
    if a.rate:
        parts.append(f"× {a.rate.describe()}")
    if a.cap:
        parts.append(f"cap {a.cap}")
    if a.cumulative:
        parts.append(f"less {a.cumulative}")
    if a.when:
        parts.append("when " + " and ".join(check_text(c) for c in a.when))
    return " ".join(parts)


def article_rows(packs: PackSet, today: dt.date | None = None) -> list[dict[str, object]]:
    """One row per article version of every pack, with the dates it judges events and its successor."""
    rows: list[dict[str, object]] = []
    for p in packs:
        for art in sorted(p.articles, key=article_key):
            v = p.articles[art]
            rows.append(
                {
                    "pack": p.id,
                    "article": art,
                    "name_zh": v.name_zh,
                    "name_en": v.name_en,
                    "effective": packs_period(packs, v),
                    "grants": v.grants,
                    "payee": v.payee,
                    "lead_unit": v.lead_unit,
                    # every part's unit line (art. 1: the non-cash support's and the match's)
                    "units": [
                        {"part_zh": x.name_zh, "part_en": x.name_en, "lead_unit": x.lead_unit}
                        for x in v.parts
                    ]
                    or [{"part_zh": None, "part_en": None, "lead_unit": v.lead_unit}],
                    "source": p.source_file,
                    "replaced_by": _successor(packs, v),
                    "provisional": bool(
                        v.provisional_parameters(max(v.effective_from, today or v.effective_from))
                    ),
                }
            )
    return rows


def _successor(packs: PackSet, version: ArticleVersion) -> str | None:
    """'anhui-2025/art3' when another article replaces this one."""
    succ = packs.successor(version)
    return succ.qualified if succ is not None else None


def packs_by_today(packs: PackSet, today: dt.date) -> tuple[list[Pack], list[Pack]]:
    """(packs with an article judging events today, the others): in force first, expired below."""
    live: list[Pack] = []
    rest: list[Pack] = []
    for p in packs:
        now = any(
            v.effective_from <= today and ((end := packs.in_force_until(v)) is None or today <= end)
            for v in p.articles.values()
        )
        (live if now else rest).append(p)
    return live, rest


def pack_summary(p: Pack) -> dict[str, object]:
    return {
        "id": p.id,
        "title_zh": p.title_zh,
        "title_en": p.title_en,
        "official_title": p.official_title,
        "issuer": p.issuer,
        "region": p.region,
        "source": p.source,
        "source_file": p.source_file,
        "published": p.published.isoformat() if p.published else None,
        "supersedes": {k: {a: d.isoformat() for a, d in v.items()} for k, v in p.supersedes.items()},
    }
