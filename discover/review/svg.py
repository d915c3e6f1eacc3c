"""Small inline SVG charts (no JS, no external assets): a line chart for best-so-far scores and a stacked bar chart
for candidate outcomes per generation. All text is escaped; sizes are in CSS pixels and the SVGs scale to width."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\""
CHAR_W = 6.6  # rough width of one 11px character, for laying out legends


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str
    step: bool = True                   # best-so-far: holds its value until the next improvement


@dataclass(frozen=True)
class HLine:
    name: str
    y: float
    color: str = "#8a8f98"


@dataclass
class _Frame:
    width: int
    height: int
    left: int = 64
    right: int = 18
    top: int = 34
    bottom: int = 46
    legend_rows: int = 0
    parts: list[str] = field(default_factory=list)

    @property
    def plot_top(self) -> int:
        return self.top + 16 * self.legend_rows

    def x(self, v: float, lo: float, hi: float) -> float:
        return self.left + (v - lo) / (hi - lo) * (self.width - self.left - self.right)

    def y(self, v: float, lo: float, hi: float) -> float:
        return self.height - self.bottom - (v - lo) / (hi - lo) * (self.height - self.bottom - self.plot_top)


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1, round(step))
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(v, 12))
    return ticks


def _num(v: float) -> str:
    return f"{v:.4g}"


def _legend(items: list[tuple[str, str, bool]], width: int, left: int, top: int) -> tuple[list[str], int]:
    """Legend entries (name, color, dashed) flowed into rows; returns the SVG parts and the number of rows."""
    parts, x, row = [], left, 0
    for name, color, dashed in items:
        w = 26 + CHAR_W * len(name) + 14
        if x + w > width - 8 and x > left:
            x, row = left, row + 1
        y = top + 16 * row
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 20:.1f}" y2="{y - 4}" stroke="{color}" stroke-width="2"{dash}/>'
                     f'<text x="{x + 25:.1f}" y="{y}" font-size="11" fill="#333" {FONT}>{escape(name)}</text>')
        x += w
    return parts, row + 1 if items else 0


def _axes(f: _Frame, xt: list[float], yt: list[float], x_label: str, y_label: str) -> None:
    xlo, xhi, ylo, yhi = xt[0], xt[-1], yt[0], yt[-1]
    bottom = f.height - f.bottom
    for v in yt:
        y = f.y(v, ylo, yhi)
        f.parts.append(f'<line x1="{f.left}" y1="{y:.1f}" x2="{f.width - f.right}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                       f'<text x="{f.left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555" {FONT}>{_num(v)}</text>')
    for v in xt:
        x = f.x(v, xlo, xhi)
        f.parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#555"/>'
                       f'<text x="{x:.1f}" y="{bottom + 16}" font-size="11" text-anchor="middle" fill="#555" {FONT}>{_num(v)}</text>')
    f.parts.append(f'<line x1="{f.left}" y1="{bottom}" x2="{f.width - f.right}" y2="{bottom}" stroke="#555"/>'
                   f'<line x1="{f.left}" y1="{f.plot_top}" x2="{f.left}" y2="{bottom}" stroke="#555"/>')
    mid_x = (f.left + f.width - f.right) / 2
    mid_y = (f.plot_top + bottom) / 2
    f.parts.append(f'<text x="{mid_x:.1f}" y="{f.height - 8}" font-size="12" text-anchor="middle" fill="#333" {FONT}>{escape(x_label)}</text>'
                   f'<text x="14" y="{mid_y:.1f}" font-size="12" text-anchor="middle" fill="#333" {FONT} '
                   f'transform="rotate(-90 14 {mid_y:.1f})">{escape(y_label)}</text>')


def _open(f: _Frame, title: str, kind: str) -> None:
    f.parts.append(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" viewBox="0 0 {f.width} {f.height}" '
                   f'width="100%" role="img" aria-label="{escape(title)}">'
                   f'<rect width="{f.width}" height="{f.height}" fill="#fff"/>'
                   f'<text x="{f.left}" y="18" font-size="13" font-weight="600" fill="#111" {FONT}>{escape(title)}</text>')


def _empty(f: _Frame, message: str) -> str:
    f.parts.append(f'<text x="{f.width / 2}" y="{f.height / 2}" font-size="13" text-anchor="middle" fill="#777" {FONT}>'
                   f'{escape(message)}</text></svg>')
    return "".join(f.parts)


def line_chart(series: list[Series], *, title: str, x_label: str, y_label: str, hlines: list[HLine] = (),  # type: ignore[assignment]
               integer_x: bool = False, width: int = 560, height: int = 320) -> str:
    f = _Frame(width, height)
    _open(f, title, "line-chart")
    pts = [p for s in series for p in s.points]
    if not pts:
        return _empty(f, "no scored candidates")
    legend, f.legend_rows = _legend([(s.name, s.color, False) for s in series] + [(h.name, h.color, True) for h in hlines],
                                    width, f.left, f.top)
    f.parts.extend(legend)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts] + [h.y for h in hlines]
    xt = nice_ticks(min(xs), max(xs), 6, integer=integer_x)
    span = max(ys) - min(ys)
    pad = span * 0.05 if span else max(1.0, abs(ys[0]) * 0.1)
    lo = min(ys) - pad
    if min(ys) >= 0:
        lo = max(lo, 0.0)  # do not invent negative territory for scores that never go there
    yt = nice_ticks(lo, max(ys) + pad, 5)
    _axes(f, xt, yt, x_label, y_label)
    xlo, xhi, ylo, yhi = xt[0], xt[-1], yt[0], yt[-1]
    for h in hlines:
        y = f.y(h.y, ylo, yhi)
        f.parts.append(f'<line x1="{f.left}" y1="{y:.1f}" x2="{width - f.right}" y2="{y:.1f}" stroke="{h.color}" '
                       f'stroke-width="1.5" stroke-dasharray="5 3"><title>{escape(h.name)}: {_num(h.y)}</title></line>')
    for s in series:
        ordered = sorted(s.points)
        if not ordered:
            continue
        d = [f"M{f.x(ordered[0][0], xlo, xhi):.1f},{f.y(ordered[0][1], ylo, yhi):.1f}"]
        for x, y in ordered[1:]:
            if s.step:
                d.append(f"H{f.x(x, xlo, xhi):.1f}V{f.y(y, ylo, yhi):.1f}")
            else:
                d.append(f"L{f.x(x, xlo, xhi):.1f},{f.y(y, ylo, yhi):.1f}")
        f.parts.append(f'<path d="{"".join(d)}" fill="none" stroke="{s.color}" stroke-width="2.2"/>')
        for x, y in ordered:
            f.parts.append(f'<circle cx="{f.x(x, xlo, xhi):.1f}" cy="{f.y(y, ylo, yhi):.1f}" r="3" fill="{s.color}">'
                           f'<title>{escape(s.name)}: {_num(y)} at {_num(x)}</title></circle>')
    f.parts.append("</svg>")
    return "".join(f.parts)


def stacked_bars(groups: list[str], stacks: list[dict[str, int]], categories: list[tuple[str, str]], *, title: str,
                 x_label: str, y_label: str, width: int = 560, height: int = 320) -> str:
    """One bar per group; each bar stacks the counts of `categories` (name, color) in order, bottom up."""
    f = _Frame(width, height)
    _open(f, title, "bar-chart")
    if not groups:
        return _empty(f, "no candidates")
    legend, f.legend_rows = _legend([(n, c, False) for n, c in categories], width, f.left, f.top)
    f.parts.extend(legend)
    top = max(1, max(sum(s.values()) for s in stacks))
    yt = nice_ticks(0, top, 5, integer=True)
    ylo, yhi = yt[0], yt[-1]
    bottom = height - f.bottom
    slot = (width - f.left - f.right) / len(groups)
    bar = min(48.0, slot * 0.7)
    for v in yt:
        y = f.y(v, ylo, yhi)
        f.parts.append(f'<line x1="{f.left}" y1="{y:.1f}" x2="{width - f.right}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                       f'<text x="{f.left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555" {FONT}>{_num(v)}</text>')
    every = max(1, math.ceil(len(groups) * 24 / (width - f.left - f.right)))  # thin out labels of many bars
    for i, (g, counts) in enumerate(zip(groups, stacks)):
        cx = f.left + slot * (i + 0.5)
        base = 0
        for name, color in categories:
            n = counts.get(name, 0)
            if not n:
                continue
            y0, y1 = f.y(base, ylo, yhi), f.y(base + n, ylo, yhi)
            f.parts.append(f'<rect x="{cx - bar / 2:.1f}" y="{y1:.1f}" width="{bar:.1f}" height="{y0 - y1:.1f}" fill="{color}">'
                           f'<title>{escape(str(g))}: {n} {escape(name)}</title></rect>')
            base += n
        if i % every == 0:
            f.parts.append(f'<text x="{cx:.1f}" y="{bottom + 16}" font-size="11" text-anchor="middle" fill="#555" {FONT}>'
                           f'{escape(str(g))}</text>')
    mid_x = (f.left + width - f.right) / 2
    mid_y = (f.plot_top + bottom) / 2
    f.parts.append(f'<line x1="{f.left}" y1="{bottom}" x2="{width - f.right}" y2="{bottom}" stroke="#555"/>'
                   f'<text x="{mid_x:.1f}" y="{height - 8}" font-size="12" text-anchor="middle" fill="#333" {FONT}>{escape(x_label)}</text>'
                   f'<text x="14" y="{mid_y:.1f}" font-size="12" text-anchor="middle" fill="#333" {FONT} '
                   f'transform="rotate(-90 14 {mid_y:.1f})">{escape(y_label)}</text></svg>')
    return "".join(f.parts)
