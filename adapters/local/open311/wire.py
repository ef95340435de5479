"""What an Open311 server answers, read liberally (``open311.md``, "What a client must accept").

Every answer, JSON or XML, becomes the same plain values before the client looks
at it: lists of objects whose values are text, numbers, booleans, lists or
objects. Then :func:`items_of` finds the list in any of the shapes real servers
use (a bare array, a single object, or the array wrapped in ``service_requests``,
``services``, ``service_request_updates`` and the like), and :func:`errors_of`
reads every error of every shape (an array of ``{"code", "description"}``,
FixMyStreet's ``{"errors": {…}}`` or ``{"errors": […]}``, XML
``<errors><error>``).

XML is parsed by defusedxml with DTDs refused outright: an Open311 answer has no
use for a ``<!DOCTYPE>``, and refusing it refuses every entity expansion (the
"billion laughs" bomb, external entities) before any is expanded. The answer's
size is bounded before it is parsed (``bridge.runtime.http.MAX_ANSWER_BYTES``). Values
are read from the tree, never with regular expressions. An empty element
(``<updated_datetime/>``) is a missing value.

An answer that fits none of the shapes raises :class:`MalformedAnswer`, whose
message names the shape met (never its content: it may hold citizens' data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

#: the keys a list answer may be wrapped in (any of them, whatever was asked)
LIST_KEYS = (
    "service_requests",
    "requests",
    "service_request_updates",
    "service_requests_updates",
    "services",
)
#: keys that make a lone object one record (a single object where a list is due)
RECORD_KEYS = frozenset(
    {"service_request_id", "update_id", "token", "service_code", "status", "description"}
)


class MalformedAnswer(ValueError):
    """An answer that is none of the shapes a client accepts; the message names the shape."""


def parse_xml(data: bytes) -> Any:
    """An XML answer as plain values: a list element's children as a list of objects.

    A root with children that all have children (``<service_requests>`` of
    ``<request>``, ``<errors>`` of ``<error>``) is a list; any other root is
    one object (or, childless, its text).
    """
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MalformedAnswer(f"XML with a forbidden construct ({type(exc).__name__})") from None
    except ParseError as exc:
        raise MalformedAnswer(f"XML that is not well-formed ({exc})") from None
    return _root_value(root)


#: the root elements open311.md names as lists: their children are items, whatever each
#: child holds (a text-only child is an item that is not an object, told as such)
XML_LISTS = frozenset(
    {"errors", "services", "service_requests", "service_requests_updates",
     "service_request_updates"}
)  # fmt: skip


def _root_value(root: Element) -> Any:
    children = list(root)
    if root.tag in XML_LISTS or (children and all(len(child) for child in children)):
        return [_element_value(child) for child in children]
    return _element_value(root)


def _element_value(element: Element) -> Any:
    """An element as a value: its text (``None`` when empty), or an object of its
    children (a repeated child becomes a list)."""
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        return text or None
    grouped: dict[str, list[Any]] = {}
    for child in children:
        grouped.setdefault(child.tag, []).append(_element_value(child))
    return {tag: values[0] if len(values) == 1 else values for tag, values in grouped.items()}


def shape_of(body: Any) -> str:
    """A few words naming what an answer is, for messages (never its values)."""
    if isinstance(body, list):
        kinds = sorted({_json_kind(item) for item in body})
        return f"an array of {', '.join(kinds) or 'nothing'}"
    if isinstance(body, Mapping):
        keys = sorted(str(key) for key in body)[:6]
        return f"an object with keys {', '.join(keys) or '(none)'}"
    return f"a {type(body).__name__}"


def _json_kind(item: Any) -> str:
    """What an item is, in the words of JSON (a message is read by an operator)."""
    if item is None:
        return "nulls"
    if isinstance(item, bool):
        return "booleans"
    if isinstance(item, int | float):
        return "numbers"
    if isinstance(item, str):
        return "strings"
    if isinstance(item, list):
        return "arrays"
    if isinstance(item, Mapping):
        return "objects"
    return type(item).__name__


def errors_in(body: Any) -> list[Any] | None:
    """The error entries of a body that is an error, else ``None``."""
    if isinstance(body, Mapping) and "errors" in body:
        errors = body["errors"]
        if isinstance(errors, Mapping) and isinstance(errors.get("error"), list | Mapping):
            errors = errors["error"]  # XML-minded JSON: {"errors": {"error": [...]}}
        return list(errors) if isinstance(errors, list) else [errors]
    return None


def errors_of(body: Any) -> list[tuple[int | None, str]]:
    """Every ``(code, description)`` of an error body of any shape.

    A code may differ from the HTTP status, and be written as text.
    """
    listed = errors_in(body)
    if listed is None:
        listed = body if isinstance(body, list) else [body]
    out: list[tuple[int | None, str]] = []
    for item in listed:
        if isinstance(item, str):
            out.append((None, item.strip()))
            continue
        if not isinstance(item, Mapping):
            continue
        code = item.get("code")
        if isinstance(code, str) and code.strip().isdigit():
            code = int(code)
        description = item.get("description")
        out.append(
            (
                code if isinstance(code, int) and not isinstance(code, bool) else None,
                description.strip() if isinstance(description, str) else "",
            )
        )
    return out


def items_of(body: Any, what: str) -> list[Any]:
    """The list of an answer in any accepted shape; :class:`MalformedAnswer` otherwise.

    The elements are returned as they are: the caller decides what to do with one
    that is not an object.
    """
    if body is None or body == "":
        return []  # an XML list with no element (<service_requests/>), or an empty body
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        for key in LIST_KEYS:
            if key in body:
                inner = body[key]
                if inner is None:
                    return []
                if isinstance(inner, list):
                    return inner
                if isinstance(inner, Mapping):
                    # XML-minded JSON ({"service_requests": {"request": [...]}}), or one object
                    nested = [v for v in inner.values() if isinstance(v, list | Mapping)]
                    if len(inner) == 1 and nested and not (set(inner) & RECORD_KEYS):
                        value = nested[0]
                        return value if isinstance(value, list) else [value]
                    return [inner]
                break
        if set(body) & RECORD_KEYS:
            return [body]  # a single object where a one-element array is due
    raise MalformedAnswer(f"the {what} answer is {shape_of(body)}, not a list")
