"""Form bodies decode as the WHATWG URL standard says: percent-decoded to bytes, then decoded
strictly in the declared charset (UTF-8 by default); a body that does not decode is refused."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from api.errors import MalformedRequest, UnsupportedMediaType
from api.forms import decode_form, form_charset


@pytest.mark.parametrize(
    ("body", "pairs"),
    [
        pytest.param(b"a=1&b=2", [("a", "1"), ("b", "2")], id="plain"),
        pytest.param("d=路灯不亮".encode(), [("d", "路灯不亮")], id="raw-utf8"),
        pytest.param(b"d=%E8%B7%AF%E7%81%AF", [("d", "路灯")], id="escaped-utf8"),
        pytest.param("d=路%E7%81%AF".encode(), [("d", "路灯")], id="raw-and-escaped-mixed"),
        pytest.param(b"q=a+b%2Bc", [("q", "a b+c")], id="plus-is-space-escaped-plus-is-plus"),
        pytest.param(b"a=&b", [("a", ""), ("b", "")], id="blank-values-kept"),
        pytest.param(b"a=1&&a=2&", [("a", "1"), ("a", "2")], id="repeats-kept-empties-skipped"),
        pytest.param(b"x=1=2", [("x", "1=2")], id="value-holds-equals"),
        pytest.param(b"attribute%5Bpole%5D=DH", [("attribute[pole]", "DH")], id="escaped-name"),
        pytest.param(b"", [], id="empty"),
    ],
)
def test_decode_form__reads_names_and_values_as_browsers_send_them(body, pairs):
    assert decode_form(body) == pairs


def test_decode_form__in_a_declared_charset():
    body = "description=胡同口堵住消防通道".encode("gb18030")
    assert decode_form(body, "gb18030") == [("description", "胡同口堵住消防通道")]
    escaped = f"d={quote('路灯', encoding='gbk')}".encode("ascii")
    assert decode_form(escaped, "gbk") == [("d", "路灯")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"ok=1&d=\xff", "field 'd' is not valid utf-8: byte(s) FF at 0", id="raw"),
        pytest.param(b"d=ab%FF", "field 'd' is not valid utf-8: byte(s) FF at 2", id="escaped"),
        pytest.param(
            b"d=%E8%B7", "field 'd' is not valid utf-8: byte(s) E8 B7 at 0", id="cut-short"
        ),
        pytest.param(b"%C0=1", "field 1's name is not valid utf-8", id="in-a-name"),
    ],
)
def test_decode_form__refuses_bytes_that_do_not_decode_naming_where(body, message):
    with pytest.raises(MalformedRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_form(body)


@pytest.mark.parametrize(
    ("header", "charset"),
    [
        (b"application/x-www-form-urlencoded", "utf-8"),
        (b"application/x-www-form-urlencoded; charset=UTF-8", "utf-8"),
        (b"Application/X-WWW-Form-Urlencoded;charset=utf8", "utf-8"),
        (b'application/x-www-form-urlencoded; charset="GBK"', "gbk"),
        (b"application/x-www-form-urlencoded; charset=GB18030", "gb18030"),
        (b"application/json", None),
        (b"multipart/form-data; boundary=x", None),
    ],
)
def test_form_charset__names_the_codec_or_none_for_other_media(header, charset):
    assert form_charset(header) == charset


@pytest.mark.parametrize("charset", ["klingon", "utf-16", "UTF-32LE", "base64", "rot13", "zlib"])
def test_form_charset__one_that_cannot_carry_a_form_is_unsupported(charset):
    """Unknown, not ASCII-compatible (the delimiters would not be '&' and '='), or no text
    encoding at all."""
    with pytest.raises(UnsupportedMediaType, match=f"charset '{charset}' is not one this server"):
        form_charset(f"application/x-www-form-urlencoded; charset={charset}".encode())
