"""The request-body limit of every app (the gateway's, each service's own): a body over the limit is
answered 413 problem+json before the app reads any of it.

Every request that carries a body is held to it, whatever its method: a GET, HEAD or OPTIONS with a
body used to be let by, and the strict-JSON check behind read a JSON body whole (one GET /healthz
declaring 256 MiB took a process from 181 to 628 MiB). Install it outside everything that reads a
body; the strict-JSON check refuses to read one that did not come through it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clustergrowth.errors import problem_response
from clustergrowth.problems import PayloadTooLarge

__all__ = ["LIMIT_SCOPE_KEY", "BodyLimitMiddleware", "declared_length"]

LIMIT_SCOPE_KEY = "clustergrowth.max_body_bytes"  # set in the scope by the limit, for what reads the body inside it


def declared_length(scope: Scope) -> int | None:
    """The body's length as the request's head gives it: Content-Length's value; 0 with neither
    Content-Length nor Transfer-Encoding (an HTTP/1.1 request then has no body); None when only reading
    the body tells (chunked, or a Content-Length that is not a number)."""
    length: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length" and length is None:
            length = value
    if length is None:
        return 0
    return int(length) if length.isdigit() else None


class BodyLimitMiddleware:
    """Refuse request bodies above ``max_bytes`` with 413: at once by Content-Length, else by reading the
    body (at most ``max_bytes`` + one chunk is held) before the app sees it, then replaying it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[LIMIT_SCOPE_KEY] = self.max_bytes
        declared = declared_length(scope)
        if declared is not None:  # the server hands over exactly that many bytes
            if declared > self.max_bytes:
                await problem_response(self._problem())(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        replay: list[Message]  # popped from the end
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: the app sees what came, then that
                replay = [message, {"type": "http.request", "body": b"".join(chunks), "more_body": True}]
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await problem_response(self._problem())(scope, receive, send)
                return
            if not message.get("more_body", False):
                replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
                break
        chunks.clear()

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    def _problem(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is larger than {self.max_bytes} bytes")
