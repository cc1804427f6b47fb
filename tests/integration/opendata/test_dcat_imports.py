"""The DCAT-AP export is JSON-LD carrying the mandatory properties; a bad import row writes nothing."""

from __future__ import annotations

import io
import json
import warnings

import pytest
import rdflib
from sqlalchemy import func, select

from tests.conftest import TestDatabase
from tests.factories.opendata import BUREAU, HEFEI, fields
from zhisuan.core.clock import ManualClock
from zhisuan.core.errors import ValidationError
from zhisuan.opendata import catalog, dcat, distributions, imports
from zhisuan.store.models.opendata import DatasetRow

BASE = "https://data.example.gov.cn"


def _expand(term: str, context: dict[str, str]) -> str:
    prefix, _, local = term.partition(":")
    return context[prefix] + local if prefix in context else term


def _nodes(value: object) -> list[dict[str, object]]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]


def test_the_catalog_is_dcat_ap_json_ld_with_the_mandatory_properties(
    db: TestDatabase,
    clock: ManualClock,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    with db.uow() as uow:
        d = catalog.create_dataset(uow, HEFEI, clock, fields(), publish=True)
        distributions.add_distribution(
            uow, HEFEI, clock, tmp_path, str(d["identifier"]), {"format": "CSV"}, b"a,b\n"
        )
        uow.commit()
    with db.uow() as uow:
        found = catalog.find_datasets(uow, None, limit=100)
        full = [catalog.get_dataset(uow, BUREAU, str(x["identifier"])) for x in found["datasets"]]
    doc = json.loads(json.dumps(dcat.catalog_document(full, BASE, None), ensure_ascii=False))
    ctx = doc["@context"]
    assert all(v.startswith("http") for v in ctx.values())

    # every property is a compact IRI of a declared prefix (or a JSON-LD keyword): it expands
    def walk(node: object) -> None:
        for n in _nodes(node):
            for key, value in n.items():
                assert key.startswith("@") or _expand(key, ctx) != key, key
                walk(value)

    walk(doc)
    assert _expand(doc["@type"], ctx) == "http://www.w3.org/ns/dcat#Catalog"
    for prop in ("dct:title", "dct:description", "dct:publisher", "dcat:dataset"):
        assert doc[prop], prop
    assert _nodes(doc["dct:publisher"])[0]["foaf:name"]
    (ds,) = doc["dcat:dataset"]
    assert _expand(ds["@type"], ctx) == "http://www.w3.org/ns/dcat#Dataset"
    assert ds["dct:title"]["@value"] == "合肥市公共交通线路数据" and ds["dct:description"]["@value"]
    assert ds["@id"] == f"{BASE}/opendata/datasets/{d['identifier']}"
    (dist,) = ds["dcat:distribution"]
    assert dist["dcat:accessURL"]["@id"].startswith(BASE + "/api/v1/opendata/distributions/")
    single = dcat.dataset_document(full[0], BASE)
    assert single["@id"] == ds["@id"] and single["@context"] == ctx
    _assert_parses_as_rdf_with_dcat_ap_mandatory_properties(doc, str(ds["@id"]))


def _assert_parses_as_rdf_with_dcat_ap_mandatory_properties(doc: object, dataset_iri: str) -> None:
    """A real JSON-LD processor (rdflib) reads the document into triples with DCAT-AP's musts."""
    dcat_ns = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    dct = rdflib.Namespace("http://purl.org/dc/terms/")
    with warnings.catch_warnings():  # rdflib's own parser warns about its internal ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        graph = rdflib.Graph().parse(data=json.dumps(doc, ensure_ascii=False), format="json-ld")
    (catalog,) = graph.subjects(rdflib.RDF.type, dcat_ns.Catalog)
    for prop in (dct.title, dct.description, dct.publisher, dcat_ns.dataset):
        assert graph.value(catalog, prop) is not None, prop
    dataset = rdflib.URIRef(dataset_iri)
    assert (catalog, dcat_ns.dataset, dataset) in graph
    assert (dataset, rdflib.RDF.type, dcat_ns.Dataset) in graph
    titles = {str(t) for t in graph.objects(dataset, dct.title)}
    assert "合肥市公共交通线路数据" in titles
    assert graph.value(dataset, dct.description) is not None
    (distribution,) = graph.objects(dataset, dcat_ns.distribution)
    assert (distribution, rdflib.RDF.type, dcat_ns.Distribution) in graph
    assert graph.value(distribution, dcat_ns.accessURL) is not None


def test_a_bad_row_is_named_by_line_and_column_and_nothing_is_written(
    db: TestDatabase, clock: ManualClock
) -> None:
    head = "数据集名称,摘要,主题,开放属性,开放条件,格式,更新频率,联系人,联系邮箱,是否发布\n"
    good = "公交站点,站点坐标,交通运输,无条件开放,,CSV,每月,王工,a@b.cn,是\n"
    bad = "医院名录,医院地址,医疗卫生,有条件开放,协议,DOCX,每月,李工,c@d.cn,是\n"
    with db.uow() as uow, pytest.raises(ValidationError) as err:
        imports.import_datasets(uow, HEFEI, clock, (head + good + good + bad).encode(), "catalog.csv")
    assert err.value.row == 4 and err.value.field == "格式"
    with db.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(DatasetRow)).scalar_one() == 0
        out = imports.import_datasets(uow, HEFEI, clock, (head + good + good).encode(), "catalog.csv")
        uow.commit()
    assert out["imported"] == 2
    with db.uow() as uow:
        assert catalog.find_datasets(uow, "站点")["total"] == 2


def test_an_excel_import_reads_the_first_sheet(db: TestDatabase, clock: ManualClock) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "title",
            "description",
            "themes",
            "openness",
            "formats",
            "update_frequency",
            "contact_name",
            "contact_email",
        ]
    )
    ws.append(["地方志全文", "县志全文", "地方志", "unconditional", "PDF", "yearly", "张工", "e@f.cn"])
    ws.append(["档案目录", "馆藏目录", "archives", "sometimes", "CSV", "yearly", "张工", "e@f.cn"])
    buf = io.BytesIO()
    wb.save(buf)
    with db.uow() as uow, pytest.raises(ValidationError) as err:
        imports.import_datasets(uow, HEFEI, clock, buf.getvalue(), "c.xlsx")
    assert (err.value.row, err.value.field) == (3, "openness")
