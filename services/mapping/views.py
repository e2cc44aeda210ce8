"""Views of the cluster map for people: CSV downloads and SVG drawings (no plotting library needed)."""

from __future__ import annotations

import io
from html import escape
from typing import Any

from clustergrowth import csvsafe


def map_csv(cells: list[dict[str, Any]], dimensions: list[str]) -> str:
    """One row per cell: counts, stars and their inputs, mean maturity and top-3 share per dimension."""
    out = io.StringIO()
    w = csvsafe.writer(out, lineterminator="\r\n")
    w.writerow(
        [
            "region",
            "sector",
            "smes",
            "assessed_smes",
            "assessments",
            "stars",
            "employment",
            "location_quotient",
            "size_star",
            "specialisation_star",
            "focus_star",
            *[f"mean_{d}" for d in dimensions],
            *[f"top3_{d}" for d in dimensions],
        ]
    )
    for c in cells:
        s = c.get("strength") or {}
        w.writerow(
            [
                c["region"],
                c["sector"],
                c["smes"],
                c["assessed_smes"],
                c["assessments"],
                s.get("stars", 0),
                (s.get("employment") or {}).get("total", 0),
                (s.get("specialisation") or {}).get("location_quotient", ""),
                (s.get("size") or {}).get("star", ""),
                (s.get("specialisation") or {}).get("star", ""),
                (s.get("focus") or {}).get("star", ""),
                *[c["mean_scores"].get(d, "") for d in dimensions],
                *[c["top3_share"].get(d, "") for d in dimensions],
            ]
        )
    return out.getvalue()


def spotlight_csv(spot: dict[str, Any]) -> str:
    """The ranked needs of a spotlight, one row per dimension."""
    out = io.StringIO()
    w = csvsafe.writer(out, lineterminator="\r\n")
    cols = ["dimension", "mean_maturity", "network_mean_maturity", "gap_to_network", "top3_share", "network_top3_share"]
    w.writerow(["region", "council", *cols])
    for n in spot["needs"]:
        w.writerow([spot["region"] or "", spot["council"] or "", *[n[c] for c in cols]])
    withheld = spot.get("suppressed")
    if withheld:  # no figures: the one row says why, in the dimension's column
        w.writerow([spot["region"] or "", spot["council"] or "", f"suppressed: {withheld['reason']}"])
    return out.getvalue()


def _shade(share: float) -> str:
    """White to deep red as more SMEs name the need among their top three."""
    v = max(0.0, min(1.0, share))
    g = int(245 - 190 * v)
    return f"rgb(245,{g},{g})"


def heatmap_svg(rows: dict[str, dict[str, float]], dimensions: list[str], names: dict[str, str]) -> str:
    """Regions x needs; colour and label = share of the region's assessed SMEs with that need in top 3."""
    cw, ch, left, top = 92, 28, 190, 120
    width, height = left + cw * len(dimensions) + 10, top + ch * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12" role="img">',
        "<title>Share of SMEs naming each need in their top three, by region</title>",
    ]
    for j, d in enumerate(dimensions):
        x = left + j * cw + cw / 2
        parts.append(f'<text x="{x}" y="{top - 8}" transform="rotate(-35 {x} {top - 8})">{escape(d)}</text>')
    for i, (region, shares) in enumerate(sorted(rows.items())):
        y = top + i * ch
        parts.append(
            f'<text x="{left - 8}" y="{y + 18}" text-anchor="end">'
            f"{escape(region)} {escape(names.get(region, ''))}</text>"
        )
        for j, d in enumerate(dimensions):
            v = shares.get(d)
            fill = _shade(v) if v is not None else "#eee"
            label = f"{round(v * 100)}%" if v is not None else "–"
            parts.append(
                f'<rect x="{left + j * cw}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="{fill}">'
                f"<title>{escape(region)} {escape(d)}: {label}</title></rect>"
            )
            parts.append(f'<text x="{left + j * cw + cw / 2}" y="{y + 18}" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def bars_svg(title: str, needs: list[dict[str, Any]], suppressed: dict[str, Any] | None = None) -> str:
    """Mean maturity (1-5) per dimension for one region, with the network mean as a tick; without bars,
    the reason, when disclosure control withholds the figures (``suppressed``)."""
    bw, left, top, scale = 26, 190, 40, 80
    height = top + bw * (len(needs) or 1) + 30
    width = left + 5 * scale + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="10" y="20" font-weight="bold">{escape(title)}</text>',
    ]
    if suppressed:
        n, reason = suppressed["assessed_smes"], suppressed["reason"]
        parts.append(f'<text x="10" y="{top + 16}">{escape(f"{n} assessed: {reason}")}</text>')
    for i, n in enumerate(needs):
        y = top + i * bw
        w = n["mean_maturity"] * scale
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(n["dimension"])}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bw - 6}" fill="#4a78b5">'
            f"<title>{escape(n['dimension'])}: {n['mean_maturity']}</title></rect>"
        )
        if n.get("network_mean_maturity") is not None:
            x = left + n["network_mean_maturity"] * scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 2}" y2="{y + bw - 4}" stroke="#000" '
                'stroke-width="2"><title>network mean</title></line>'
            )
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 16}">{n["mean_maturity"]}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
