"""A run's result as JSON and as a self-contained HTML page (inline SVG, no script, no CDN):
verdict first, then the timeline with the faults marked on it, then the per-device ledger."""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from chaos.engine import RunResult
from chaos.series import SecondStats

WIDTH, PANEL_H, LEFT, RIGHT = 960, 130, 70, 20
COLORS = {"published": "#1f77b4", "stored": "#2ca02c", "backlog": "#d62728",
          "gateway": "#9467bd", "ingest": "#ff7f0e", "latency": "#8c564b"}  # fmt: skip


def result_json(result: RunResult) -> dict[str, object]:
    return {
        **result.summary(),
        "scale": result.scale,
        "failures": result.failures,
        "acknowledged": result.ledger.acknowledged,
        "unacknowledged_stored": result.ledger.unacknowledged,
        "latency_p50_ms": result.ledger.latency_p50_ms,
        "replicas_reached": result.replicas_reached,
        "replicas_at_end": result.replicas_at_end,
        "start_ms": result.start_ms,
        "load_end_ms": result.load_end_ms,
        "end_ms": result.end_ms,
        "drain_s": result.drain_s,
        "faults": [dataclasses.asdict(e) for e in result.events],
        "devices": [d.to_json() for d in result.ledger.devices],
        "series": [dataclasses.asdict(s) for s in result.series],
    }


def write_report(result: RunResult, directory: Path) -> tuple[Path, Path]:
    """Write result.json and report.html into `directory`; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "result.json"
    json_path.write_text(json.dumps(result_json(result), indent=1) + "\n", encoding="utf-8")
    html_path = directory / "report.html"
    html_path.write_text(render_html(result), encoding="utf-8")
    return json_path, html_path


def _panel(
    title: str,
    series: Sequence[SecondStats],
    lines: list[tuple[str, Callable[[SecondStats], float | None]]],
    faults: list[tuple[float, float, str]],
    load_end_s: float,
    top: int,
) -> str:
    t_max = max(len(series) - 1, 1)
    values = [v for _, fn in lines for s in series if (v := fn(s)) is not None]
    v_max = max(max(values, default=0.0) * 1.1, 1.0)
    plot_w = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + plot_w * min(t, t_max) / t_max

    def y(v: float) -> float:
        return top + PANEL_H - PANEL_H * v / v_max

    out = [f'<text x="{LEFT}" y="{top - 6}" class="title">{html.escape(title)}</text>']
    out.append(f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}" class="frame"/>')
    for start, end, _ in faults:
        out.append(
            f'<rect x="{x(start):.1f}" y="{top}" width="{max(x(end) - x(start), 2):.1f}" '
            f'height="{PANEL_H}" class="fault"/>'
        )
    out.append(
        f'<line x1="{x(load_end_s):.1f}" x2="{x(load_end_s):.1f}" y1="{top}" '
        f'y2="{top + PANEL_H}" class="loadend"/>'
    )
    for frac in (0.0, 0.5, 1.0):
        out.append(
            f'<text x="{LEFT - 6}" y="{y(v_max * frac) + 4:.1f}" class="axis" '
            f'text-anchor="end">{v_max * frac:.0f}</text>'
        )
    legend_x = LEFT + 8
    for name, fn in lines:
        points = [f"{x(s.t):.1f},{y(v):.1f}" for s in series if (v := fn(s)) is not None]
        if points:
            out.append(
                f'<polyline points="{" ".join(points)}" fill="none" '
                f'stroke="{COLORS[name]}" stroke-width="1.6"/>'
            )
        out.append(
            f'<text x="{legend_x}" y="{top + 14}" fill="{COLORS[name]}" class="legend">'
            f"{name}</text>"
        )
        legend_x += 9 * len(name) + 16
    return "\n".join(out)


def render_svg(result: RunResult) -> str:
    series = result.series or [SecondStats(0, 0, 0, 0, None, None, None)]
    faults = [(e.start_s, e.end_s if e.end_s is not None else e.start_s, e.label)
              for e in result.events]  # fmt: skip
    load_end_s = (result.load_end_ms - result.start_ms) / 1000
    panels: list[tuple[str, list[tuple[str, Callable[[SecondStats], float | None]]]]] = [
        ("points/s", [("published", lambda s: s.published), ("stored", lambda s: s.stored)]),
        ("backlog (acknowledged, not yet stored)", [("backlog", lambda s: s.backlog)]),
        ("replicas running", [("gateway", lambda s: s.gateways), ("ingest", lambda s: s.ingests)]),
        ("end-to-end latency p99 (ms) of points stored each second",
         [("latency", lambda s: s.latency_p99_ms)]),
    ]  # fmt: skip
    gap = 40
    fault_rows = 18 * len(faults)
    height = 30 + len(panels) * (PANEL_H + gap) + 30 + fault_rows
    body = []
    for i, (title, lines) in enumerate(panels):
        body.append(_panel(title, series, lines, faults, load_end_s, 30 + i * (PANEL_H + gap)))
    axis_y = 30 + len(panels) * (PANEL_H + gap) - gap + 16
    t_max = max(len(series) - 1, 1)
    plot_w = WIDTH - LEFT - RIGHT
    for t in range(0, t_max + 1, max(1, t_max // 10)):
        body.append(
            f'<text x="{LEFT + plot_w * t / t_max:.1f}" y="{axis_y}" class="axis" '
            f'text-anchor="middle">{t}s</text>'
        )
    for i, (start, end, label) in enumerate(faults):
        y = axis_y + 22 + 18 * i
        xs = LEFT + plot_w * min(start, t_max) / t_max
        body.append(
            f'<text x="{xs:.1f}" y="{y}" class="faultlabel">▲ {start:.1f}–{end:.1f}s '
            f"{html.escape(label)}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">\n' + "\n".join(body) + "\n</svg>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.pass { color: #2ca02c; } .fail { color: #d62728; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.bad { background: #fde0e0; }
svg .frame { fill: none; stroke: #999; } svg .fault { fill: #d62728; fill-opacity: 0.12; }
svg .loadend { stroke: #555; stroke-dasharray: 4 3; }
svg .title { font-size: 13px; font-weight: 600; } svg .axis { font-size: 11px; fill: #555; }
svg .legend { font-size: 12px; } svg .faultlabel { font-size: 12px; fill: #a01818; }
"""


