"""The HTTP/1.1 server of every ``clustergrowth run`` process: uvicorn's httptools protocol with the
request head bounded while it arrives.

Unbounded, httptools keeps a header value it has not seen the end of, and uvicorn the request target,
for as long as the client sends them (one 256 MB head took a process from 109 MB to 439 MB, and
minutes of CPU, as the value is grown by concatenation). Here each request head is measured as it is
read, and a head over a limit is answered at once (problem+json) and the connection closed:

* the request line (method, target, version) over ``max_request_line_bytes`` → 414 URI Too Long;
* more than ``max_headers`` header fields → 431 Request Header Fields Too Large;
* a head over ``max_head_bytes`` (request line, header fields, the blank line) → 431.

The head is measured two ways. Data that arrives while a head is incomplete, in a read that began
inside that head (or started it), is head: it is counted whole, so a head that never ends is refused
after at most the limit plus one read (asyncio and uvloop read at most 256 KiB at a time). What the
parser hands over (the target, each complete field) is counted too, which catches a large head that
arrives in one read with its end. A head under the limits is never refused.

A head is also bounded in time (uvicorn bounds only the wait between requests, keep-alive, so a client
sending one byte a second held a connection and its head buffer for ever): a head not complete
``head_timeout_s`` after its first byte arrived (the first head of a connection: after the accept) is
answered 408 Request Timeout. A new connection that sent nothing by then is closed without an answer
(there is no request to answer; the compiled front closes an idle connection so too). The time is the
event loop's (``call_later``), so a test drives it with its own loop. A head whose bytes wait behind
earlier requests (uvicorn stops reading while a pipelined request waits) is given the whole time again
once their responses are written.

The rest of a request that is not body is bounded the same way: a chunked body's chunk-size lines
(with their extensions) and its trailer. httptools held a trailer field whole while it arrived (grown
by concatenation, like a head's: 178 MiB sent took a process from 118 to 467 MiB), and nothing timed
it (a trailer sent a byte a second held its connection for ever). So:

* its bytes count with the head's against ``max_head_bytes`` (431): a read that lies wholly inside a
  request's body adds what of it is not body (the read's length less the body handed over); the
  trailer's complete fields count as header fields too (``max_headers``, and their size). As for a
  head, a request under the limit is never refused, and one over it costs at most the limit plus a
  read or two (the reads in which its body began and ended are not counted whole);
* it is timed like a head: from the end of the head, and from the end of each chunk's data, to the
  next chunk's first data byte, and from the last body byte to the end of the request (the last chunk's
  line and the trailer), ``head_timeout_s`` each (408). The body's own bytes are not timed (the app
  reads them at its pace; the body limit bounds them). While the server is not reading (the app has
  not taken what came, or the request waits behind another) or the client awaits ``100 Continue``,
  the clock is wound again;
* trailer fields are dropped (ASGI has no request trailers): uvicorn appended them to the request's
  header list, which the app may read after the body; a trailer could have added a Content-Type the
  strict-JSON check never saw.

A request refused there is one the app may be handling: it is told the client left (its reads get
``http.disconnect``, what it sends is dropped), and the refusal is answered unless that request has
been answered already (then the connection is only closed, as below: a second answer to one request
would be read as the answer to the next) or its answer has begun (then it is cut short).

After refusing, the server closes its sending side and reads (and drops) what the client still sends,
briefly, before closing: closing a socket with unread input makes the kernel send a reset, which can
destroy the answer before the client reads it (the compiled front does the same).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from clustergrowth.settings import RuntimeSettings

__all__ = ["BoundedHttpToolsProtocol", "HeadLimits", "bounded_protocol", "freeze_startup_heap", "uvicorn_options"]

log = logging.getLogger("clustergrowth.http")

PROBLEM_TYPE = "https://smeclustergrowth.eu/problems/"
LINGER_S = 0.5  # after a refusal: how long input is still read (and dropped) before the close
LINGER_BYTES = 1 << 20  # ... and how much of it


@dataclass(frozen=True)
class HeadLimits:
    max_head_bytes: int = 64 << 10
    max_headers: int = 100
    max_request_line_bytes: int = 8 << 10
    head_timeout_s: float = 10.0


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; ``data_received`` answers it."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


_TITLES = {
    408: ("Request timeout", "request-timeout"),
    414: ("URI too long", "uri-too-long"),
    431: ("Request header fields too large", "header-fields-too-large"),
}


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing request heads over ``limits`` while they arrive, or that
    take longer than ``limits.head_timeout_s``."""

    limits: ClassVar[HeadLimits] = HeadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = "idle"  # idle (between requests), head, body
        self._begun = 0  # requests begun in the read being parsed
        self._ended = 0  # requests ended in the read being parsed
        self._body_read = 0  # body bytes handed over in the read being parsed
        self._head_bytes = 0  # reads of the current head counted whole
        self._line_bytes = 0  # the request line, from what the parser has handed over
        self._fields_bytes = 0  # the complete header (and trailer) fields handed over, as name:value CRLF
        self._header_count = 0
        self._head_size = 0  # the head as handed over (line, fields, line ends), once it is complete
        self._framing_bytes = 0  # what was not body in the reads wholly inside the current body
        self._framing = False  # a chunked body's next bytes are not body: a chunk-size line, or the trailer
        self._refusal: _Refused | None = None
        self._refused = False
        self._deferred: _Refused | None = None  # a refusal waiting for earlier responses to finish
        self._dropped = 0
        self._linger: asyncio.TimerHandle | None = None
        self._clock: asyncio.TimerHandle | None = None  # runs while a head, or what is not body, is awaited

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_clock()  # the first head is timed from the accept

    def data_received(self, data: bytes) -> None:
        if self._refused:  # lingering after a refusal: drop what still comes, within bounds
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        phase, self._begun, self._ended, self._body_read = self._phase, 0, 0, 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(self._refusal)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._phase == "head" and (self._begun == 0 or (self._begun == 1 and phase == "idle")):
            # the whole read belongs to the head still arriving (it began before, or with, this read)
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(_Refused(431, self._head_detail()))
        elif phase == "body" and self._phase == "body" and self._ended == 0:
            # the whole read lies inside one request's body: what of it is not body is chunk-size lines
            # (and extensions), chunk ends, or the trailer
            self._framing_bytes += len(data) - self._body_read
            if self._head_size + self._framing_bytes > self.limits.max_head_bytes:
                self._refuse(_Refused(431, self._framing_detail()))
        if self._clock is None and not self._refused and (self._phase == "head" or self._framing):
            # a head, or what is not body, began in this read and is not complete: its time runs from now
            # (a request that arrives whole, the usual case, costs no timer)
            self._start_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self._stop_clock()
        super().connection_lost(exc)

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase, self._begun = "head", self._begun + 1
        self._head_bytes = self._line_bytes = self._fields_bytes = self._header_count = 0
        self._head_size = self._framing_bytes = 0
        self._framing = False
        self._refusal = None

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._line_bytes = len(self.parser.get_method()) + 1 + len(self.url) + 9  # method SP target SP HTTP/1.1
        if self._line_bytes > self.limits.max_request_line_bytes:
            self._stop(414, f"the request line is longer than {self.limits.max_request_line_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._fields_bytes += len(name) + len(value) + 3  # name:value CRLF (the space is optional)
        if self._header_count > self.limits.max_headers:
            self._stop(431, f"the request has more than {self.limits.max_headers} header fields")
        if self._line_bytes + 2 + self._fields_bytes + 2 > self.limits.max_head_bytes:  # with both line ends
            self._stop(431, self._head_detail() if self._phase == "head" else self._framing_detail())
        if self._phase == "head":  # a trailer field (in the body phase) is counted, and dropped
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._stop_clock()
        self._head_size = self._line_bytes + 2 + self._fields_bytes + 2
        # chunked (llhttp refuses a request whose last transfer coding is not chunked): a chunk-size line next
        self._framing = any(name == b"transfer-encoding" for name, _ in self.headers)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_read += len(body)
        if self._framing:  # a chunk's data: the body's own bytes are not timed
            self._framing = False
            self._stop_clock()
        super().on_body(body)

    def on_chunk_complete(self) -> None:
        self._framing = True  # the next chunk's line, or (after the last chunk's line) the trailer's end

    def on_message_complete(self) -> None:
        self._phase, self._ended, self._framing = "idle", self._ended + 1, False
        self._stop_clock()
        super().on_message_complete()

    # the time of a head, and of what is not body

    def _start_clock(self) -> None:
        self._stop_clock()
        self._clock = self.loop.call_later(self.limits.head_timeout_s, self._timed_out)

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _timed_out(self) -> None:
        self._clock = None
        if self._refused or self.transport.is_closing():
            return
        if self._phase == "body":
            if self.flow.read_paused or self.cycle.waiting_for_100_continue:
                self._start_clock()  # the wait is not the client's: wound again
                return
            t = self.limits.head_timeout_s
            detail = f"the rest of the request (a chunk-size line, or the trailer) did not arrive within {t:g} s"
            self._refuse(_Refused(408, detail))
            return
        if self.flow.read_paused:  # the head waits behind earlier requests: timed again after their responses
            return
        if self._phase == "idle":  # a new connection that sent nothing: no request to answer
            log.debug("connection closed: no request within %g s", self.limits.head_timeout_s)
            self.transport.close()
        elif self._phase == "head":
            self._refuse(_Refused(408, f"the request head did not arrive within {self.limits.head_timeout_s:g} s"))

    # refusing

    def _head_detail(self) -> str:
        return f"the request head is larger than {self.limits.max_head_bytes} bytes"

    def _framing_detail(self) -> str:
        return (
            f"the request head, its chunk-size lines and its trailer are larger than {self.limits.max_head_bytes} bytes"
        )

    def _stop(self, status: int, detail: str) -> None:
        self._refusal = _Refused(status, detail)
        raise self._refusal

    def _refuse(self, refusal: _Refused) -> None:
        """Stop reading requests on this connection and answer ``refusal``, after the responses to
        earlier (pipelined) requests if some are still being written."""
        self._refused = True
        self._stop_clock()
        log.info("request refused (%d): %s", refusal.status, refusal.detail)
        if self._phase == "body":
            self._refuse_in_body(refusal)
        elif self.cycle is not None and not self.cycle.response_complete:
            self._deferred = refusal
        else:
            self._answer(refusal)

    def _refuse_in_body(self, refusal: _Refused) -> None:
        """The request whose body is being read is refused: the app, if it handles the request, is
        told the client left; the refusal answers it unless its answer has begun."""
        cycle = self.cycle
        queued = any(c is cycle for c, _ in self.pipeline)
        if queued:  # waiting behind an earlier request: it will never be handled
            self.pipeline = deque((c, app) for c, app in self.pipeline if c is not cycle)
        if cycle.response_complete:  # answered already: nothing to add, the connection is closed
            self._close_softly()
            return
        answer_begun = cycle.response_started
        cycle.disconnected = True  # receive() says http.disconnect, send() drops what the app sends
        cycle.message_event.set()
        if answer_begun:
            self.transport.close()
        elif queued:
            self._deferred = refusal
        else:
            self._answer(refusal)

    def on_response_complete(self) -> None:
        if self._deferred is None or self.pipeline:
            super().on_response_complete()
            if self._phase == "head" and not self._refused and not self.transport.is_closing():
                # part of the next head came while this request was served, and reading may have
                # stopped meanwhile: its time starts again now
                self._start_clock()
            return
        self.server_state.total_requests += 1
        refusal, self._deferred = self._deferred, None
        if not self.transport.is_closing():
            self._answer(refusal)

    def _answer(self, refusal: _Refused) -> None:
        """problem+json, then close softly."""
        title, suffix = _TITLES[refusal.status]
        body = json.dumps(
            {"type": PROBLEM_TYPE + suffix, "title": title, "status": refusal.status, "detail": refusal.detail}
        ).encode()
        head = [STATUS_LINE[refusal.status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self._close_softly()

    def _close_softly(self) -> None:
        """Close the sending side, read and drop input briefly (within LINGER_BYTES), and close."""
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_S, self.transport.close)


def bounded_protocol(limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http=``, with ``limits``."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


FULL_COLLECTION_EVERY = 100  # generation-1 collections between full ones (CPython's default: 10)
YOUNG_COLLECTION_AFTER = 7000  # allocations of tracked objects between young collections (CPython's: 700)


def freeze_startup_heap() -> None:
    """Collect the start-up's garbage, leave what is left out of every later cyclic collection, and
    make young and full collections rarer.

    Young collections: a booking makes several hundred tracked objects (the day's schedule read whole,
    its bookings, the request's coroutines and models), so at CPython's 700 a young collection ran about
    once a booking and walked every object of the requests still in flight (64 of them under wrk), most
    of which survive it. Timed with gc.callbacks in the split API under bench.contention's load, the
    collections cost 110 µs a booking at 700 (a young one every 5 bookings, a middle one every 50) and
    22 µs at 7,000; 20,000 saved no more.

    Why: a full (generation 2) collection walks every tracked object. Once its app is built the
    instance holds about 165,000 (modules, classes, FastAPI's routes and models), and a full collection
    of them took 90-190 ms (up to 900 ms at load 9), landing inside whichever request was running:
    GET /cluster-map through the instance had p99 120 ms where the read's own was 9 ms (bench.mapping).
    Frozen, a full collection walks only what was made since (about 30,000 objects). But CPython also
    waits for a full collection until the objects promoted since the last one exceed a quarter of the
    oldest generation, which the freeze makes small: full collections then came every ~30 requests
    (34-37 in 1,000) and reached the p99. Checked for every 100 generation-1 collections instead of
    10, they are as rare as before the freeze (5 in 1,000). 1,000 GETs at 10,000 SMEs, load 8-10, two
    rounds, CPU time p99 / p99.9 / max: unfrozen 22.4-22.6 / 146-160 / 148-163 ms; frozen 27.8-33.2 /
    40-48 / 45-49; frozen with this threshold 19.0-22.4 / 26-39 / 30-41. Frozen objects are still freed
    by reference counting; only cycles among the start-up's own objects are no longer looked for, and
    the start-up happens once. Over 3,000 more requests the tracked objects stayed at about 30,000 and
    RSS grew 11.8 MB (15.9 MB with CPython's defaults)."""
    gc.collect()
    gc.freeze()
    _, gen1, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, gen1, FULL_COLLECTION_EVERY)


def uvicorn_options(settings: RuntimeSettings) -> dict[str, Any]:
    """uvicorn settings every process shares: the bounded protocol (head size and time), and
    X-Forwarded-For / -Proto believed only from ``settings.trusted_proxies`` (uvicorn's own default
    believes 127.0.0.1). Called by ``clustergrowth run`` once its app is built, just before serving,
    so the start-up heap is frozen here, in this one place (``freeze_startup_heap``)."""
    freeze_startup_heap()
    limits = HeadLimits(
        max_head_bytes=settings.http_max_head_bytes,
        max_headers=settings.http_max_headers,
        max_request_line_bytes=settings.http_max_request_line_bytes,
        head_timeout_s=settings.http_head_timeout_s,
    )
    return {
        "http": bounded_protocol(limits),
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
    }
