"""A tiny builder of EID-shaped report pages for tests that need a layout the corpus lacks.

It writes the real markup skeleton: ``div#banner`` paragraphs, ``td.write_text``
headings, ``p.dw`` units, ``table.bb`` data tables with ``tr.cc``/``tr.dd`` rows and ``table.text`` notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

Row = Sequence[str]


def banner(title: str, period_end: str, manager: str, custodian: str, sent: str) -> str:
    lines = [title, period_end, f"基金管理人：{manager}", f"基金托管人：{custodian}", f"报告送出日期：{sent}"]
    paras = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return f'<div id="banner"><table><tr><td>{paras}</td></tr></table></div>'


def heading(text: str, *, level: int = 2, anchor: str = "") -> str:
    cls = "write_text_level3" if level == 3 else "write_text"
    menu = "Menubox_level3" if level == 3 else "Menubox"
    a = f'<a name="{anchor}"></a>' if anchor else ""
    return f'{a}<table><tr><td class="{menu}"><table><tr><td class="{cls}">{escape(text)}</td></tr></table></td></tr></table>'


def table(header: Row | None, rows: Sequence[Row], *, unit: str = "", note: str = "") -> str:
    """A data table; a cell may be given as ``(text, colspan)`` through ``"text|c2"`` shorthand."""
    parts = [f'<p class="dw">{escape(unit)}</p>' if unit else ""]
    body = "".join(_row("cc", header) for _ in [0] if header) + "".join(_row("dd", r) for r in rows)
    parts.append(
        f'<div id="con_one_1"><div class="news_height"><table class="bb"><tbody>{body}</tbody></table></div></div>'
    )
    if note:
        parts.append(f'<div><table class="text"><tr><td>{escape(note)}</td></tr></table></div>')
    return "".join(parts)


def _row(cls: str, cells: Row) -> str:
    out = []
    for cell in cells:
        text, _, span = cell.partition("|c")
        attr = f' colspan="{span}"' if span else ""
        out.append(f"<td{attr}><p>{escape(text)}</p></td>")
    return f'<tr class="{cls}">{"".join(out)}</tr>'


def page(*blocks: str) -> str:
    body = "".join(blocks)
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/></head><body>'
        f"{body}</body></html>"
    )


def page_with_banner(banner_html: str, *blocks: str) -> str:
    return page(banner_html, '<div id="instance_navigation"></div>', *blocks)