def render_html(result: RunResult) -> str:
    summary = result.summary()
    verdict = "PASSED" if result.passed else "FAILED"
    cls = "pass" if result.passed else "fail"
    facts = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in [
            *summary.items(),
            ("acknowledged", result.ledger.acknowledged),
            ("stored, not in a ledger (not a failure)", result.ledger.unacknowledged),
            ("time scale", result.scale),
            ("drain after the load (s)", result.drain_s),
            ("replicas reached", result.replicas_reached),
        ]
    )
    failures = "".join(f"<li><pre>{html.escape(f)}</pre></li>" for f in result.failures)
    faults = "".join(
        f"<tr><td>{html.escape(e.label)}</td><td>{e.start_s:.1f}</td>"
        f"<td>{'' if e.end_s is None else f'{e.end_s:.1f}'}</td>"
        f"<td>{html.escape(e.error or 'ok')}</td></tr>"
        for e in result.events
    )
    header = "".join(
        f"<th>{h}</th>"
        for h in ("device", "acknowledged", "delivered", "lost", "duplicated", "unacked stored",
                  "p50 ms", "p99 ms", "max ms", "max gap s", "lost seqs")
    )  # fmt: skip
    rows = []
    for d in result.ledger.devices:
        bad = " class='bad'" if d.lost or d.duplicated else ""
        cells = [d.device, d.acknowledged, d.delivered, d.lost, d.duplicated, d.unacknowledged,
                 d.latency_p50_ms, d.latency_p99_ms, d.latency_max_ms, f"{d.max_gap_s:.2f}",
                 ", ".join(str(r) for r in d.lost_seqs[:20])]  # fmt: skip
        tds = "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in cells)
        rows.append(f"<tr{bad}>{tds}</tr>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(result.scenario)}: {verdict}</title><style>{STYLE}</style></head>
<body>
<h1>Scenario {html.escape(result.scenario)}: <span class="{cls}">{verdict}</span></h1>
{f"<h2>Unmet expectations</h2><ul>{failures}</ul>" if failures else ""}
<table>{facts}</table>
<h2>Timeline</h2>
<p>Shaded: faults in effect. Dashed: the load stops (gateways stopped), the ingest drains.
Published = points the broker acknowledged to a gateway, by acknowledgement time; stored = rows
committed to the historian, by commit time.</p>
{render_svg(result)}
<h2>Faults injected</h2>
<table><tr><th>fault</th><th>from (s)</th><th>to (s)</th><th>outcome</th></tr>{faults}</table>
<h2>Ledger per device</h2>
<p>Lost = acknowledged by the broker, not in the historian (named by gateway run and sequence
numbers). Gap = longest time without an acknowledged point of the device.</p>
<table><tr>{header}</tr>{"".join(rows)}</table>
</body></html>
"""
