"""Tenant quotas, metering and budgets (issue 16 items 1 and 4)."""
