"""What every bench prints: ratios with their spread (median, min-max, n), the load average, and a
plain-text table next to the JSON.
"""

from __future__ import annotations

import os
import statistics
from typing import Any


def load() -> str:
    """The 1/5/15-minute load average: the machine is shared, so every figure carries it."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spread(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Median, min, max and n of per-round values (ratios or rates)."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def spread_text(s: dict[str, Any]) -> str:
    return f"{s['median']} [{s['min']}-{s['max']}, n={s['n']}]"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
