from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from zhisuan.compute.province import load_province, parse_province
from zhisuan.core.errors import NotFoundError, ValidationError


def test_demo_province_is_a_few_thousand_cards_of_mixed_accelerators() -> None:
    demo = load_province("demo")
    assert 2000 <= demo.cards <= 5000
    models = {p.accelerator_key for p in demo.pools}
    assert {
        "h100-sxm5-80gb",
        "a100-sxm4-80gb",
        "ascend-910b3",
        "hygon-dcu-k100-ai",
        "kunlunxin-p800",
    } <= models
    assert any(p.accelerator.domestic for p in demo.pools)
    assert {c.city for c in demo.centers} >= {"340100", "340200", "340400", "341300"}
    # the widest Philly jobs (128 GPUs) fit on some pool
    assert max(p.cards for p in demo.pools) >= 128
    for p in demo.pools:
        assert 7 <= float(p.price.exact) <= 30


def test_demo_maps_every_philly_virtual_cluster_to_an_org() -> None:
    demo = load_province("demo")
    clusters = [
        "6214e9",
        "11cb48",
        "6c71a0",
        "b436b2",
        "103959",
        "ee9e8c",
        "0e4a51",
        "ed69ec",
        "7f04ca",
        "2869ce",
        "e13805",
        "23dbec",
        "51b7ef",
        "925e2b",
        "795a4c",
    ]
    orgs = {demo.org_for(f"vc-{c}") for c in clusters}
    assert len(orgs) == 15
    assert orgs <= {o.id for o in demo.orgs}


def test_an_operator_that_is_also_a_user_is_recognised_for_self_use() -> None:
    demo = load_province("demo")
    feixing = demo.center("hf-feixing")
    assert all(p.operator == "iflytek" for p in feixing.pools)


def _demo() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("zhisuan.compute").joinpath("provinces", "demo.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["centers"][1]["pools"][0].update(nodes=0), "centers[1].pools[0].nodes"),
        (
            lambda d: d["centers"][0]["pools"][0].update(accelerator="gtx-1080"),
            "centers[0].pools[0].accelerator",
        ),
        (lambda d: d["centers"][2]["pools"][1].update(price=12.5), "centers[2].pools[1].price"),
        (lambda d: d["centers"][2]["pools"][1].update(engine="lsf"), "centers[2].pools[1].engine"),
        (lambda d: d["centers"][0].update(city="999999"), "centers[0].city"),
        (
            lambda d: d["centers"][0]["operator"].update(credit_code="91340100MAAY4CL12B"),
            "centers[0].operator.credit_code",
        ),
        (lambda d: d["centers"][0].pop("pools"), "centers[0].pools"),
        (lambda d: d["centers"][3]["pools"][0].update(colour="red"), "centers[3].pools[0].colour"),
        (lambda d: d["orgs"][0].update(quota={"max_cards": -1}), "orgs[0].quota.max_cards"),
        (lambda d: d["centers"][6]["pools"][0]["bands"][0].update(to=30), "centers[6].pools[0].bands[0].to"),
    ],
)
def test_province_errors_name_the_key(mutate: Any, field: str) -> None:
    data = _demo()
    mutate(data)
    with pytest.raises((ValidationError, NotFoundError)) as exc:
        parse_province(data)
    assert exc.value.field == field


def test_a_province_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(
        "centers:\n"
        "  - id: c\n    name: C\n    city: '340100'\n    operator: {name: Op}\n"
        "    pools: [{id: p, accelerator: a100-sxm4-80gb, nodes: 2, cards_per_node: 8, price: '10'}]\n",
        "utf-8",
    )
    prov = load_province(path)
    assert prov.key == "mini"
    assert prov.cards == 16
    with pytest.raises(NotFoundError):
        load_province(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("centers: [\n", "utf-8")
    with pytest.raises(ValidationError) as exc:
        load_province(bad)
    assert exc.value.row is not None
