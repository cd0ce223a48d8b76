"""Open311 GeoReport v2 responses in both formats the spec defines: `.json` and `.xml`.

The same Python data (lists of dicts) goes out as JSON, or as the spec's XML: a root element
(`services`, `service_requests`, `errors`, ...) holding one element per item (`service`,
`request`, `error`, ...); nested lists take the singular of their name (`attributes` ->
`attribute`); None is an empty element, booleans are `true`/`false`.
"""
from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import JSONResponse, Response

FORMATS = {"json": "application/json", "xml": "text/xml"}
# nested list name -> element name of each item (GeoReport v2 and its discovery document)
SINGULAR = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _fill(ET.SubElement(element, key), inner)
    elif isinstance(value, (list, tuple)):
        item = SINGULAR.get(element.tag, "item")
        for inner in value:
            _fill(ET.SubElement(element, item), inner)
    else:
        element.text = _text(value)


def to_xml(data: Any, root: str, item: str | None = None) -> bytes:
    """`data` as a GeoReport XML document: a list becomes `<root><item>...</item>...</root>`,
    a dict the children of `<root>`."""
    top = ET.Element(root)
    if isinstance(data, list):
        for inner in data:
            _fill(ET.SubElement(top, item or "item"), inner)
    else:
        _fill(top, data)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def respond(fmt: str, data: Any, root: str, item: str | None = None, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(data, root, item), status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(data, status_code=status)


def error(fmt: str, status: int, description: str) -> Response:
    """GeoReport errors: `[{"code", "description"}]`, in XML `<errors><error>...`."""
    return respond(fmt, [{"code": status, "description": description}], "errors", "error", status)
