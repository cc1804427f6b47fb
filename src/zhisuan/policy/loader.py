"""Policy packs from YAML: a document or file → a validated :class:`Pack`; folders → a :class:`PackSet`.

Loading validates every key and reports the first problem as ``file:line: key: message``
(:class:`PackError`). Nothing here evaluates a case.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from zhisuan.policy._parse import Ctx, parse_check, parse_fact, parse_operand, parse_parameter
from zhisuan.policy._yaml import MarkedDict, MarkedList, load_marked
from zhisuan.policy.errors import PackError
from zhisuan.policy.packset import PackSet
from zhisuan.policy.schema import (
    ARTICLE_ID,
    MEASURES,
    PACK_ID,
    PAYEES,
    ArticleVersion,
    AwardRule,
    Check,
    FactSpec,
    Pack,
    Parameter,
    Rule,
)


def _sets_of(checks: tuple[Check, ...]) -> dict[str, frozenset[str]] | None:
    """For conflict detection: fact -> allowed values, when every check is a literal 'in' / '=='."""
    out: dict[str, frozenset[str]] = {}
    for c in checks:
        if c.fact is None:
            return None
        if c.op == "in" and c.parameter is None and isinstance(c.value, tuple):
            vals = frozenset(str(v) for v in c.value)
        elif c.op == "==" and c.parameter is None:
            vals = frozenset({str(c.value)})
        elif c.op == "is_true":
            vals = frozenset({"True"})
        elif c.op == "is_false":
            vals = frozenset({"False"})
        else:
            return None
        out[c.fact] = out[c.fact] & vals if c.fact in out else vals
    return out


def overlapping_rules(award: Sequence[AwardRule]) -> list[tuple[str, str]]:
    """Pairs of award rules without distinct priorities that can both claim one case (statically provable)."""
    pairs: list[tuple[str, str]] = []
    for i, a in enumerate(award):
        for b in award[i + 1 :]:
            if a.priority is not None and b.priority is not None and a.priority != b.priority:
                continue
            sa, sb = _sets_of(a.when), _sets_of(b.when)
            if sa is None or sb is None:
                continue  # not provable statically: the engine refuses the case at run time
            if all(sa[f] & sb[f] for f in set(sa) & set(sb)):
                pairs.append((a.id, b.id))
    return pairs


_ARTICLE_KEYS: Final = {
    "name_zh",
    "name_en",
    "effective",
    "lead_unit",
    "cooperating_units",
    "payee",
    "evidence",
    "facts",
    "parameters",
    "eligibility",
    "award",
    "case_by_case",
    "uplift_location",
    "grants",
    "measure",
    "notes_zh",
    "notes_en",
}
_PAYERS: Final = frozenset({"province", "city"})
#: a program another pack names in ``not_with``: ``pack-id/artN``
_PROGRAM: Final = re.compile(r"^[a-z0-9][a-z0-9._-]*/art[0-9]+$")
_PACK_KEYS: Final = {
    "id",
    "title_zh",
    "title_en",
    "region",
    "payer",
    "not_with",
    "source",
    "published",
    "defaults",
    "articles",
    "supersedes",
    "schema",
}


def _article(
    ctx: Ctx, pack_id: str, art: str, node: object, parent: MarkedDict, defaults: Mapping[str, MarkedDict]
) -> ArticleVersion:
    path = f"articles.{art}"
    if not ARTICLE_ID.match(art):
        raise ctx.fail(parent, art, path, "article ids look like art1, art2, …")
    if not isinstance(node, MarkedDict):
        raise ctx.fail(parent, art, path, "an article is a mapping")
    ctx.only(node, _ARTICLE_KEYS, path)
    eff = ctx.mapping(node, "effective", f"{path}.effective")
    assert eff is not None
    ctx.only(eff, {"from", "to"}, f"{path}.effective")
    start = ctx.date(eff, "from", f"{path}.effective.from")
    assert start is not None
    end = ctx.date(eff, "to", f"{path}.effective.to", required=False)
    if end is not None and end < start:
        raise ctx.fail(eff, "to", f"{path}.effective.to", "ends before it starts")
    payee = ctx.text(node, "payee", f"{path}.payee")
    if payee not in PAYEES:
        raise ctx.fail(node, "payee", f"{path}.payee", f"payee is one of {', '.join(sorted(PAYEES))}")

    facts: dict[str, FactSpec] = {}
    fnode = ctx.mapping(node, "facts", f"{path}.facts", required=False) or MarkedDict()
    for name, spec in fnode.items():
        facts[name] = parse_fact(ctx, name, spec, fnode, f"{path}.facts.{name}")

    params: dict[str, Parameter] = {}
    for name, spec in defaults.items():
        params[name] = parse_parameter(ctx, name, spec, spec, f"defaults.{name}", start)
    pnode = ctx.mapping(node, "parameters", f"{path}.parameters", required=False) or MarkedDict()
    for name, spec in pnode.items():
        params[name] = parse_parameter(ctx, name, spec, pnode, f"{path}.parameters.{name}", start)
    for name in ("rounding", "uplift_enabled", "uplift_factor", "uplift_cities"):
        if name not in params:
            raise ctx.fail(
                node,
                None,
                f"{path}.parameters.{name}",
                f"parameter {name!r} is needed (set it in 'defaults' or in the article)",
            )
    want = {
        "rounding": "rounding",
        "uplift_enabled": "bool",
        "uplift_factor": "rate",
        "uplift_cities": "cities",
    }
    for name, ptype in want.items():
        if params[name].type != ptype:
            raise ctx.fail(
                pnode if name in pnode else node,
                name if name in pnode else None,
                f"{path}.parameters.{name}",
                f"must have type {ptype}",
            )

    rules: list[Rule] = []
    enode = node.get("eligibility") or MarkedList()
    if not isinstance(enode, MarkedList):
        raise ctx.fail(node, "eligibility", f"{path}.eligibility", "must be a list of rules")
    seen: set[str] = set()
    for i, item in enumerate(enode):
        rpath = f"{path}.eligibility[{i}]"
        if not isinstance(item, MarkedDict):
            raise ctx.fail(enode, i, rpath, "a rule is a mapping {id, check, fail_zh, fail_en}")
        ctx.only(item, {"id", "check", "fail_zh", "fail_en"}, rpath)
        rid = ctx.text(item, "id", f"{rpath}.id")
        if rid in seen:
            raise ctx.fail(item, "id", f"{rpath}.id", f"duplicate rule id {rid!r}")
        seen.add(rid)
        rules.append(
            Rule(
                id=rid,
                check=parse_check(ctx, item.get("check"), item, "check", f"{rpath}.check", facts, params),
                fail_zh=ctx.text(item, "fail_zh", f"{rpath}.fail_zh"),
                fail_en=ctx.text(item, "fail_en", f"{rpath}.fail_en"),
                line=item.line,
            )
        )

    award: list[AwardRule] = []
    anode = node.get("award") or MarkedList()
    if not isinstance(anode, MarkedList):
        raise ctx.fail(node, "award", f"{path}.award", "must be a list of award rules")
    money_kinds = {"money"}
    for i, item in enumerate(anode):
        apath = f"{path}.award[{i}]"
        if not isinstance(item, MarkedDict):
            raise ctx.fail(
                anode, i, apath, "an award rule is a mapping {id, base, rate?, cap?, cumulative?, when?}"
            )
        ctx.only(item, {"id", "base", "rate", "cap", "cumulative", "when", "priority"}, apath)
        aid = ctx.text(item, "id", f"{apath}.id")
        if aid in seen:
            raise ctx.fail(item, "id", f"{apath}.id", f"duplicate rule id {aid!r}")
        seen.add(aid)
        base = parse_operand(ctx, item, "base", f"{apath}.base", facts, params, money_kinds)
        rate = (
            parse_operand(ctx, item, "rate", f"{apath}.rate", facts, params, {"rate"})
            if "rate" in item
            else None
        )
        cap = ctx.text(item, "cap", f"{apath}.cap", required=False) or None
        if cap is not None and (cap not in params or params[cap].type != "money"):
            raise ctx.fail(item, "cap", f"{apath}.cap", f"cap {cap!r} is not a declared money parameter")
        cum = ctx.text(item, "cumulative", f"{apath}.cumulative", required=False) or None
        if cum is not None and (cum not in facts or facts[cum].type != "money"):
            raise ctx.fail(item, "cumulative", f"{apath}.cumulative", f"{cum!r} is not a declared money fact")
        if cum is not None and cap is None:
            raise ctx.fail(item, "cumulative", f"{apath}.cumulative", "a cumulative fact needs a cap")
        when_node = item.get("when") or MarkedList()
        if not isinstance(when_node, MarkedList):
            raise ctx.fail(item, "when", f"{apath}.when", "must be a list of checks")
        when = tuple(
            parse_check(ctx, c, when_node, j, f"{apath}.when[{j}]", facts, params)
            for j, c in enumerate(when_node)
        )
        prio = item.get("priority")
        if prio is not None and (isinstance(prio, bool) or not isinstance(prio, int)):
            raise ctx.fail(item, "priority", f"{apath}.priority", "priority is a whole number (higher wins)")
        award.append(
            AwardRule(
                id=aid,
                base=base,
                rate=rate,
                cap=cap,
                cumulative=cum,
                when=when,
                priority=prio,
                line=item.line,
            )
        )
    for a, b in overlapping_rules(award):
        raise ctx.fail(
            anode,
            None,
            f"{path}.award",
            f"rules {a!r} and {b!r} can both claim the same case and have no distinct priority",
        )

    grants = ctx.text(node, "grants", f"{path}.grants", required=False) or (
        "money" if award else "eligibility"
    )
    if grants not in {"money", "priority", "eligibility"}:
        raise ctx.fail(node, "grants", f"{path}.grants", "grants is money, priority or eligibility")
    if grants == "money" and not award:
        raise ctx.fail(
            node, "grants", f"{path}.award", "an article that grants money needs an 'award' formula"
        )
    cbc = node.get("case_by_case", False)
    if not isinstance(cbc, bool):
        raise ctx.fail(node, "case_by_case", f"{path}.case_by_case", "must be true or false")
    if cbc and (
        facts.get("case_by_case_amount") is None
        or facts["case_by_case_amount"].type != "money"
        or facts["case_by_case_amount"].required
    ):
        raise ctx.fail(
            node,
            "case_by_case",
            f"{path}.facts.case_by_case_amount",
            "case_by_case needs an optional money fact 'case_by_case_amount'",
        )
    measure = ctx.text(node, "measure", f"{path}.measure", required=False) or None
    if measure is not None and measure not in MEASURES:
        raise ctx.fail(node, "measure", f"{path}.measure", f"measure is one of {', '.join(sorted(MEASURES))}")
    loc = ctx.text(node, "uplift_location", f"{path}.uplift_location", required=False) or None
    if loc is not None and (loc not in facts or facts[loc].type != "city"):
        raise ctx.fail(
            node, "uplift_location", f"{path}.uplift_location", f"{loc!r} is not a declared city fact"
        )
    return ArticleVersion(
        pack_id=pack_id,
        article=art,
        name_zh=ctx.text(node, "name_zh", f"{path}.name_zh"),
        name_en=ctx.text(node, "name_en", f"{path}.name_en"),
        effective_from=start,
        effective_to=end,
        lead_unit=ctx.text(node, "lead_unit", f"{path}.lead_unit"),
        cooperating_units=ctx.texts(node, "cooperating_units", f"{path}.cooperating_units"),
        payee=payee,
        evidence=ctx.texts(node, "evidence", f"{path}.evidence"),
        facts=tuple(facts.values()),
        parameters=params,
        eligibility=tuple(rules),
        award=tuple(award),
        case_by_case=cbc,
        uplift_location=loc,
        grants=grants,
        measure=measure,
        notes_zh=ctx.text(node, "notes_zh", f"{path}.notes_zh", required=False),
        notes_en=ctx.text(node, "notes_en", f"{path}.notes_en", required=False),
        source_file=ctx.file,
        line=node.line,
    )


def parse_pack(text: str, filename: str = "<pack>") -> Pack:
    """Parse and validate one pack document; the first problem raises :class:`PackError`."""
    ctx = Ctx(filename)
    root = load_marked(text, filename)
    if not isinstance(root, MarkedDict):
        raise PackError("a pack is a YAML mapping", file=filename, line=1, key=None)
    ctx.only(root, _PACK_KEYS, "")
    pack_id = ctx.text(root, "id", "id")
    if not PACK_ID.match(pack_id):
        raise ctx.fail(root, "id", "id", "pack ids are lower-case letters, digits, '.', '-', '_'")
    defaults_node = ctx.mapping(root, "defaults", "defaults", required=False) or MarkedDict()
    defaults: dict[str, MarkedDict] = {}
    for name, spec in defaults_node.items():
        if not isinstance(spec, MarkedDict):
            raise ctx.fail(defaults_node, name, f"defaults.{name}", "a parameter is a mapping")
        defaults[name] = spec
    arts_node = ctx.mapping(root, "articles", "articles")
    assert arts_node is not None
    articles = {
        art: _article(ctx, pack_id, art, node, arts_node, defaults) for art, node in arts_node.items()
    }
    supersedes: dict[str, dict[str, dt.date]] = {}
    renumbers: dict[str, dict[str, str]] = {}
    sup = ctx.mapping(root, "supersedes", "supersedes", required=False) or MarkedDict()
    for older, arts in sup.items():
        spath = f"supersedes.{older}"
        if not isinstance(arts, MarkedDict):
            raise ctx.fail(
                sup, older, spath, "maps article ids to the date from which this pack replaces them"
            )
        supersedes[older] = {}
        for art in arts:
            # `artN: DATE` (this pack's artN replaces the older artN) or `artN: {from: DATE, by: artM}`
            entry = arts[art]
            if isinstance(entry, MarkedDict):
                ctx.only(entry, {"from", "by"}, f"{spath}.{art}")
                day = ctx.date(entry, "from", f"{spath}.{art}.from")
                by = ctx.text(entry, "by", f"{spath}.{art}.by")
                where: MarkedDict = entry
                key = "by"
            else:
                day = ctx.date(arts, art, f"{spath}.{art}")
                by, where, key = art, arts, art
            assert day is not None
            if by not in articles:
                raise ctx.fail(where, key, f"{spath}.{art}", f"this pack has no {by} to replace it with")
            if articles[by].effective_from > day:
                raise ctx.fail(
                    where,
                    key,
                    f"{spath}.{art}",
                    f"{by} of this pack starts on {articles[by].effective_from}, after {day}: a gap",
                )
            supersedes[older][art] = day
            if by != art:
                renumbers.setdefault(older, {})[art] = by
    region = ctx.text(root, "region", "region")
    payer = ctx.text(root, "payer", "payer", required=False, default="province")
    if payer not in _PAYERS:
        raise ctx.fail(root, "payer", "payer", f"one of {', '.join(sorted(_PAYERS))}")
    if payer == "city" and region.endswith("0000"):
        raise ctx.fail(root, "payer", "payer", "a city payer needs a city region (e.g. 340200)")
    not_with = ctx.texts(root, "not_with", "not_with")
    for i, program in enumerate(not_with):
        if not _PROGRAM.match(program):
            raise ctx.fail(root, "not_with", f"not_with[{i}]", f"{program!r} is not a program 'pack/artN'")
    return Pack(
        id=pack_id,
        title_zh=ctx.text(root, "title_zh", "title_zh"),
        title_en=ctx.text(root, "title_en", "title_en"),
        region=region,
        source=ctx.text(root, "source", "source"),
        articles=articles,
        supersedes=supersedes,
        source_file=filename,
        published=ctx.date(root, "published", "published", required=False),
        renumbers=renumbers,
        payer=payer,
        not_with=not_with,
    )


def load_pack(path: str | Path) -> Pack:
    """Read and validate one pack file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"cannot read pack: {exc.strerror}", file=str(p), line=None, key=None) from None
    return parse_pack(text, p.name)


def builtin_pack_dir() -> Path:
    """The directory of the packs shipped inside the package."""
    return Path(__file__).with_name("packs")


def load_pack_set(
    *dirs: str | Path, include_builtin: bool = True, files: Sequence[str | Path] = ()
) -> PackSet:
    """The shipped packs plus every ``*.yaml`` in ``dirs`` (missing directories are skipped) and ``files``."""
    paths: list[Path] = []
    if include_builtin:
        paths.extend(sorted(builtin_pack_dir().glob("*.yaml")))
    for d in dirs:
        p = Path(d)
        if p.is_dir():
            paths.extend(sorted(p.glob("*.yaml")))
    paths.extend(Path(f) for f in files)
    return PackSet(load_pack(p) for p in paths)
