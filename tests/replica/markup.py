"""Building blocks of the EID report markup, written from the structure of the real
pages, not copied from them: heading blocks ``td.Menubox > table > tr > td.write_text``, unit lines ``p.dw``,
data tables ``div#con_one_1 > div.news_height > table.bb`` with ``tr.cc``/``tr.dd`` rows of ``td > p`` cells,
notes ``table.text``, prose ``td.Contentbox > div.text_area``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from html import escape

RESOURCE = "../../../resource"
CHART_ID = "808080804ca256b9014cdb8c71327784"
STYLESHEETS = ("instance_detail.css", "tab.css", "jquery.css", "font-cover.css", "black-treeview.css", "office.css")
SCRIPTS = ("jquery.js", "jquery_004.js", "jquery_002.js", "jquery_003.js", "window_src.js")
BANNER_STYLE = "background-color:#004B7D;padding-top:12px;text-align:center;font-weight:bold;color:#fff"

Cell = str | None


def text(value: str) -> str:
    return escape(value, quote=False)


def money(fen: int, drop_zero: bool = False) -> str:
    """``1,945,524,568.91``; ``drop_zero`` prints ``194,356,494.5`` as some real pages do."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    printed = f"{sign}{whole:,}.{cents:02d}"
    return printed[:-1] if drop_zero and printed.endswith("0") else printed


def count(units: int) -> str:
    return f"{units:,}"


def percent(value: Decimal) -> str:
    """A percentage on its own line inside the cell, as the real tables print it."""
    return f"\n{value:.2f}\n"


def head() -> str:
    links = "".join(
        f'<link rel="stylesheet" type="text/css" href="{RESOURCE}/{name}"/>\n' for name in STYLESHEETS
    )
    scripts = "".join(
        f'<script language="javascript" type="text/javascript" src="{RESOURCE}/{name}"></script>\n'
        for name in SCRIPTS
    )
    return (
        '<html><head>\n<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/>\n'
        f"<title>XBRL</title>\n{links}{scripts}</head>\n\n"
        '<body onresize="resize()" onload="resize()" >\n'
    )


def banner(title: str, lines: Sequence[str]) -> str:
    """``div#banner``: the title (18px, ends with ``<br/>``) and the cover lines."""
    paragraphs = "".join(
        f'\n               <p style="{BANNER_STYLE};font-size:14px">{text(line)}</p>' for line in lines
    )
    return (
        '<div id="banner">\n    <table align="center" border="0" cellpadding="0" cellspacing="0" width="95%">\n'
        f'        <tbody><tr>\n        <td style="background:url({RESOURCE}/images/disclose/top_bj.gif);">\n'
        f'           <p style="{BANNER_STYLE};font-size:18px">\n              {text(title)}<br/>\n'
        f"               </p>{paragraphs}\n           <p></p>\n        </td>\n        </tr>\n"
        "    </tbody></table>\n</div>\n"
    )


def navigation(chapters: Sequence[tuple[str, str, Sequence[tuple[str, str]]]]) -> str:
    """The left tree ``div#instance_navigation > ul#black.treeview``: chapters with their section links."""
    items = []
    for span_id, chapter, sections in chapters:
        links = "".join(
            f'\n            <li><a href="#{anchor}" id="{anchor.split("_", 1)[1]}">{text(label)}</a></li>'
            for anchor, label in sections
        )
        items.append(
            '    <li class="collapsable"><div class="hitarea"></div>\n'
            f'        <span id="{span_id}" style="cursor:pointer">{text(chapter)}</span>\n'
            f"        <ul>{links}\n        </ul>\n    </li>\n"
        )
    return (
        '<table align="center" border="0" cellpadding="0" cellspacing="0" width="95%">\n    <tbody><tr>\n'
        '        <td style="width:200px;" class="content_box" id="showTd" valign="top">\n'
        '<div id="showTree" style="position: absolute; left: 40px; width: 200px;">\n'
        '<div style="height: 564px; overflow: auto;" id="instance_navigation">\n'
        '<div id="treecontrol">\n    <a href="#">目录全部展开</a>\n    <a href="#">目录全部收拢</a>\n</div>\n'
        f'<ul class="treeview" id="black">\n{"".join(items)}</ul>\n</div>\n</div>\n        </td>\n'
        '        <td class="content_box" valign="top">\n'
        '            <table align="center" border="0" cellpadding="0" cellspacing="0" width="95%">\n'
        '                <tbody><tr>\n                    <td valign="top">\n'
    )


FOOT = "                    </td>\n                </tr>\n            </tbody></table>\n        </td>\n" \
       "    </tr>\n</tbody></table>\n</body></html>\n"


