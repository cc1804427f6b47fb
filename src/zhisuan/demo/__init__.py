"""`zhisuan demo`: a fresh platform on realistic data, each context adding its own step.

The demo is a client of the contexts, like the CLI: it imports them and none of them imports it (the
layering test holds that). Steps run in order inside one process; each takes the platform (its
settings say which real engines to add) and returns lines worth printing (logins, figures).

* :mod:`.organizations` — compute-user organizations and an account for every role;
* :mod:`.compute` — operators, centers, pools, quotas and a replayed history;
* :mod:`.engines` — centers on the machine's own Slurm and Ray (``ZHISUAN_DEMO_ENGINES``);
* :mod:`.metering` — usage billed, paid and settled with compute vouchers (art. 2);
* :mod:`.publishing` — the province confirms 2.0 art. 3 (two users) and the provisional months pay;
* :mod:`.awards` — calls, applications in every state, the public notice, budgets, paid batches;
* :mod:`.opendata` — the open-data catalog, sharing requests, a published bulletin, suppliers (art. 3, 4);
* :mod:`.registries` — the art. 6–15 registries, published scenario bulletins, parks' shares, a fund and
  its sub-funds, matching for an introduced enterprise before and after its pool fills up;
* :mod:`.policy` — the packs in force and a few "what would I get?" answers.
"""

from __future__ import annotations

from collections.abc import Callable

from zhisuan.bootstrap import Platform
from zhisuan.demo.awards import administer_awards
from zhisuan.demo.compute import load_compute
from zhisuan.demo.engines import attach_local_engines
from zhisuan.demo.metering import bill_and_settle
from zhisuan.demo.opendata import publish_catalog
from zhisuan.demo.organizations import DEMO_ADMIN, DEMO_PASSWORD, load_organizations
from zhisuan.demo.policy import show_policies
from zhisuan.demo.publishing import confirm_and_resettle
from zhisuan.demo.registries import load_registries

Step = Callable[[Platform], list[str]]


def steps() -> list[tuple[str, Step]]:
    """Every context's demo step, in order (one line each)."""
    return [
        ("organizations and accounts", load_organizations),
        ("compute centers, pools, quotas and a replayed history", load_compute),
        ("real engines (ZHISUAN_DEMO_ENGINES)", attach_local_engines),
        ("usage billed, paid and settled (compute vouchers, art. 2)", bill_and_settle),
        ("2.0 art. 3 confirmed (publish, approve) and its months settled again", confirm_and_resettle),
        ("awards: calls, applications, review, public notice, budgets and payment", administer_awards),
        ("open data: catalog, requests, the quarter's bulletin, data suppliers (art. 3, 4)", publish_catalog),
        ("registries, scenario bulletins and matching (art. 6–15)", load_registries),
        ('policy packs and "what would I get?" examples', show_policies),
    ]


__all__ = ["DEMO_ADMIN", "DEMO_PASSWORD", "Step", "steps"]
