"""The report's ``equity.png``: the equity curve over the drawdown, drawn with Pillow.

Two panels sharing the time axis: the equity in dollars (a line) and the drawdown from the
running peak in percent (filled, step after each value), each with a light grid, round-number
tick labels and its axis label, the title on top and the dates below. Pillow draws it in a few
hundredths of a second (matplotlib takes about half a second to import and draw it); the
picture is drawn at twice the size and scaled down, which smooths the lines.
"""

from __future__ import annotations

import importlib.util
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["HEIGHT", "WIDTH", "equity_png", "nice_ticks"]

WIDTH, HEIGHT = 900, 540
_S = 2  # drawn at twice the size, then scaled down (smooth lines and text)
_EQUITY, _DRAWDOWN_LINE = (31, 119, 180), (214, 39, 40)
_DRAWDOWN_FILL = (234, 147, 147)  # the drawdown red at half strength on white
_GRID, _AXIS, _TEXT = (225, 225, 225), (80, 80, 80), (20, 20, 20)


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Return round numbers (steps of 1, 2, 2.5 or 5 times a power of ten) covering
    ``[lo, hi]``, at most ``most`` of them inside it."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, most - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def _date_ticks(t0: float, t1: float) -> list[tuple[float, str]]:
    """Return (epoch seconds, label) at year starts, or month starts on a short span, or
    days on a span of days."""
    start = datetime.fromtimestamp(t0, UTC)
    end = datetime.fromtimestamp(t1, UTC)
    days = (t1 - t0) / 86400.0
    out: list[tuple[float, str]] = []
    if days > 3 * 365:
        step = max(1, math.ceil((end.year - start.year + 1) / 9))
        for y in range(start.year, end.year + 1):
            if y % step == 0:
                out.append((datetime(y, 1, 1, tzinfo=UTC).timestamp(), str(y)))
    elif days > 60:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        step = max(1, math.ceil(months / 8))
        y, m = start.year, start.month
        while (y, m) <= (end.year, end.month):
            if (m - 1) % step == 0:
                out.append((datetime(y, m, 1, tzinfo=UTC).timestamp(), f"{y}-{m:02d}"))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    else:
        step_s = 86400.0 * max(1, math.ceil(days / 8))
        t = math.ceil(t0 / 86400.0) * 86400.0
        while t <= t1:
            out.append((t, datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")))
            t += step_s
    return [(t, s) for t, s in out if t0 <= t <= t1]


@cache
def _font_file() -> str | None:
    # DejaVu Sans as matplotlib ships it, found without importing matplotlib
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return str(path) if path.is_file() else None


@cache
def _font(size: int) -> Any:
    from PIL import ImageFont

    path = _font_file()
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size)


def _money(v: float, step: float) -> str:
    # as many decimals as the step between ticks needs (2.5 needs one, 0.25 two)
    decimals = next((d for d in range(7) if abs(round(step, d) - step) <= 1e-9 * abs(step)), 6)
    return f"{v:,.{decimals}f}"


def equity_png(ts: Sequence[datetime], equity: Sequence[float], title: str) -> bytes:
    """Return the PNG (:data:`WIDTH` x :data:`HEIGHT`) of the equity at ``ts`` and its
    drawdown from the running peak."""
    from PIL import Image, ImageDraw

    w, h = WIDTH * _S, HEIGHT * _S
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    small, label, big = _font(11 * _S), _font(12 * _S), _font(14 * _S)
    left, right, top, bottom = 95 * _S, w - 20 * _S, 40 * _S, h - 45 * _S
    gap = 12 * _S
    split = top + int((bottom - top - gap) * 3 / 4.3)
    panels = ((top, split), (split + gap, bottom))

    draw.text(((left + right) / 2, 14 * _S), title, fill=_TEXT, font=big, anchor="mt")
    eq = np.asarray(equity, dtype=float)
    x = np.array([_epoch(t) for t in ts], dtype=float)
    dd = (eq / np.maximum.accumulate(eq) - 1.0) * 100 if eq.size else eq
    t0, t1 = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
    if t1 <= t0:
        t0, t1 = t0 - 86400.0, t1 + 86400.0
    margin = (t1 - t0) * 0.02  # the first and last values off the frame
    t0, t1 = t0 - margin, t1 + margin
    dates = _date_ticks(t0, t1) if x.size else []

    def px(v: np.ndarray) -> np.ndarray:
        return left + (v - t0) / (t1 - t0) * (right - left)

    for (p_top, p_bottom), values, name, is_dd in ((panels[0], eq, "equity ($)", False),
                                                   (panels[1], dd, "drawdown (%)", True)):
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if is_dd:
            hi = 0.0
        if hi <= lo:
            lo, hi = (lo - 1.0, hi + 1.0) if lo == 0 else (lo - abs(lo) * 0.01,
                                                           hi + abs(hi) * 0.01)
        pad = (hi - lo) * 0.05
        lo, hi = lo - pad, (hi if is_dd else hi + pad)

        def py(v: Any, lo: float = lo, hi: float = hi, a: int = p_top, b: int = p_bottom
               ) -> Any:
            return b - (v - lo) / (hi - lo) * (b - a)

        ticks = nice_ticks(lo, hi, 5 if is_dd else 6)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else abs(hi) or 1.0
        for t in ticks:
            y = float(py(t))
            draw.line([(left, y), (right, y)], fill=_GRID, width=_S)
            draw.text((left - 6 * _S, y), _money(t, step), fill=_TEXT, font=small,
                      anchor="rm")
        for t, _ in dates:
            xx = float(px(np.array(t)))
            draw.line([(xx, p_top), (xx, p_bottom)], fill=_GRID, width=_S)
        if values.size:
            xs, ys = px(x), np.clip(py(np.nan_to_num(values, nan=lo)), p_top, p_bottom)
            if not is_dd:
                pts = list(zip(xs.tolist(), ys.tolist(), strict=True))
                if len(pts) > 1:
                    draw.line(pts, fill=_EQUITY, width=int(1.5 * _S), joint="curve")
                else:
                    draw.ellipse([pts[0][0] - 2 * _S, pts[0][1] - 2 * _S,
                                  pts[0][0] + 2 * _S, pts[0][1] + 2 * _S], fill=_EQUITY)
            else:
                zero = float(py(0.0))
                # a step after each value, as the drawdown holds until the next one
                sx = np.repeat(xs, 2)[1:]
                sy = np.repeat(ys, 2)[:-1]
                edge = list(zip(sx.tolist(), sy.tolist(), strict=True))
                if len(edge) > 1:
                    draw.polygon([(edge[0][0], zero), *edge, (edge[-1][0], zero)],
                                 fill=_DRAWDOWN_FILL)
                    draw.line(edge, fill=_DRAWDOWN_LINE, width=_S)
        draw.rectangle([left, p_top, right, p_bottom], outline=_AXIS, width=_S)
        _vertical_text(img, name, 22 * _S, (p_top + p_bottom) // 2, label)
    for t, text in dates:
        xx = float(px(np.array(t)))
        draw.line([(xx, bottom), (xx, bottom + 4 * _S)], fill=_AXIS, width=_S)
        draw.text((xx, bottom + 7 * _S), text, fill=_TEXT, font=small, anchor="mt")
    out = img.reduce(_S)  # each pixel the mean of a 2x2 block
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _epoch(t: Any) -> float:
    if isinstance(t, datetime):
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    return float(t)


def _vertical_text(img: Any, text: str, x: int, y: int, font: Any) -> None:
    """Draw ``text`` turned a quarter left, centred on (x, y)."""
    from PIL import Image, ImageDraw

    box = font.getbbox(text)
    tw, th = box[2] - box[0], box[3] - box[1]
    tile = Image.new("L", (tw + 4, th + 4), 0)
    ImageDraw.Draw(tile).text((2 - box[0], 2 - box[1]), text, fill=255, font=font)
    tile = tile.rotate(90, expand=True)
    img.paste(_TEXT, (x - tile.width // 2, y - tile.height // 2), tile)
