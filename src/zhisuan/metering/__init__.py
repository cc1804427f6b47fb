"""Metering: usage records, pricing, reconciliation, monthly bills and compute-voucher settlement.

By stage: :mod:`~zhisuan.metering.rates` (the rate card), :mod:`~zhisuan.metering.usage_file` and
:mod:`~zhisuan.metering.usage` (usage files; pricing and storing records), :mod:`~zhisuan.metering.collect`
(compute's finished runs, read once each), :mod:`~zhisuan.metering.reconcile` (observed against
reported, disputes), :mod:`~zhisuan.metering.billing` (draft: select → price → write),
:mod:`~zhisuan.metering.bills` and :mod:`~zhisuan.metering.bill_export` (issue, pay, void, read, export),
:mod:`~zhisuan.metering.settlement` (art. 2 vouchers), :mod:`~zhisuan.metering.postings` (the ledger
postings metering makes) and :mod:`~zhisuan.metering.reports`. The pure core is
:mod:`~zhisuan.metering.model`, :mod:`~zhisuan.metering.bill_lines` and :mod:`~zhisuan.metering.vouchers`.

Every service takes a unit of work already entered and never commits: the caller commits once.
"""

from zhisuan.metering.bill_export import export_bill
from zhisuan.metering.billing import DraftResult, draft_bills
from zhisuan.metering.bills import bill_detail, issue_bills, list_bills, pay_all, pay_bill, void_bill
from zhisuan.metering.collect import collect_runs
from zhisuan.metering.rates import policy_edges, rate_card, set_discount, set_pool_rate
from zhisuan.metering.reconcile import list_disputes, observed_runs, reconcile_month, resolve_dispute
from zhisuan.metering.reports import monthly_totals, revenue_by_month
from zhisuan.metering.settlement import (
    SettlementResult,
    budget_burn,
    list_vouchers,
    policy_evaluator,
    settle_vouchers,
)
from zhisuan.metering.usage import (
    ImportResult,
    import_usage,
    list_usage,
    store_records,
    store_rows,
    usage_summary,
)
from zhisuan.metering.usage_file import USAGE_COLUMNS, read_observed_file, read_usage_file

__all__ = [
    "USAGE_COLUMNS",
    "DraftResult",
    "ImportResult",
    "SettlementResult",
    "bill_detail",
    "budget_burn",
    "collect_runs",
    "draft_bills",
    "export_bill",
    "import_usage",
    "issue_bills",
    "list_bills",
    "list_disputes",
    "list_usage",
    "list_vouchers",
    "monthly_totals",
    "observed_runs",
    "pay_all",
    "pay_bill",
    "policy_edges",
    "policy_evaluator",
    "rate_card",
    "read_observed_file",
    "read_usage_file",
    "reconcile_month",
    "resolve_dispute",
    "revenue_by_month",
    "set_discount",
    "set_pool_rate",
    "settle_vouchers",
    "store_records",
    "store_rows",
    "usage_summary",
    "void_bill",
]
