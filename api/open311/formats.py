"""Open311's two wire formats: JSON arrays and the XML the spec describes; errors as arrays.

``write_xml`` and ``read_xml`` are each other's inverse for our documents (a null is written as
``xsi:nil``, so it stays distinct from an empty text), and ``read_xml`` also reads other cities'
real GeoReport XML (the tests use it for both), giving JSON-like values typed as the JSON Schemas
expect.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi.responses import Response

Format = Literal["json", "xml"]
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'

# Root element → the element of each item (list documents).
LIST_ROOTS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
}
# Nested lists inside an item: element → element of each entry.
NESTED_LISTS = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
BOOLEANS = {"metadata", "variable", "required"}
FLOATS = {"lat", "long"}
INTEGERS = {"order"}
# An error's code is its HTTP status (a number); an attribute's code is a name.
ERROR_INTEGERS = {"code"}
_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(tag: str, value: Any) -> ET.Element:
    node = ET.Element(tag)
    if value is None:
        node.set(_NIL, "true")  # null, as distinct from an empty text
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            node.append(_element(key, inner))
    elif isinstance(value, list):
        child = NESTED_LISTS.get(tag, "item")
        for inner in value:
            node.append(_element(child, inner))
    else:
        node.text = _text(value)
    return node


def write_xml(root: str, body: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> str:
    """An XML document: a list under ``root`` (items named by ``LIST_ROOTS``) or one object."""
    if isinstance(body, Mapping):
        element = _element(root, body)
    else:
        element = ET.Element(root)
        for item in body:
            element.append(_element(LIST_ROOTS[root], item))
    return XML_HEAD + ET.tostring(element, encoding="unicode")


def _scalar(tag: str, node: ET.Element, parent: str) -> Any:
    text = (node.text or "").strip()
    integers = ERROR_INTEGERS if parent == "error" else INTEGERS
    if node.get(_NIL) == "true" or (text == "" and tag in BOOLEANS | FLOATS | integers):
        return None
    if tag in BOOLEANS:
        return text.lower() == "true"
    if tag in FLOATS:
        return float(text)
    if tag in integers and text.lstrip("-").isdigit():
        return int(text)
    return text


def _strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read(node: ET.Element, parent: str = "") -> Any:
    tag = _strip_ns(node.tag)
    if tag in NESTED_LISTS:
        return [_read(child, tag) for child in node]
    if len(node) == 0:
        return _scalar(tag, node, parent)
    return {_strip_ns(child.tag): _read(child, tag) for child in node}


def read_xml(text: str | bytes) -> list[dict[str, Any]] | dict[str, Any]:
    """Parse a GeoReport XML document into JSON-like values (lists for list documents)."""
    root = ET.fromstring(text)
    tag = _strip_ns(root.tag)
    if tag in LIST_ROOTS:
        return [_read(child) for child in root]
    value = _read(root)
    return value if isinstance(value, dict) else {}


def respond(
    fmt: Format,
    root: str,
    body: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    status: int = 200,
) -> Response:
    """The answer in the asked-for format."""
    if fmt == "xml":
        return Response(write_xml(root, body), status_code=status, media_type=XML_TYPE)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status_code=status, media_type=JSON_TYPE)


# Our error statuses as Open311 reports them: it has no 401 or 422.
_OPEN311_STATUS = {401: 403, 422: 400}


def open311_error(path: str, status: int, description: str) -> Response:
    """An error as the spec's array of ``{code, description}``, in the path's format."""
    status = _OPEN311_STATUS.get(status, status)
    fmt: Format = "xml" if path.endswith(".xml") else "json"
    return respond(fmt, "errors", [{"code": status, "description": description}], status)
