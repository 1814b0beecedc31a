"""The walk-forward HTML report: figures drawn with matplotlib, embedded as PNG data.

Four plots: the stitched out-of-sample equity against buy-and-hold, each window's
out-of-sample return next to the baselines', the candidates' in-sample against
out-of-sample Sharpe ratios, and the distribution of the PBO logits.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_html_report"]


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figures(report: Mapping[str, Any], equity: list[float], bh: list[float]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: list[str] = []
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(equity, label="walk-forward (out of sample)")
    ax.plot(bh, label="buy-and-hold")
    ax.set_title("Stitched out-of-sample equity")
    ax.set_xlabel("bar")
    ax.legend()
    figs.append(_png(fig))

    windows = report["windows"]
    idx = np.arange(len(windows))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.28
    series = {
        "strategy": [w["metrics"].get("total_return") for w in windows],
        "buy-and-hold": [
            w["baselines"].get("buy_and_hold", {}).get("total_return") for w in windows
        ],
        "random": [w["baselines"].get("random", {}).get("total_return") for w in windows],
    }
    for k, (label, raw) in enumerate(series.items()):
        vals = [v or 0.0 for v in raw]
        ax.bar(idx + (k - 1) * width, vals, width, label=label)
    ax.set_xticks(idx, [w["test_start"] for w in windows], rotation=30, fontsize=7)
    ax.set_title("Out-of-sample total return per window (mean over tickers)")
    ax.legend()
    figs.append(_png(fig))

    fig, ax = plt.subplots(figsize=(5, 4))
    pts = report.get("scatter", [])
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("in-sample Sharpe (per period)")
    ax.set_ylabel("out-of-sample Sharpe (per period)")
    ax.set_title("Candidates: in sample vs out of sample")
    figs.append(_png(fig))

    fig, ax = plt.subplots(figsize=(5, 4))
    pbo: Mapping[str, Any] = report.get("pbo") or {}
    logits = [x for x in pbo.get("logits", []) if x is not None]
    if logits:
        ax.hist(logits, bins=30)
        ax.axvline(0, color="red", lw=1)
        ax.set_title(f"PBO logits (PBO = {pbo['pbo']:.2f})")
    else:
        ax.set_title("PBO: " + html.escape(str(report.get("pbo_note", "not computed"))))
    figs.append(_png(fig))
    return figs


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4f}"
    return html.escape("n/a" if v is None else str(v))


def write_html_report(
    out_dir: Path, report: Mapping[str, Any], equity: list[float], bh: list[float],
    title: str = "Walk-forward report",
) -> Path:
    """Write ``index.html`` (and ``report.json``) into ``out_dir``; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figs = _figures(report, equity, bh)
    agg = report.get("aggregate", {})
    dsr = report.get("deflated_sharpe", {})
    rows = "".join(
        f"<tr><td>{w['index']}</td><td>{w['train_start']} – {w['train_end']}</td>"
        f"<td>{w['test_start']} – {w['test_end']}</td>"
        f"<td>{_fmt(w['metrics'].get('total_return'))}</td>"
        f"<td>{_fmt(w['baselines'].get('buy_and_hold', {}).get('total_return'))}</td>"
        f"<td>{_fmt(w['baselines'].get('random', {}).get('total_return'))}</td>"
        f"<td>{_fmt(w['metrics'].get('sharpe'))}</td></tr>"
        for w in report["windows"]
    )
    summary = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>"
        for k, v in agg.items() if k != "parameter_stability"
    )
    stats = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in dsr.items()
    )
    pbo = report.get("pbo") or {}
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{padding:2px 8px}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f3f3f3}}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Summary</h2><table>{summary}</table>
<h2>Overfitting</h2><table>{stats}
<tr><td>PBO</td><td>{_fmt(pbo.get('pbo'))} ({html.escape(str(report.get('pbo_note', '')))})</td></tr>
<tr><td>trials counted</td><td>{_fmt(report.get('n_trials'))}</td></tr></table>
<h2>Windows</h2><table><tr><th>#</th><th>train</th><th>test</th><th>return</th>
<th>buy-and-hold</th><th>random</th><th>Sharpe</th></tr>{rows}</table>
{''.join(f'<p><img src="data:image/png;base64,{f}"></p>' for f in figs)}
<h2>Parameter stability</h2><pre>{html.escape(json.dumps(agg.get('parameter_stability', {}), indent=1))}</pre>
</body></html>"""
    path = out_dir / "index.html"
    path.write_text(page)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    return path
