"""The page: one self-contained HTML file with the vendored plotly.js (the *cartesian* partial
bundle of plotly.js 4.1.1, ``assets/plotly-cartesian.min.js``, MIT licence beside it) inlined
once, then one ``<section id=...>`` per part of the report.

Deterministic by construction: every figure's ``<div>`` has a fixed id (the section's id and a
number), figures are serialised with sorted keys, and nothing reads the clock, the host or an
absolute path. A page script records any script error in ``<pre id="report-errors">`` so that a
headless browser can check the page rendered cleanly.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from swarmsim.jsonvalues import json_tree

#: The report's file name in a run, sweep or plan folder.
REPORT_FILE = "report.html"
PLOTLY_ASSET = "plotly-cartesian.min.js"
CONFIG = {"displaylogo": False, "responsive": True, "showLink": False,
          "modeBarButtonsToRemove": ["sendDataToCloud"]}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b5a;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85}
nav{padding:6px 24px;background:#e9eef3;font-size:14px} nav a{margin-right:14px;color:#1f3b5a}
main{padding:8px 24px 40px;max-width:1250px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:16px 0;padding:10px 16px}
section h2{font-size:18px;margin:6px 0} .lead{color:#555;margin:4px 0 10px;font-size:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:10px}
.card{border:1px solid #e3e3e3;border-radius:5px;padding:8px 10px;background:#fcfcfc}
.card .v{font-size:20px;font-weight:600} .card .k{font-size:12px;color:#666;font-family:monospace}
.card .m{font-size:12px;color:#444;margin-top:3px}
table{border-collapse:collapse;font-size:13px;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 7px}
th{background:#f0f3f6;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
.fig{width:100%} .note{font-size:12px;color:#666}
.bad{color:#a40000} .good{color:#006b2e} pre#report-errors{color:#a40000}
"""

ERROR_HOOK = """
window.__reportErrors = [];
function __reportError(text){window.__reportErrors.push(String(text)); __reportError.flush();}
__reportError.flush = function(){var el=document.getElementById('report-errors');
  if(el){el.textContent=window.__reportErrors.join('\\n');}};
window.addEventListener('error', function(e){__reportError('error: '+e.message);});
window.addEventListener('unhandledrejection', function(e){__reportError('rejection: '+e.reason);});
"""


@dataclass
class Figure:
    """One plotly figure as plain data: ``traces`` (plotly trace dicts) and ``layout``."""

    traces: list[dict[str, Any]]
    layout: dict[str, Any] = field(default_factory=dict)
    height: int = 420


@dataclass
class Section:
    """One ``<section>``: an id, a title, a one-line lead, then HTML and figures in order."""

    id: str
    title: str
    lead: str = ""
    parts: list[str | Figure] = field(default_factory=list)

    def add(self, *parts: str | Figure) -> Section:
        self.parts.extend(parts)
        return self


def figure_json(fig: Figure) -> str:
    """The figure's traces and layout as JSON (sorted keys, so byte-identical for equal data)."""
    layout = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "hovermode": "closest",
              "template": None, "paper_bgcolor": "#fff", "plot_bgcolor": "#fff",
              "font": {"size": 12}, "legend": {"font": {"size": 11}}, **fig.layout}
    layout.setdefault("xaxis", {}).setdefault("gridcolor", "#e6e6e6")
    layout.setdefault("yaxis", {}).setdefault("gridcolor", "#e6e6e6")
    return json.dumps({"data": json_tree(fig.traces, 6), "layout": json_tree(layout, 6)}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False)


def table(headers: list[str] | None, rows: list[list[Any]], numeric_from: int = 1,
          numeric_to: int | None = None) -> str:
    """An HTML table (cells are HTML already); columns ``numeric_from`` to ``numeric_to``
    (exclusive; default: the last) are right-aligned numbers. ``headers=None``: no header row."""
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr>" if headers else ""
    body = []
    for row in rows:
        stop = len(row) if numeric_to is None else numeric_to
        cells = "".join(f'<td class="n">{c}</td>' if numeric_from <= i < stop else f"<td>{c}</td>"
                        for i, c in enumerate(str(v) for v in row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def esc(text: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))


def plotly_js() -> str:
    """The vendored plotly.js bundle (read from the installed package)."""
    return (resources.files("swarmsim.report") / "assets" / PLOTLY_ASSET).read_text(encoding="utf-8")


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole report as one HTML document."""
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body, scripts = [], []
    for s in sections:
        out = [f'<section id="{s.id}"><h2>{esc(s.title)}</h2>']
        if s.lead:
            out.append(f'<p class="lead">{s.lead}</p>')
        n = 0
        for part in s.parts:
            if isinstance(part, Figure):
                n += 1
                div = f"{s.id}-fig{n}"
                out.append(f'<div class="fig" id="{div}" style="height:{part.height}px"></div>')
                scripts.append(f'__draw("{div}",{figure_json(part)});')
            else:
                out.append(part)
        out.append("</section>")
        body.append("".join(out))
    config = json.dumps(CONFIG, sort_keys=True)
    draw = ("function __draw(id,f){try{Plotly.newPlot(id,f.data,f.layout," + config + ");}"
            "catch(e){__reportError(id+': '+e);}}")
    # "</" inside a script would end it early; the JSON never holds "</" after this replace.
    figures = "\n".join(scripts).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{esc(title)}</title>"
        f"<style>{STYLE}</style><script>{ERROR_HOOK}</script>\n"
        f"<script id=\"plotly-js\">{plotly_js()}</script>\n</head><body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header><nav>{nav}</nav><main>"
        + "\n".join(body)
        + "<pre id=\"report-errors\"></pre></main>\n"
        f"<script>{draw}\n{figures}\n__reportError.flush();document.body.setAttribute('data-rendered','yes');</script>"
        "</body></html>\n"
    )


__all__ = ["Figure", "Section", "esc", "figure_json", "page", "plotly_js", "table"]
