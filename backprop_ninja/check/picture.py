"""The picture of a wrong gradient's error, drawn for a notebook or an HTML page: its `ErrorMap` as an
inline SVG, blue where the learner's value is below autograd's, red where above, white where they
agree, the worst entry outlined, and a caption that says where it is and by how much.

Plain SVG: no plotting library, no script, and no ids, which two pictures on one page would share.
"""
from __future__ import annotations

import html

from ..engine.results.records import ErrorMap

# The colour scale's ends (ColorBrewer's red-blue), white in between, in as many shades either side
# as the eye tells apart: cells of one shade are drawn as one path, which keeps a page small.
_BELOW, _ABOVE, _WHITE = (33, 102, 172), (178, 24, 43), (255, 255, 255)
_SHADES = 16
_MOST_WIDTH = 480  # pixels the cells take across, at most
_FONT = "font-family='sans-serif' font-size='12'"
_CHARACTER = 7  # pixels a character takes at that size, about: what the labels are given


def shade(value: float, largest: float) -> int:
    """`value`'s shade, from -_SHADES (-largest or below) through 0 (white) to _SHADES (+largest)."""
    return round(_SHADES * max(-1.0, min(1.0, value / largest))) if largest else 0


def colour(level: int) -> str:
    """A shade's colour: white blended towards red above 0, towards blue below."""
    end = _ABOVE if level > 0 else _BELOW
    r, g, b = (round(w + abs(level) / _SHADES * (e - w)) for w, e in zip(_WHITE, end))
    return f"#{r:02x}{g:02x}{b:02x}"


def _number(x: float) -> str:
    return f"{x:.3g}"


def caption(m: ErrorMap) -> str:
    """One line: where the worst entry is, and the two values there."""
    where = ", ".join(map(str, m.worst))
    blocks = ("" if m.block == (1, 1) else
              f" (each cell: the largest of {m.block[0]}×{m.block[1]} entries)" if m.rows else
              f" (each cell: the largest of {m.block[1]} entries)")
    return (f"worst at [{where}]: yours {_number(m.yours)} vs autograd's {_number(m.autograd)}, "
            f"off by {_number(m.yours - m.autograd)}{blocks}")


def render_picture(name: str, m: ErrorMap) -> str:
    """`name`'s error map as a figure: the SVG, then its caption."""
    down, across = len(m.cells), len(m.cells[0])
    size = max(6, min(16, _MOST_WIDTH // across))  # pixels per cell, square
    left, top = (34 if m.rows else 10), 40
    width, height = across * size, down * size
    heading = f"{name}: yours − autograd's"
    parts = [f"<text x='{left}' y='14' {_FONT} font-weight='bold'>{_escape(heading)}</text>"]
    if _CHARACTER * len(m.columns) < width:
        parts.append(f"<text x='{left + width / 2}' y='{top - 8}' {_FONT} text-anchor='middle'>"
                     f"{_escape(m.columns)}</text>")
    else:  # wider than the cells: from their left edge
        parts.append(f"<text x='{left}' y='{top - 8}' {_FONT}>{_escape(m.columns)}</text>")
    if m.rows:
        middle = top + height / 2
        parts.append(f"<text x='14' y='{middle}' {_FONT} text-anchor='middle' "
                     f"transform='rotate(-90 14 {middle})'>{_escape(m.rows)}</text>")
    parts.append(f"<rect x='{left}' y='{top}' width='{width}' height='{height}' fill='{colour(0)}' stroke='#999'/>")
    # The cells in a frame of their own, one unit each, stretched to `size` pixels.
    parts.append(f"<svg x='{left}' y='{top}' width='{width}' height='{height}' viewBox='0 0 {across} {down}' "
                 f"preserveAspectRatio='none' shape-rendering='crispEdges'>{_shaded(m)}</svg>")
    worst_row, worst_column = m.worst_cell
    parts.append(f"<rect x='{left + worst_column * size - 1}' y='{top + worst_row * size - 1}' "
                 f"width='{size + 2}' height='{size + 2}' fill='none' stroke='black' stroke-width='2'/>")
    scale, scale_right = _scale(m.largest, left + width + 16, top, max(height, 132))
    width_needed = max(scale_right, left + _CHARACTER * len(heading))
    svg_height = top + max(height, 132) + 4
    title = f"{heading}; {caption(m)}"
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width_needed}' height='{svg_height}' "
           f"viewBox='0 0 {width_needed} {svg_height}' role='img'><title>{_escape(title)}</title>"
           + "".join(parts) + scale + "</svg>")
    return (f"<figure class='error-map' style='margin: 1em 0'>{svg}"
            f"<figcaption>{_escape(name)}: {_escape(caption(m))}</figcaption></figure>")


def _shaded(m: ErrorMap) -> str:
    """The cells that are not white, as one path per shade, a rectangle per run of a shade along a row."""
    runs: dict[int, list[str]] = {}
    for i, row in enumerate(m.cells):
        levels = [shade(value, m.largest) for value in row]
        j = 0
        while j < len(levels):
            end = j
            while end + 1 < len(levels) and levels[end + 1] == levels[j]:
                end += 1
            if levels[j]:
                runs.setdefault(levels[j], []).append(f"M{j} {i}h{end + 1 - j}v1h-{end + 1 - j}z")
            j = end + 1
    return "".join(f"<path fill='{colour(level)}' d='{''.join(d)}'/>" for level, d in sorted(runs.items()))


def _scale(largest: float, x: int, top: int, height: int) -> tuple[str, int]:
    """The colour scale, a band per shade from +largest at the top to -largest at the bottom, with
    its ends and 0 labelled; and the x its labels reach to."""
    band = height / (2 * _SHADES + 1)
    parts = [f"<rect x='{x}' y='{top + k * band:.1f}' width='12' height='{band + 0.5:.1f}' "
             f"fill='{colour(_SHADES - k)}'/>" for k in range(2 * _SHADES + 1)]
    labels = [(_number(largest), top + 10), ("0", top + height / 2 + 4), (_number(-largest), top + height)]
    parts += [f"<text x='{x + 16}' y='{y:.1f}' {_FONT}>{_escape(text)}</text>" for text, y in labels]
    return "".join(parts), x + 16 + _CHARACTER * max(len(text) for text, _ in labels)


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
