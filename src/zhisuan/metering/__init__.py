"""Metering: usage records, pricing, reconciliation, monthly bills and compute-voucher settlement."""
