"""Problems: errors shown to clients as RFC 9457 problem details. No web framework here, so
domain packages can raise them."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """An error that is shown to the client as problem+json; domain errors subclass it."""

    status = 400
    title = "Bad request"
    type_suffix = "bad-request"

    def __init__(self, detail: str, *, retry_after: int | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.retry_after = retry_after  # seconds, sent as Retry-After

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://smeclustergrowth.eu/problems/{self.type_suffix}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class NotFound(Problem):
    status, title, type_suffix = 404, "Not found", "not-found"


class Conflict(Problem):
    status, title, type_suffix = 409, "Conflict", "conflict"


class Forbidden(Problem):
    status, title, type_suffix = 403, "Forbidden", "forbidden"


class Unauthorized(Problem):
    status, title, type_suffix = 401, "Unauthorized", "unauthorized"


class Unprocessable(Problem):
    """Input that is well-formed but breaks a rule; ``errors`` names each field and reason."""

    status, title, type_suffix = 422, "Unprocessable content", "validation"

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail, errors=errors)


class ServiceUnavailable(Problem):
    status, title, type_suffix = 503, "Service unavailable", "unavailable"


class GatewayTimeout(Problem):
    status, title, type_suffix = 504, "Gateway timeout", "upstream-timeout"


class PreconditionFailed(Problem):
    status, title, type_suffix = 412, "Precondition failed", "precondition-failed"


class PreconditionRequired(Problem):
    status, title, type_suffix = 428, "Precondition required", "precondition-required"


class PayloadTooLarge(Problem):
    status, title, type_suffix = 413, "Content too large", "too-large"


class TooManyRequests(Problem):
    status, title, type_suffix = 429, "Too many requests", "rate-limited"


def field_error(field: str, reason: str) -> Unprocessable:
    """A 422 for one field, the common case in domain validation."""
    return Unprocessable(f"{field}: {reason}", [{"field": field, "reason": reason}])
