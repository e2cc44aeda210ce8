"""Strict JSON request bodies: no non-finite numbers, no nesting deeper than ``MAX_DEPTH``, no lone surrogates.

Python's ``json`` (what the framework parses bodies with) accepts ``NaN``, ``Infinity`` and
``-Infinity``, turns literals such as ``1e999`` into infinity, and nests as deep as the interpreter's
recursion limit; pydantic's float fields accept non-finite values. It also reads an unpaired surrogate escape
(``"\\ud800"``) into a string that is not Unicode text, which no store keeps (BSON and the embedded
store's encoder want UTF-8). A body with any of these is answered 422 problem+json naming the field
``body`` before any handler runs.

The framework parses the body again after this check. To keep that the only parse for ordinary
bodies, a body is parsed here only when a cheap scan (substring counts and searches, one regular expression,
all in C) says it may hold what is refused: the text ``NaN`` or ``Infinity``, a number with an
exponent or with 309 digits or more, more than ``MAX_DEPTH`` opening brackets, an escape of a
surrogate (``\\uD800`` to ``\\uDFFF``, paired or not), or an encoding other than UTF-8. Bodies that are not
JSON at all are left to the framework (it answers 422 as before).

Whether a body is JSON is decided as the framework decides it, by the same calls (``fastapi.routing``:
``email.message.Message`` given the Content-Type as Starlette decodes it, main type ``application``
and subtype ``json`` or ``*+json``): a hand-written test passed ``application/json\xa0`` (and ``\x85``)
by, which the framework strips and parses, and ``1e999`` reached the store. A body without a
Content-Type (or with an empty one) is checked too: the framework parses it as JSON on a route whose
``strict_content_type`` is off (on, its default, it does not).

The body is read only inside the body-size limit (``BodyLimitMiddleware``), which bounds what is held
here; a request that did not come through it is an error of the app's assembly (500), not a body read
without bound.
"""

from __future__ import annotations

import codecs
import email.message
import functools
import json
import math
import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clustergrowth.bodylimit import LIMIT_SCOPE_KEY, declared_length
from clustergrowth.errors import problem_response
from clustergrowth.problems import Unprocessable

__all__ = ["MAX_DEPTH", "StrictJsonMiddleware", "body_problem", "is_json_content_type"]

MAX_DEPTH = 32
NON_FINITE = "non-finite number (NaN, Infinity, or too large for a double)"
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
LONE_SURROGATE = "a string holds an unpaired surrogate escape (\\uD800-\\uDFFF): not Unicode text"

# a number that may overflow a double: a digit before an exponent mark, or 309 digits in a row; with every
# digit read as 0 (one ``translate``), both are substring searches (a regular expression took 5 µs a body)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_DIGIT_RUN = b"0" * 309
_DIGIT_E = re.compile(rb"0[eE]")  # in the translated text: a digit, then an exponent's mark
_IN_NUMBER = frozenset(b"0.")  # (translated) digits and the decimal point
_MINUS = ord("-")
_BEFORE_NUMBER = frozenset(b" \t\r\n[:,")  # what a JSON number may follow (or the start of the text)
_MARKS_WALKED, _WALK_MAX = 8, 400  # more digit-exponent pairs, or a longer run of digits and points: parsed
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # also inside an escaped backslash: then parsed for nothing


class _NonFinite(Exception):
    pass


def _constant(name: str) -> Any:
    raise _NonFinite(name)  # json calls this for NaN, Infinity and -Infinity only


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # a JSON number literal is never NaN
        raise _NonFinite(text)
    return value


