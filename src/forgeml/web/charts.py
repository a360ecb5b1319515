"""Server-rendered SVG charts (no script, no CDN): horizontal bars of money per label, with an
optional budget line. `Markup.format` escapes every value (tag values and names are tenant text)."""

from __future__ import annotations

from markupsafe import Markup

BAR_H, GAP, LABEL_W, BAR_W = 22, 6, 150, 320

_OPEN = Markup(
    '<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
    'xmlns="http://www.w3.org/2000/svg"><title>{title}</title>'
)
_BAR = Markup(
    '<text x="{lx}" y="{ty}" text-anchor="end" class="chart-label">{short}</text>'
    '<rect x="{x}" y="{y}" width="{bw}" height="{bh}" class="chart-bar">'
    "<title>{label}: {money}</title></rect>"
    '<text x="{vx}" y="{ty}" class="chart-value">{money}</text>'
)
_BUDGET = Markup(
    '<line x1="{x}" y1="0" x2="{x}" y2="{h}" class="chart-budget">'
    "<title>budget {money}</title></line>"
)


def money_bars(
    items: list[tuple[str, float]], currency: str, budget: float | None = None, title: str = ""
) -> Markup:
    """One bar per (label, amount); `budget` draws a dashed line at that amount."""
    if not items:
        return Markup("")
    top = max([a for _, a in items] + [budget or 0.0]) or 1.0
    height = len(items) * (BAR_H + GAP) + GAP
    parts = [_OPEN.format(w=LABEL_W + BAR_W + 110, h=height, title=title)]
    for i, (label, amount) in enumerate(items):
        y = GAP + i * (BAR_H + GAP)
        w = max(1.0, amount / top * BAR_W) if amount > 0 else 0.0
        parts.append(
            _BAR.format(
                lx=LABEL_W - 8, ty=y + 15, short=label[:24], x=LABEL_W, y=y, bw=f"{w:.1f}",
                bh=BAR_H, label=label, money=f"{amount:.2f} {currency}",
                vx=f"{LABEL_W + w + 6:.1f}",
            )
        )  # fmt: skip
    if budget:
        x = f"{LABEL_W + budget / top * BAR_W:.1f}"
        parts.append(_BUDGET.format(x=x, h=height, money=f"{budget:.2f} {currency}"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