def heading(label: str, level3: bool = False, chart: str | None = None) -> str:
    """A heading row: ``td.Menubox`` (or ``Menubox_level3``) holding ``td.write_text``."""
    suffix = "_level3" if level3 else ""
    link = ""
    if chart:
        link = (
            '\n\t\t\t\t\t\t\t<td width="30"><a style="color: #fff; font-weight: bold;" '
            f"href=\"javascript:show('/{chart}.instance?instanceid={CHART_ID}&amp;type=common')\"></a></td>"
        )
    return (
        f'\t\t<tr>\n\t\t\t<td class="Menubox{suffix}">\n'
        '\t\t\t\t<table border="0" cellpadding="0" cellspacing="0" width="100%">\n\t\t\t\t\t<tbody>\n'
        f'\t\t\t\t\t\t<tr>\n\t\t\t\t\t\t\t<td style="padding-left: 15px;" class="write_text{suffix}">{text(label)}</td>'
        f"{link}\n\t\t\t\t\t\t</tr>\n\t\t\t\t\t</tbody>\n\t\t\t\t</table>\n\t\t\t</td>\n\t\t</tr>\n"
    )


def unit(label: str = "") -> str:
    return f'\t\t<tr>\n\t\t\t<td>\n\t\t\t\t<p class="dw">{text(label)}</p>\n\t\t\t</td>\n\t\t</tr>\n'


def cell(value: Cell, align: str = "right", colspan: int = 1) -> str:
    span = f' colspan="{colspan}"' if colspan > 1 else ""
    inner = "" if value is None else value
    return f'\t\t\t\t\t\t\t\t\t<td align="{align}"{span}><p>{inner}</p></td>\n'


def header_row(labels: Iterable[str]) -> str:
    cells = "".join(f"\t\t\t\t\t\t\t\t\t<td><p>{text(label)}</p></td>\n" for label in labels)
    return f'\t\t\t\t\t\t\t\t<tr class="cc">\n{cells}\t\t\t\t\t\t\t\t</tr>\n'


def data_row(cells: Iterable[str]) -> str:
    return f'\t\t\t\t\t\t\t\t<tr class="dd">\n{"".join(cells)}\t\t\t\t\t\t\t\t</tr>\n'


def data_table(header: str, rows: Iterable[str]) -> str:
    """``div#con_one_1 > div.news_height > table.bb`` in its own row of the section table."""
    return (
        '\t\t<tr>\n\t\t\t<td>\n\t\t\t\t<div id="con_one_1">\n\t\t\t\t\t<div class="news_height">\n'
        '\t\t\t\t\t\t<table class="bb" border="0" cellpadding="0" cellspacing="1" width="100%">\n'
        f'\t\t\t\t\t\t\t<tbody>\n{header}{"".join(rows)}\t\t\t\t\t\t\t</tbody>\n\t\t\t\t\t\t</table>\n'
        "\t\t\t\t\t</div>\n\t\t\t\t</div>\n\t\t\t</td>\n\t\t</tr>\n"
    )


def prose(paragraphs: Sequence[str]) -> str:
    body = "<br/>".join(text(p) for p in paragraphs)
    return (
        '\t\t<tr>\n\t\t\t<td class="Contentbox">\n'
        f'\t\t\t\t<div id="con_one_1" class="text_area">\n\t\t\t\t\t{body}\n\t\t\t\t</div>\n\t\t\t</td>\n\t\t</tr>\n'
    )


def note(content: str = "") -> str:
    """The note table under a data table (``注：…``); often empty on real pages."""
    return (
        '<div class="space_div"></div>\n<div>\n\t<table class="text">\n\t\t<tbody>\n\t\t\t<tr>\n\t\t\t\t<td>\n'
        f"\t\t\t\t\t\t{text(content)}\n\t\t\t\t</td>\n\t\t\t</tr>\n\t\t</tbody>\n\t</table>\n</div>\n"
    )


def block(rows: str, anchor: str | None = None, notes: Sequence[str] = ()) -> str:
    """One section: optional ``a[name]`` anchor, the section table, then its notes."""
    mark = f'<a name="{anchor}"></a>\n' if anchor else ""
    return (
        f'<div class="space_div"></div>\n{mark}'
        f'<table align="left" border="0" cellpadding="0" cellspacing="0" width="97%">\n\t<tbody>\n{rows}'
        f"\t</tbody>\n</table>\n{''.join(note(n) for n in notes)}"
    )


def wrapper(div_id: str, content: str) -> str:
    return f'<div style="height: 100%; overflow: visible;" id="{div_id}">\n{content}</div>\n'
