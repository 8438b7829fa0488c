"""Form bodies (``application/x-www-form-urlencoded``) read as the WHATWG URL standard says.

Starlette's form parser takes the body's bytes as Latin-1 and percent-decodes as UTF-8 with
replacement characters. A GeoReport client that sends its Chinese text as raw UTF-8 bytes (as
``curl -d`` does) then had it refused with "control character U+0081", and one that sent a
broken escape (``%FF``) had it stored as "�". Here each name and value is percent-decoded to
bytes first, '+' being a space, and then decoded, strictly, in the charset the ``Content-Type``
names (UTF-8 when it names none): raw and escaped bytes alike. A body that does not decode is
400 and a charset this server cannot read 415, before any handler runs (``api.middleware.
FormEncodingMiddleware``); a body that needed it is passed on re-encoded as plain ASCII escapes
of UTF-8, which every parser reads alike.
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote_to_bytes, urlencode

from python_multipart.multipart import parse_options_header

from api.errors import MalformedRequest, UnsupportedMediaType

FORM = b"application/x-www-form-urlencoded"
_DELIMITERS = "name=a+b%20c&"


def form_charset(content_type: bytes) -> str | None:
    """The codec's name for a form's ``Content-Type``, or None when it is no urlencoded form.

    Raises ``UnsupportedMediaType`` for a charset this server cannot decode.
    """
    kind, options = parse_options_header(content_type)
    if kind != FORM:
        return None
    declared = options.get(b"charset", b"utf-8").decode("latin-1").strip() or "utf-8"
    try:
        name = codecs.lookup(declared).name
        # A form's '&', '=', '+' and '%' are ASCII bytes: a charset that writes them otherwise
        # (UTF-16) cannot carry one, and a codec that is no text encoding (base64) none at all.
        if _DELIMITERS.encode(name) == _DELIMITERS.encode("ascii"):
            return name
    except LookupError:
        pass
    raise UnsupportedMediaType(
        f"the form's charset {declared!r} is not one this server reads; send UTF-8"
    )


def decode_form(body: bytes, charset: str = "utf-8") -> list[tuple[str, str]]:
    """The name-value pairs of a urlencoded body, in order, blank values kept.

    Raises ``MalformedRequest`` naming the field and the byte that does not decode.
    """
    pairs: list[tuple[str, str]] = []
    for index, part in enumerate(body.split(b"&")):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name = _text(raw_name, charset, f"field {index + 1}'s name")
        pairs.append((name, _text(raw_value, charset, f"field {name!r}")))
    return pairs


def _text(raw: bytes, charset: str, what: str) -> str:
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        return data.decode(charset)
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.end].hex(" ").upper()
        raise MalformedRequest(
            f"the form's {what} is not valid {charset}: byte(s) {bad} at {exc.start}; send "
            "UTF-8 (percent-encoded or not), or name the charset in Content-Type"
        ) from None


def plain_form(pairs: list[tuple[str, str]]) -> bytes:
    """The pairs as ASCII: every other character percent-encoded as UTF-8."""
    return urlencode(pairs, encoding="utf-8").encode("ascii")
