"""A REST body parsed within bounded work and memory, or refused with INVALID_ARGUMENT.

Python's JSON parser builds an object per value: a number costs ~9 times the bytes it takes in
the body, but an empty list (``[],``: 3 bytes) ~80 bytes, a two-letter string ~60 and a
``{"b64": ""}`` object ~200, so a body of small containers or strings would cost ~30 times its
size and seconds of parsing. Before parsing, lists, strings and objects are counted in C-speed
byte scans, weighted by what each costs, and a body holding more than ``HEAVY_ALLOWANCE`` plus
one per ``BODY_BYTES_PER_HEAVY`` bytes is refused: real tensors put many values in each list and
few strings in a request. What a body may then cost is `PEAK_BYTES_PER_BODY_BYTE` times its
size (measured, tests/serving/server/test_json_body.py). A number of more than Python's 4,300
digits and a lone UTF-16 surrogate (which no UTF-8 string can hold) are client errors, as
rapidjson makes them on TF Serving, never a server error.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from serving.server.status import invalid_argument

# What a body may hold: a fixed allowance of weighted lists, strings and objects, plus one per
# this many bytes of body. An object costs about four lists.
HEAVY_ALLOWANCE = 65_536
BODY_BYTES_PER_HEAVY = 16
OBJECT_WEIGHT = 4
# The memory a body's parse and conversion to tensors may take, per byte of body (docs/serving.md).
PEAK_BYTES_PER_BODY_BYTE = 16
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# A surrogate can only come from a \uD800-\uDFFF escape or from UTF-8 bytes ED A0-BF.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
SURROGATE_ERROR = "JSON Parse error: The surrogate pair in string is invalid."


def heavy_limit(size: int) -> int:
    return HEAVY_ALLOWANCE + size // BODY_BYTES_PER_HEAVY


def heavy_values(body: bytes) -> int:
    """The weighted count of lists, objects and strings, brackets inside strings left out; past
    the limit the count may stop early (it only has to show the body is over)."""
    brackets = body.count(b"[") + OBJECT_WEIGHT * body.count(b"{")
    limit = heavy_limit(len(body))
    quick = brackets + (body.count(b'"') + 1) // 2  # an upper bound: every quote may open a string
    if quick <= limit:
        return quick
    strings = 0
    for match in _STRING.finditer(body):  # O(1) memory; stops once the strings alone are over
        strings += 1
        if strings > limit:
            break
        start, end = match.span()
        brackets -= body.count(b"[", start, end) + OBJECT_WEIGHT * body.count(b"{", start, end)
    return brackets + strings


def parse_body(body: bytes) -> dict:
    """The body's JSON object; every problem is INVALID_ARGUMENT naming it."""
    heavy = heavy_values(body)
    if heavy > heavy_limit(len(body)):
        raise invalid_argument(
            f"JSON Value: the body's {len(body)} bytes hold {heavy} lists, strings and objects "
            f"(an object counts {OBJECT_WEIGHT}), more than this server parses: "
            f"{HEAVY_ALLOWANCE} plus one per {BODY_BYTES_PER_HEAVY} bytes"
        )
    try:
        document = json.loads(body)
    except RecursionError:
        raise invalid_argument("JSON Parse error: the document is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid_argument(f"JSON Parse error: {exc}") from None
    except ValueError:  # the only other ValueError of json.loads: Python's int-string limit
        raise invalid_argument(
            f"JSON Parse error: a number has more than {sys.get_int_max_str_digits()} digits"
        ) from None
    if not isinstance(document, dict):
        raise invalid_argument("JSON Value: the request body is not a JSON object")
    if _MAYBE_SURROGATE.search(body) and _has_lone_surrogate(document):
        raise invalid_argument(SURROGATE_ERROR)
    return document


def _has_lone_surrogate(document: Any) -> bool:
    """Whether any string (key or value) holds a lone surrogate; bounded by the container limit."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False