def _deeper_than(doc: Any, limit: int) -> bool:
    """True if ``doc`` nests arrays and objects more than ``limit`` levels (``[]`` is one level)."""
    stack = [(doc, 1)] if isinstance(doc, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _lone_surrogate(doc: Any) -> bool:
    """True if a string of ``doc`` (a key or a value) is not Unicode text: it holds an unpaired surrogate."""
    stack = [doc]
    while stack:
        node = stack.pop()
        texts = node.keys() if isinstance(node, dict) else (node,) if isinstance(node, str) else ()
        for text in texts:
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        if isinstance(node, dict | list):
            stack.extend(node.values() if isinstance(node, dict) else node)
    return False


def _risky_number(body: bytes) -> bool:
    """Whether ``body`` may hold a number with an exponent, or a run of 309 digits. A digit followed by ``e``
    or ``E`` is one only where the digits (with a point, after a minus) begin where a JSON number may: at
    the start, after whitespace, ``[``, ``:`` or ``,``. So an id of hex digits (``res-30e5c1``: letters and a
    hyphen before the digits) is not taken for one and its body not parsed here, as half of hex ids were.
    The walks back are bounded (a few, each a few hundred bytes): past that the body is parsed, as before."""
    digits = body.removeprefix(codecs.BOM_UTF8).translate(_DIGITS_AS_ZERO)  # the framework's parser drops a BOM
    if _DIGIT_RUN in digits:
        return True
    marks = digits.count(b"0e") + digits.count(b"0E")
    if not marks:
        return False
    if marks > _MARKS_WALKED:  # a body made of them: parsed, as every one was before (the walks stay few)
        return True
    for m in _DIGIT_E.finditer(digits):
        i, stop = m.start(), max(m.start() - _WALK_MAX, 0)
        while i > stop and digits[i - 1] in _IN_NUMBER:
            i -= 1
        if i == stop > 0:  # digits and points longer than a walk: parsed
            return True
        if i > 0 and digits[i - 1] == _MINUS:
            i -= 1
        if i == 0 or digits[i - 1] in _BEFORE_NUMBER:
            return True
    return False


def body_problem(body: bytes) -> str | None:
    """Why a JSON request body is refused, or None (also when it is not JSON: the framework says so)."""
    if not body:
        return None
    brackets = body.count(b"[") + body.count(b"{")  # counts brackets in strings too: an upper bound
    if not (
        brackets > MAX_DEPTH
        or b"NaN" in body
        or b"Infinity" in body
        or _risky_number(body)
        or _SURROGATE_ESCAPE.search(body)
        or json.detect_encoding(body) not in ("utf-8", "utf-8-sig")  # UTF-16/32: the scan above cannot see
    ):
        return None
    try:
        doc = json.loads(body, parse_constant=_constant, parse_float=_float)
    except _NonFinite:
        return NON_FINITE
    except RecursionError:
        return TOO_DEEP
    except ValueError:  # not JSON (a decode error, bad text encoding, an over-long integer)
        return None
    if brackets > MAX_DEPTH and _deeper_than(doc, MAX_DEPTH):
        return TOO_DEEP
    if _lone_surrogate(doc):
        return LONE_SURROGATE
    return None


def content_type_of(scope: Scope) -> bytes | None:
    """The request's first Content-Type value, as Starlette's ``request.headers`` reads it (None without one)."""
    return next((v for k, v in scope["headers"] if k == b"content-type"), None)


def is_json_content_type(value: bytes | None) -> bool:
    """Whether the framework may parse a body with this Content-Type (its first value; None without
    one) as JSON: its own test, with the same calls. Without a Content-Type, or with an empty one: yes
    (on routes whose ``strict_content_type`` is off). The answers for the last 64 values are kept (the
    email parser took 3 µs a request; clients send one or two spellings)."""
    return True if not value else _json_content_type(value)


@functools.lru_cache(maxsize=64)
def _json_content_type(value: bytes) -> bool:
    message = email.message.Message()
    message["content-type"] = value.decode("latin-1")  # as Starlette's request.headers decodes it
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class StrictJsonMiddleware:
    """Reads a JSON request body whole, refuses it (422) if ``body_problem`` finds a reason, else hands
    it on as one message. Install it inside the body-size limit, so what it holds is bounded there (it
    reads no body that did not come through the limit)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = content_type_of(scope)
        if declared_length(scope) == 0 or not is_json_content_type(content_type):  # no body, or not JSON
            await self.app(scope, receive, send)
            return
        if LIMIT_SCOPE_KEY not in scope:
            raise RuntimeError("StrictJsonMiddleware reads bodies only inside BodyLimitMiddleware")
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: the app sees what came, then that
                pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": True}, message]
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                reason = body_problem(body)
                if reason is not None:
                    problem = Unprocessable(f"body: {reason}", [{"field": "body", "reason": reason}])
                    await problem_response(problem, Request(scope))(scope, receive, send)
                    return
                pending = [{"type": "http.request", "body": body, "more_body": False}]
                break
        chunks.clear()

        async def replayed() -> Message:
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replayed, send)
