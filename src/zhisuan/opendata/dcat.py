"""The catalog in standard forms: DCAT-AP JSON-LD (the catalog and each dataset at a stable address),
and CSV and Excel exports with Chinese headers.

DCAT-AP's mandatory properties are carried: a catalog's ``dct:title``, ``dct:description``,
``dct:publisher`` and ``dcat:dataset``; a dataset's ``dct:title`` and ``dct:description``; a
distribution's ``dcat:accessURL``; an agent's ``foaf:name``. Recommended ones follow where the record
has them (contact point, keywords, themes, issued and modified dates, access rights, frequency).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from zhisuan.opendata import model as m

CONTEXT: Mapping[str, str] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "adms": "http://www.w3.org/ns/adms#",
}
FREQUENCY_BASE = "http://publications.europa.eu/resource/authority/frequency/"
ACCESS_RIGHTS_BASE = "http://publications.europa.eu/resource/authority/access-right/"
ACCESS_RIGHTS = {"unconditional": "PUBLIC", "conditional": "RESTRICTED", "not_open": "NON_PUBLIC"}
CATALOG_TITLE = {"zh": "安徽省公共数据开放清单", "en": "Anhui public open-data catalog"}


def _lang(value: str, lang: str = "zh") -> dict[str, str]:
    return {"@value": value, "@language": lang}


def dataset_node(d: Mapping[str, Any], base: str) -> dict[str, object]:
    """One dataset (``catalog.dataset_dict`` with its distributions) as a DCAT-AP node."""
    ident = str(d["identifier"])
    iri = f"{base}/opendata/datasets/{ident}"
    node: dict[str, object] = {
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": ident,
        "dct:title": _lang(str(d["title"])),
        "dct:description": _lang(str(d["description"])),
        "dct:publisher": {
            "@id": f"{base}/opendata/publishers/{d['publisher']}",
            "@type": "foaf:Agent",
            "foaf:name": _lang(str(d["publisher_name"])),
        },
        "dcat:contactPoint": {
            "@type": "vcard:Kind",
            "vcard:fn": str(d["contact_name"]),
            "vcard:hasEmail": {"@id": f"mailto:{d['contact_email']}"},
        },
        "dcat:keyword": [_lang(str(k)) for k in d.get("keywords", []) or []],
        "dcat:theme": [
            {"@id": f"{base}/opendata/themes/{t}", "dct:title": _lang(m.THEMES[str(t)][0])}
            for t in d.get("themes", []) or []
            if str(t) in m.THEMES
        ],
        "dct:accessRights": {"@id": ACCESS_RIGHTS_BASE + ACCESS_RIGHTS[str(d["openness"])]},
        "dct:accrualPeriodicity": {
            "@id": FREQUENCY_BASE + m.FREQUENCIES.get(str(d["update_frequency"]), ("", "UNKNOWN"))[1]
        },
        "dct:modified": {"@value": str(d["modified_at"])[:10], "@type": "xsd:date"},
        "dcat:landingPage": {"@id": iri},
    }
    if d.get("issued_on"):
        node["dct:issued"] = {"@value": str(d["issued_on"]), "@type": "xsd:date"}
    if d.get("conditions"):
        node["adms:note"] = _lang(str(d["conditions"]))
    dists = d.get("distributions") or []
    node["dcat:distribution"] = [
        {
            "@id": f"{iri}#distribution-{x['id']}",
            "@type": "dcat:Distribution",
            "dct:title": _lang(str(x["title"])),
            "dcat:accessURL": {
                "@id": str(x["access_url"] or f"{base}/api/v1/opendata/distributions/{x['id']}/download")
            },
            "dct:format": str(x["format"]),
            "dcat:mediaType": str(x["media_type"]),
            **(
                {"dcat:byteSize": {"@value": str(x["byte_size"]), "@type": "xsd:decimal"}}
                if x.get("byte_size")
                else {}
            ),
        }
        for x in dists
    ]
    return node


def dataset_document(d: Mapping[str, Any], base: str) -> dict[str, object]:
    """A dataset's own JSON-LD document (its stable address: ``/opendata/datasets/ID.jsonld``)."""
    return {"@context": dict(CONTEXT), **dataset_node(d, base)}


def catalog_document(
    datasets: Sequence[Mapping[str, Any]], base: str, modified: str | None
) -> dict[str, object]:
    """The whole published catalog as one DCAT-AP JSON-LD document."""
    doc: dict[str, object] = {
        "@context": dict(CONTEXT),
        "@id": f"{base}/api/v1/opendata/catalog.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": [_lang(CATALOG_TITLE["zh"]), _lang(CATALOG_TITLE["en"], "en")],
        "dct:description": [
            _lang("安徽省各市和省直部门开放的公共数据目录（政策第三条）"),
            _lang("Public data opened by Anhui's cities and provincial departments (art. 3)", "en"),
        ],
        "dct:publisher": {
            "@id": f"{base}/opendata/publishers/data-bureau",
            "@type": "foaf:Agent",
            "foaf:name": _lang("安徽省数据资源管理局"),
        },
        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/ZHO"},
        "foaf:homepage": {"@id": f"{base}/opendata"},
        "dcat:dataset": [dataset_node(d, base) for d in datasets],
    }
    if modified:
        doc["dct:modified"] = {"@value": modified[:10], "@type": "xsd:date"}
    return doc


HEADERS_ZH = (
    "标识符",
    "数据集名称",
    "摘要",
    "发布单位",
    "主题",
    "开放属性",
    "开放条件",
    "格式",
    "更新频率",
    "数据量（条）",
    "联系人",
    "联系邮箱",
    "首次开放日期",
    "更新时间",
)
HEADERS_EN = (
    "identifier",
    "title",
    "description",
    "publisher",
    "themes",
    "openness",
    "conditions",
    "formats",
    "update_frequency",
    "records",
    "contact_name",
    "contact_email",
    "issued_on",
    "modified_at",
)


def _row(d: Mapping[str, Any]) -> list[object]:
    return [
        d["identifier"],
        d["title"],
        d["description"],
        d["publisher_name"],
        "、".join(d["themes_zh"]),
        d["openness_zh"],
        d["conditions"],
        "、".join(d["formats"]),
        d["update_frequency_zh"],
        "" if d["records"] is None else d["records"],
        d["contact_name"],
        d["contact_email"],
        d["issued_on"] or "",
        str(d["modified_at"])[:19],
    ]


def catalog_csv(datasets: Sequence[Mapping[str, Any]]) -> bytes:
    """The catalog as CSV (UTF-8 with BOM, Chinese headers)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADERS_ZH)
    writer.writerows(_row(d) for d in datasets)
    return ("\ufeff" + buf.getvalue()).encode()


def catalog_xlsx(datasets: Sequence[Mapping[str, Any]]) -> bytes:
    """The catalog as an Excel workbook (Chinese headers)."""
    from openpyxl import Workbook  # imported on use: slow to import

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "开放清单"
    ws.append(list(HEADERS_ZH))
    for d in datasets:
        ws.append(_row(d))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


__all__ = [
    "CONTEXT",
    "HEADERS_EN",
    "HEADERS_ZH",
    "catalog_csv",
    "catalog_document",
    "catalog_xlsx",
    "dataset_document",
    "dataset_node",
]
