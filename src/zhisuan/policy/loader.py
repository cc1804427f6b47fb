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
    GRANTS,
    MEASURES,
    PACK_ID,
    PART_GRANTS,
    PAYEES,
    ArticleVersion,
    AwardRule,
    Check,
    FactSpec,
    Label,
    Pack,
    Parameter,
    Part,
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
    "parts",
}
_PAYERS: Final = frozenset({"province", "city"})
#: a program another pack names in ``not_with``: ``pack-id/artN``
_PROGRAM: Final = re.compile(r"^[a-z0-9][a-z0-9._-]*/art[0-9]+[a-z]?$")
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
    "official_title",
    "issuer",
}


def _rules(
    ctx: Ctx,
    node: MarkedDict,
    path: str,
    facts: Mapping[str, FactSpec],
    params: Mapping[str, Parameter],
    seen: set[str],
) -> tuple[Rule, ...]:
    """The ``eligibility`` list of an article or a part: every rule's check on declared facts."""
    rules: list[Rule] = []
    enode = node.get("eligibility") or MarkedList()
    if not isinstance(enode, MarkedList):
        raise ctx.fail(node, "eligibility", f"{path}.eligibility", "must be a list of rules")
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
    return tuple(rules)


def _labels(ctx: Ctx, node: MarkedDict, key: str, path: str) -> tuple[Label, ...]:
    """A list of short labels written ``中文 / English``."""
    out: list[Label] = []
    for i, text in enumerate(ctx.texts(node, key, path)):
        zh, sep, en = text.partition(" / ")
        if not sep or not zh.strip() or not en.strip():
            raise ctx.fail(node, key, f"{path}[{i}]", "a label is written '中文 / English'")
        out.append(Label(zh.strip(), en.strip()))
    return tuple(out)


_MAIN_PART_KEYS: Final = {"id", "name_zh", "name_en", "main", "gives", "use_of_funds"}
_PART_KEYS: Final = _MAIN_PART_KEYS | {"grants", "lead_unit", "cooperating_units", "eligibility", "evidence"}


def _parts(
    ctx: Ctx,
    node: MarkedDict,
    path: str,
    article: tuple[str, tuple[str, ...], str, tuple[Rule, ...], bool, tuple[str, ...]],
    facts: Mapping[str, FactSpec],
    params: Mapping[str, Parameter],
    seen: set[str],
) -> tuple[Part, ...]:
    """An article's ``parts`` in the order of the text; the ``main`` one is the article's own answer."""
    raw = node.get("parts")
    if raw is None:
        return ()
    ppath = f"{path}.parts"
    if not isinstance(raw, MarkedList) or len(raw) < 2:
        raise ctx.fail(
            node, "parts", ppath, "parts is a list of at least two parts, one of them 'main: true'"
        )
    lead, cooperating, grants, rules, has_award, evidence = article
    parts: list[Part] = []
    for i, item in enumerate(raw):
        ipath = f"{ppath}[{i}]"
        if not isinstance(item, MarkedDict):
            raise ctx.fail(raw, i, ipath, "a part is a mapping {id, name_zh, name_en, ...}")
        main = item.get("main", False)
        if not isinstance(main, bool):
            raise ctx.fail(item, "main", f"{ipath}.main", "must be true or false")
        # the main part's units, conditions and award are the article's own: not repeated here
        ctx.only(item, _MAIN_PART_KEYS if main else _PART_KEYS, ipath)
        pid = ctx.text(item, "id", f"{ipath}.id")
        if pid in seen:
            raise ctx.fail(item, "id", f"{ipath}.id", f"duplicate id {pid!r} (parts and rules share ids)")
        seen.add(pid)
        use = _labels(ctx, item, "use_of_funds", f"{ipath}.use_of_funds")
        if use and not (main and has_award):
            raise ctx.fail(
                item, "use_of_funds", f"{ipath}.use_of_funds", "only the main part of a money article"
            )
        if main:
            # the main part's units, conditions and award are the article's own
            pgrants, own_lead, pcooperating, prules = grants, lead, cooperating, rules
            pevidence = evidence
        else:
            pgrants = ctx.text(item, "grants", f"{ipath}.grants")
            if pgrants not in PART_GRANTS:
                raise ctx.fail(
                    item,
                    "grants",
                    f"{ipath}.grants",
                    f"a part grants one of {', '.join(sorted(PART_GRANTS))}",
                )
            # without its own unit line, a part is handled by the article's units (one line in the text)
            own_lead = ctx.text(item, "lead_unit", f"{ipath}.lead_unit", required=False) or lead
            pcooperating = (
                ctx.texts(item, "cooperating_units", f"{ipath}.cooperating_units")
                if "lead_unit" in item
                else cooperating
            )
            prules = _rules(ctx, item, ipath, facts, params, seen)
            if pgrants == "task" and prules:
                raise ctx.fail(
                    item, "eligibility", f"{ipath}.eligibility", "a task answers no case: no rules"
                )
            pevidence = ctx.texts(item, "evidence", f"{ipath}.evidence")
        part = Part(
            id=pid,
            name_zh=ctx.text(item, "name_zh", f"{ipath}.name_zh"),
            name_en=ctx.text(item, "name_en", f"{ipath}.name_en"),
            main=main,
            grants=pgrants,
            lead_unit=own_lead,
            cooperating_units=pcooperating,
            eligibility=prules,
            gives=_labels(ctx, item, "gives", f"{ipath}.gives"),
            use_of_funds=use,
            evidence=pevidence,
        )
        parts.append(part)
    mains = [p for p in parts if p.main]
    if len(mains) != 1:
        raise ctx.fail(node, "parts", ppath, f"exactly one part is 'main: true' (found {len(mains)})")
    return tuple(parts)


def _article(
    ctx: Ctx, pack_id: str, art: str, node: object, parent: MarkedDict, defaults: Mapping[str, MarkedDict]
) -> ArticleVersion:
    path = f"articles.{art}"
    if not ARTICLE_ID.match(art):
        raise ctx.fail(
            parent, art, path, "article ids look like art1, art2, … (art11a for one of art. 11's programs)"
        )
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

    seen: set[str] = set()
    rules = _rules(ctx, node, path, facts, params, seen)

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
    if grants not in GRANTS:
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
    lead = ctx.text(node, "lead_unit", f"{path}.lead_unit")
    cooperating = ctx.texts(node, "cooperating_units", f"{path}.cooperating_units")
    evidence = ctx.texts(node, "evidence", f"{path}.evidence")
    parts = _parts(
        ctx, node, path, (lead, cooperating, grants, rules, bool(award), evidence), facts, params, seen
    )
    return ArticleVersion(
        pack_id=pack_id,
        article=art,
        name_zh=ctx.text(node, "name_zh", f"{path}.name_zh"),
        name_en=ctx.text(node, "name_en", f"{path}.name_en"),
        effective_from=start,
        effective_to=end,
        lead_unit=lead,
        cooperating_units=cooperating,
        payee=payee,
        evidence=evidence,
        facts=tuple(facts.values()),
        parameters=params,
        eligibility=rules,
        award=tuple(award),
        case_by_case=cbc,
        uplift_location=loc,
        grants=grants,
        measure=measure,
        notes_zh=ctx.text(node, "notes_zh", f"{path}.notes_zh", required=False),
        notes_en=ctx.text(node, "notes_en", f"{path}.notes_en", required=False),
        source_file=ctx.file,
        line=node.line,
        parts=parts,
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
        official_title=ctx.text(root, "official_title", "official_title", required=False) or None,
        issuer=ctx.text(root, "issuer", "issuer", required=False) or None,
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
