"""The request head's time limit in the bounded HTTP protocol, on a clock driven by hand: the protocol
reads time from its event loop (``call_later``), and here the loop is a fake whose time only moves
when the test moves it. No sockets, no sleeping."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from clustergrowth.httpserver import BoundedHttpToolsProtocol, HeadLimits, bounded_protocol

HEAD = b"GET /healthz HTTP/1.1\r\nHost:t\r\n\r\n"
TIMEOUT = 10.0
KEEP_ALIVE = 5  # uvicorn's default


class Timer:
    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when, self.callback, self.args, self.cancelled = when, callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class Task:
    def add_done_callback(self, callback: Callable[..., object]) -> None:
        pass


class Loop:
    """The little of an event loop the protocol uses: the time, timers, and tasks (not run: the
    requests' handling is not what is tested; a test completes a response by hand)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[Timer] = []
        self.tasks = 0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any, **_: Any) -> Timer:
        timer = Timer(self.now + delay, callback, args)
        self.timers.append(timer)
        return timer

    def create_task(self, coro: Any, **_: Any) -> Task:
        coro.close()
        self.tasks += 1
        return Task()

    def advance_to(self, t: float) -> None:
        """Move the time to ``t``, running the timers due on the way, in order."""
        while True:
            due = sorted((x for x in self.timers if not x.cancelled and x.when <= t), key=lambda x: x.when)
            if not due:
                break
            timer = due[0]
            self.timers.remove(timer)
            self.now = timer.when
            timer.callback(*timer.args)
        self.now = t


class Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = self.eof = self.reading_paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: bytes) -> None:
        assert not self.closed and not self.eof
        self.written += data

    def is_closing(self) -> bool:
        return self.closed or self.eof

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False


async def app(scope: Any, receive: Any, send: Any) -> None:  # never run
    raise AssertionError


@pytest.fixture
def connect() -> Iterator[Callable[[], tuple[BoundedHttpToolsProtocol, Loop, Transport]]]:
    """A new connection accepted at the loop's time 0."""
    cls = bounded_protocol(HeadLimits(head_timeout_s=TIMEOUT))
    config = Config(app, http=cls, log_config=None, timeout_keep_alive=KEEP_ALIVE)
    config.load()

    def new() -> tuple[BoundedHttpToolsProtocol, Loop, Transport]:
        loop, transport = Loop(), Transport()
        proto = cls(config, ServerState(), {}, _loop=loop)  # type: ignore[arg-type]
        proto.connection_made(transport)  # type: ignore[arg-type]
        return proto, loop, transport

    yield new


def answered(transport: Transport, status: int) -> dict[str, Any]:
    head, _, body = transport.written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), transport.written[:200]
    assert b"connection: close" in head and b"application/problem+json" in head
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == status
    return problem


def respond(proto: BoundedHttpToolsProtocol) -> None:
    """The app has finished the response to the request being handled."""
    proto.cycle.response_complete = True
    proto.on_response_complete()


def trickle(proto: BoundedHttpToolsProtocol, loop: Loop, transport: Transport, start: float, gap: float) -> float:
    """Send HEAD a byte every ``gap`` s from ``start`` until the server answers; when it answered."""
    for i in range(len(HEAD)):
        loop.advance_to(start + i * gap)
        if transport.written or transport.is_closing():
            return loop.now
        proto.data_received(HEAD[i : i + 1])
    raise AssertionError("the whole head was taken")


def test_a_trickled_first_head_is_408_at_the_deadline_from_the_accept(connect: Any) -> None:
    proto, loop, transport = connect()
    when = trickle(proto, loop, transport, start=3, gap=1)  # the first byte 3 s after the accept
    assert when == TIMEOUT
    problem = answered(transport, 408)
    assert problem["type"].endswith("/request-timeout") and "10 s" in problem["detail"]
    assert transport.eof and not transport.closed  # lingering: the sending side is closed first
    proto.data_received(b"more")  # dropped
    loop.advance_to(when + 0.5)
    assert transport.closed and loop.tasks == 0


def test_a_head_complete_inside_the_deadline_is_served(connect: Any) -> None:
    proto, loop, transport = connect()
    for i, piece in enumerate((HEAD[:5], HEAD[5:20], HEAD[20:])):
        loop.advance_to(4.9 * i)  # the last piece at 9.8 s
        proto.data_received(piece)
    assert loop.tasks == 1
    loop.advance_to(1000)  # the request is being handled: no time limit on the app
    assert transport.written == b"" and not transport.is_closing()


def test_a_new_connection_that_sends_nothing_is_closed_without_an_answer(connect: Any) -> None:
    _, loop, transport = connect()
    loop.advance_to(TIMEOUT - 0.01)
    assert not transport.closed
    loop.advance_to(TIMEOUT)
    assert transport.closed and transport.written == b""


