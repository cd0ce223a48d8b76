"""Tiny inline-SVG charts for the self-contained report (no plotting dependency)."""
from __future__ import annotations

from html import escape
from typing import Sequence

FONT = "'WenQuanYi Micro Hei','Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif"
PALETTE = ("#2f6fb0", "#d9822b", "#3a9a5b", "#b03a48", "#7a5ab5", "#8c6d31", "#4b8fa3", "#999999")


def _head(width: int, height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'font-family="{FONT}" font-size="12">',
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
            f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>']


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** (len(str(int(v))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return m * mag
    return 10 * mag


def line_chart(x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
               width: int = 900, height: int = 320, highlight: Sequence[str] = (), highlight_label: str = "") -> str:
    """Lines over shared x labels; `highlight` x labels get a shaded band (e.g. storm days)."""
    left, right, top, bottom = 56, 20, 36, 48
    w, h = width - left - right, height - top - bottom
    vmax = _nice_max(max((max(v) for _, v in series if v), default=1))
    n = max(len(x_labels), 2)
    x = lambda i: left + w * i / (n - 1)  # noqa: E731
    y = lambda v: top + h * (1 - v / vmax)  # noqa: E731
    out = _head(width, height, title)
    index = {lab: i for i, lab in enumerate(x_labels)}
    for lab in highlight:
        if lab in index:
            out.append(f'<rect x="{x(index[lab]) - 2:.1f}" y="{top}" width="4" height="{h}" fill="#f3c6a5" opacity="0.8"/>')
    for k in range(5):
        v = vmax * k / 4
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#555">{v:g}</text>')
    step = max(1, len(x_labels) // 8)
    for i in range(0, len(x_labels), step):
        out.append(f'<text x="{x(i):.1f}" y="{top + h + 18}" text-anchor="middle" fill="#555">{escape(x_labels[i])}</text>')
    for s, (name, values) in enumerate(series):
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        color = PALETTE[s % len(PALETTE)]
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        out.append(f'<rect x="{left + 10 + 150 * s}" y="{height - 16}" width="12" height="4" fill="{color}"/>'
                   f'<text x="{left + 26 + 150 * s}" y="{height - 10}">{escape(name)}</text>')
    if highlight_label and highlight:
        lx = left + 10 + 150 * len(series)
        out.append(f'<rect x="{lx}" y="{height - 20}" width="12" height="12" fill="#f3c6a5"/>'
                   f'<text x="{lx + 16}" y="{height - 10}">{escape(highlight_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, width: int = 900, bar: int = 20,
              value_fmt: str = "{:g}", colors: Sequence[str] | None = None, label_width: int = 230) -> str:
    """Horizontal bars; negative values extend left of a centre axis (diverging chart)."""
    top, bottom, right = 36, 16, 70
    height = top + bottom + bar * len(items) * 1.3
    out = _head(width, int(height), title)
    lo = min([0.0] + [v for _, v in items])
    hi = max([0.0] + [v for _, v in items])
    span = (hi - lo) or 1.0
    w = width - label_width - right
    zero = label_width + w * (-lo / span)
    for i, (label, value) in enumerate(items):
        yy = top + i * bar * 1.3
        x0 = zero if value >= 0 else zero - w * (-value / span)
        color = colors[i] if colors else (PALETTE[0] if value >= 0 else PALETTE[3])
        out.append(f'<text x="{label_width - 8}" y="{yy + bar * 0.72:.1f}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{yy:.1f}" width="{max(w * abs(value) / span, 1):.1f}" height="{bar}" fill="{color}"/>')
        # negative values: the number sits just right of the axis, clear of the category labels
        tx = x0 + w * abs(value) / span + 4 if value >= 0 else zero + 4
        anchor = "start"
        out.append(f'<text x="{tx:.1f}" y="{yy + bar * 0.72:.1f}" text-anchor="{anchor}" fill="#333">'
                   f'{escape(value_fmt.format(value))}</text>')
    out.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top - 4}" y2="{height - bottom}" stroke="#888"/>')
    out.append("</svg>")
    return "".join(out)
