"""Bodies the replica sends besides report pages: error pages, and hostile bodies.

Big bodies are streamed in chunks and the gzip bombs are compressed once per size and cached, so a hostile
fixture costs the replica little memory.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator

SYSTEM_ERROR_PAGE = (
    "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"/>"
    "<title>系统错误</title></head><body><div class=\"error\"><h2>system error</h2>"
    "<p>系统错误，请与管理员联系。</p></div></body></html>"
).encode()

BUSY_PAGE = (
    "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"/>"
    "<title>提示信息</title></head><body><div class=\"msg\"><p>系统繁忙，请稍后再试</p></div></body></html>"
).encode()

NOT_FOUND_PAGE = (
    b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
    b"<p>The requested URL was not found on this server.</p></body></html>"
)

#: A 200 HTML page that is not a report: no XBRL title, no navigation, no banner.
MALFORMED_PAGE = (
    "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"/>"
    "<title>公募基金-资本市场统一信息披露平台</title></head><body><div id=\"login\">"
    "<form action=\"/fund/login.do\"><p>用户登录</p><input name=\"user\"/></form></div></body></html>"
).encode()

#: Characters gb2312 cannot encode but gb18030 can.
GB18030_ONLY = "·—𠀀"

_REPORT_HEAD = (
    b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"/>"
    b"<title>XBRL</title></head><body><div id=\"instance_navigation\"></div>"
)


def filler_stream(size: int, chunk: int = 1 << 16) -> Iterator[bytes]:
    """``size`` bytes that start like a report page and go on with table rows."""
    yield _REPORT_HEAD
    sent = len(_REPORT_HEAD)
    row = b"<tr class=\"dd\"><td><p>0</p></td></tr>\n"
    block = row * (chunk // len(row))
    while sent < size:
        piece = block[: size - sent]
        sent += len(piece)
        yield piece


def endless_chunks(chunk: int = 1 << 16) -> Iterator[bytes]:
    """Body pieces forever; the server stops when the client hangs up."""
    yield _REPORT_HEAD
    block = b"<p>" + b"x" * (chunk - 8) + b"</p>\n"
    while True:
        yield block


@functools.lru_cache(maxsize=4)
def gzip_bomb(decoded_size: int, layers: int = 1) -> bytes:
    """A small gzip body (``layers`` times compressed) that decodes to ``decoded_size`` bytes."""
    data = _gzip_stream(decoded_size)
    for _ in range(layers - 1):
        data = _gzip_bytes(data)
    return data


def _gzip_stream(decoded_size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(_REPORT_HEAD)]
    block = b" " * (1 << 20)
    left = decoded_size - len(_REPORT_HEAD)
    while left > 0:
        parts.append(compressor.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts.append(compressor.flush())
    return b"".join(parts)


def _gzip_bytes(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def deep_nesting(page: bytes, depth: int = 100_000) -> bytes:
    """``page`` with ``depth`` nested divs inserted before ``</body>``."""
    nest = b"<div>" * depth + b"deep" + b"</div>" * depth
    marker = page.rfind(b"</body>")
    if marker < 0:
        return page + nest
    return page[:marker] + nest + page[marker:]


def gb2312_mislabelled(page: bytes) -> bytes:
    """``page`` re-encoded as gb18030 but labelled gb2312, with gb18030-only characters in it."""
    text = page.decode("utf-8")
    text = text.replace("charset=UTF-8", "charset=gb2312", 1)
    text = text.replace("<title>XBRL</title>", f"<title>XBRL</title><!-- {GB18030_ONLY} -->", 1)
    marker = text.find('class="text_area">')
    if marker >= 0:
        marker += len('class="text_area">')
        text = text[:marker] + f"本报告使用字符{GB18030_ONLY}。<br/>" + text[marker:]
    return text.encode("gb18030")