def test_between_requests_keep_alive_governs_and_a_later_head_is_timed_from_its_first_byte(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(HEAD)
    respond(proto)  # at 0
    loop.advance_to(KEEP_ALIVE - 0.01)
    assert not transport.closed
    loop.advance_to(KEEP_ALIVE)  # uvicorn's keep-alive closes an idle connection, without an answer
    assert transport.closed and transport.written == b""

    proto, loop, transport = connect()
    proto.data_received(HEAD)
    loop.advance_to(50)
    respond(proto)  # at 50; idle until the next head begins at 54
    when = trickle(proto, loop, transport, start=54, gap=1)
    assert when == 54 + TIMEOUT
    answered(transport, 408)


def test_a_head_waiting_behind_a_request_gets_its_time_after_the_response(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(HEAD + HEAD[:5])  # a request, and the start of the next head
    proto.flow.pause_reading()  # as uvicorn does when a request waits behind another
    loop.advance_to(30)  # long past the deadline: the server was not reading
    assert transport.written == b"" and not transport.is_closing()
    respond(proto)  # at 30: reading resumes, the head's time starts again
    assert not transport.reading_paused
    proto.data_received(HEAD[5:6])  # what waited in the socket
    loop.advance_to(30 + TIMEOUT - 0.01)
    assert transport.written == b""
    loop.advance_to(30 + TIMEOUT)
    answered(transport, 408)


def test_a_slow_head_behind_a_slow_response_is_answered_after_it(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(HEAD)
    loop.advance_to(1)
    proto.data_received(HEAD[:5])  # read while the first request is handled
    loop.advance_to(1 + TIMEOUT)  # refused, but the first response is still being written
    assert transport.written == b""
    proto.data_received(HEAD[5:])  # dropped
    loop.advance_to(20)
    respond(proto)
    answered(transport, 408)
    assert loop.tasks == 1


def test_a_head_that_arrives_whole_costs_no_timer(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(HEAD)
    respond(proto)
    for _ in range(3):
        proto.data_received(HEAD)
        assert not [t for t in loop.timers if not t.cancelled and t.callback == proto._timed_out]
        respond(proto)
    assert loop.tasks == 4 and transport.written == b""


# --- the rest of a chunked request: chunk-size lines and the trailer ----------------------------------
#
# A chunked body's bytes are not limited in time (the app reads them at its pace, and the body limit
# bounds their size), but what is not body is, like a head: from the end of a chunk's data (the first:
# from the end of the head) to the next chunk's first data byte, and from the last body byte to the end
# of the message (the last chunk's line and the trailer).

CHUNKED = b"POST /x HTTP/1.1\r\nHost:t\r\nTransfer-Encoding:chunked\r\n\r\n"


def feed(
    proto: BoundedHttpToolsProtocol, loop: Loop, transport: Transport, data: bytes, start: float, gap: float
) -> float:
    """Send ``data`` a byte every ``gap`` s from ``start`` until the server answers or closes; when."""
    for i in range(len(data)):
        loop.advance_to(start + i * gap)
        if transport.written or transport.is_closing():
            return loop.now
        proto.data_received(data[i : i + 1])
    return -1.0


def framing_timers(proto: BoundedHttpToolsProtocol, loop: Loop) -> list[Timer]:
    return [t for t in loop.timers if not t.cancelled and t.callback == proto._timed_out]


def test_a_trickled_trailer_is_408_at_the_deadline_from_the_last_body_byte(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(CHUNKED + b"5\r\nhello\r\n")  # the last body byte, at 0
    when = feed(proto, loop, transport, b"0\r\nX-T:abc\r\n\r\n", start=3, gap=1)
    assert when == TIMEOUT
    problem = answered(transport, 408)
    assert "trailer" in problem["detail"] and "10 s" in problem["detail"]
    assert proto.cycle.disconnected  # the app, waiting for the rest of the body, is told the client left
    loop.advance_to(when + 0.5)
    assert transport.closed


def test_body_bytes_are_not_timed_and_each_chunk_line_is(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(CHUNKED + b"20\r\n")
    assert feed(proto, loop, transport, b"d" * 32 + b"\r\n", start=5, gap=5) == -1  # 32 body bytes over 160 s
    loop.advance_to(170 + TIMEOUT - 0.01)  # the chunk's data and its line end came by 170 s
    proto.data_received(b"0\r\nX-T:1\r\n\r\n")
    assert proto.cycle.more_body is False  # the whole request, in time
    loop.advance_to(1000)
    assert transport.written == b"" and not transport.is_closing() and not framing_timers(proto, loop)

    proto, loop, transport = connect()
    proto.data_received(CHUNKED + b"5\r\nhello\r\n")
    when = feed(proto, loop, transport, b"5;ext=" + b"e" * 20 + b"\r\nhello\r\n", start=1, gap=1)
    assert when == TIMEOUT  # a chunk-size line (with an extension) that takes too long
    answered(transport, 408)

    proto, loop, transport = connect()
    proto.data_received(CHUNKED)  # the first chunk's line is timed from the end of the head
    loop.advance_to(TIMEOUT - 0.01)
    assert transport.written == b""
    loop.advance_to(TIMEOUT)
    answered(transport, 408)


def test_a_chunked_request_that_arrives_whole_costs_no_timer(connect: Any) -> None:
    proto, loop, transport = connect()
    for _ in range(3):
        proto.data_received(CHUNKED + b"5\r\nhello\r\n3;e=1\r\nabc\r\n0\r\nX-T:1\r\n\r\n")
        assert not framing_timers(proto, loop)
        respond(proto)
    assert loop.tasks == 3 and transport.written == b""


def test_a_trailer_refused_after_the_response_closes_without_a_second_answer(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(CHUNKED)
    respond(proto)  # the app answered without reading the body
    when = feed(proto, loop, transport, b"0\r\nX-T:" + b"x" * 30, start=1, gap=1)
    assert when == TIMEOUT  # from the end of the head: the last chunk's line and the trailer took too long
    assert transport.written == b""  # that request was answered: no second answer
    assert transport.eof and not transport.closed  # but lingering, not a reset that could destroy the first
    loop.advance_to(when + 0.5)
    assert transport.closed


def test_the_clock_waits_while_the_server_is_not_reading_or_the_client_awaits_100_continue(connect: Any) -> None:
    proto, loop, transport = connect()
    proto.data_received(CHUNKED + b"5\r\nhello\r\n")
    proto.flow.pause_reading()  # as uvicorn does while the app has not read what came
    loop.advance_to(35)
    assert transport.written == b"" and not transport.is_closing()
    proto.flow.resume_reading()  # the app reads; what waited in the socket comes
    proto.data_received(b"0\r\n\r\n")
    assert proto.cycle.more_body is False
    loop.advance_to(1000)
    assert transport.written == b"" and not transport.is_closing()

    proto, loop, transport = connect()
    proto.data_received(CHUNKED.replace(b"\r\n\r\n", b"\r\nExpect:100-continue\r\n\r\n"))
    loop.advance_to(35)  # the client waits for 100 Continue, which the app has not asked for yet
    assert transport.written == b"" and not transport.is_closing()
    proto.cycle.waiting_for_100_continue = False  # the app reads the body: uvicorn sends 100 Continue
    loop.advance_to(35 + 2 * TIMEOUT)
    answered(transport, 408)


def test_trailer_fields_do_not_reach_the_request_headers(connect: Any) -> None:
    """uvicorn appends what httptools hands over to the scope's header list, which the app may read
    after the body: a trailer could add a Content-Type the strict-JSON check never saw."""
    proto, _, transport = connect()
    proto.data_received(CHUNKED + b"5\r\nhello\r\n0\r\nContent-Type:application/json\r\nX-T:1\r\n\r\n")
    names = [name for name, _ in proto.scope["headers"]]
    assert names == [b"host", b"transfer-encoding"]
    assert proto.cycle.more_body is False and transport.written == b""


def test_a_trailer_or_chunk_lines_over_the_head_limit_are_431(connect: Any) -> None:
    def grow(first: bytes, piece: bytes) -> int:
        proto, _, transport = connect()
        proto.data_received(first)
        for n in range(1, 100):
            if transport.written or transport.is_closing():
                return n
            proto.data_received(piece)
        raise AssertionError("never refused")

    limit = HeadLimits().max_head_bytes
    # a trailer field that never ends: refused after the limit plus at most a read
    reads = grow(CHUNKED + b"0\r\nX-T:", b"x" * (16 << 10))
    assert reads * (16 << 10) <= limit + (32 << 10)
    # a chunk extension that never ends
    reads = grow(CHUNKED + b"5;e=", b"x" * (16 << 10))
    assert reads * (16 << 10) <= limit + (32 << 10)
    # many small chunks: body is not counted, their lines are
    reads = grow(CHUNKED, b"1;e=" + b"x" * 1000 + b"\r\nd\r\n")
    assert 65 <= reads <= 67  # each read is 1009 bytes, 1008 of them not body
    # trailer fields count as header fields of the head
    proto, _, transport = connect()
    proto.data_received(CHUNKED + b"0\r\n" + b"".join(b"X-T%d:1\r\n" % i for i in range(99)) + b"\r\n")
    problem = answered(transport, 431)
    assert "more than 100 header fields" in problem["detail"]
    assert proto.cycle.disconnected
    # under the limits, a chunked request with a trailer is taken
    proto, _, transport = connect()
    proto.data_received(CHUNKED + b"5;e=1\r\nhello\r\n0\r\nX-T:" + b"v" * 30000 + b"\r\n\r\n")
    assert proto.cycle.more_body is False and transport.written == b""


def test_a_refused_request_waiting_behind_another_is_never_handled_and_answered_after_it(connect: Any) -> None:
    proto, loop, transport = connect()
    trailer = b"".join(b"X-T%d:1\r\n" % i for i in range(99))
    proto.data_received(HEAD + CHUNKED + b"0\r\n" + trailer + b"\r\n")  # the second has 101 fields in all
    assert transport.written == b"" and loop.tasks == 1  # the first is being handled
    assert proto.cycle.disconnected and not proto.cycle.response_started  # the second's handler would be told
    proto.on_response_complete()  # the first's response is written
    problem = answered(transport, 431)
    assert "more than 100 header fields" in problem["detail"]
    assert loop.tasks == 1 and not proto.pipeline  # the second was never handed to the app
