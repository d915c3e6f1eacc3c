"""The one page behind `discover serve` and `discover report` (Jinja2 template discover/web/templates/page.html).

Served, it loads /static/*.js and polls the JSON endpoints. As a report, it is one self-contained file: the same
CSS and scripts inlined, the data embedded as a JSON block; its Content-Security-Policy admits exactly those
inline scripts and styles by hash, and nothing from the network."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

SERVED_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
              "base-uri 'none'; form-action 'none'")
HEADER_CSP = SERVED_CSP + "; frame-ancestors 'none'"  # frame-ancestors works only as a header, not in <meta>


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=PackageLoader("discover.web", "templates"), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def _static(name: str) -> str:
    return resources.files("discover.web").joinpath("static", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="friendly").get_style_defs(".hl")


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _json_for_script(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no '</script>' or '<!--' can end or open anything."""
    text = json.dumps(data, default=str, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(*, mode: str, data: dict[str, Any] | None = None, title: str = "discover") -> str:
    """mode "serve": assets by URL, data by polling. mode "report": everything inlined, `data` embedded."""
    template = _env().get_template("page.html")
    if mode == "serve":
        return template.render(mode=mode, inline=False, title=title, csp=SERVED_CSP)
    css = _static("app.css") + "\n" + pygments_css()
    scripts = [_static("chart.umd.min.js"), _static("app.js")]
    csp = ("default-src 'none'; img-src data:; base-uri 'none'; form-action 'none'; "
           f"style-src {_sha(css)}; script-src {' '.join(_sha(s) for s in scripts)}")
    return template.render(mode=mode, inline=True, title=title, csp=csp, css=Markup(css),
                           scripts=[Markup(s) for s in scripts], data_json=Markup(_json_for_script(data or {})))
