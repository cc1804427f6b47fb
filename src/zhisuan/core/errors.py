"""The one error hierarchy of zhisuan.

Only adapters translate these: the API answers 4xx with a JSON body, the CLI prints one line and exits 2.
"""

from __future__ import annotations


class ZhisuanError(Exception):
    """Base of every error zhisuan raises on purpose.

    >>> str(ZhisuanError("bad code", field="credit_code"))
    'credit_code: bad code'
    """

    code = "error"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        column: str | None = None,
        article: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row
        self.column = column
        self.article = article

    def where(self) -> str:
        """Human-readable location: 'line 3, column gpus' / 'field city' / ''."""
        parts: list[str] = []
        if self.row is not None:
            parts.append(f"line {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.field is not None and self.column is None:
            parts.append(self.field)
        if self.article is not None:
            parts.append(self.article)
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message, "field": self.field}
        if self.row is not None:
            body["row"] = self.row
        if self.column is not None:
            body["column"] = self.column
        if self.article is not None:
            body["article"] = self.article
        return body


class ValidationError(ZhisuanError):
    """Input that breaks a rule: wrong type, out of range, malformed code."""

    code = "invalid"
    http_status = 422


class NotFoundError(ZhisuanError):
    """The thing does not exist, or the caller may not know that it does."""

    code = "not_found"
    http_status = 404


class PermissionDeniedError(ZhisuanError):
    """The caller is known but their role or scope does not allow this."""

    code = "forbidden"
    http_status = 403


class AuthenticationError(ZhisuanError):
    """No valid credentials."""

    code = "unauthenticated"
    http_status = 401


class ConflictError(ZhisuanError):
    """The request contradicts the current state (duplicate, wrong state transition)."""

    code = "conflict"
    http_status = 409


class PolicyError(ZhisuanError):
    """A policy pack or an evaluation cannot be done as asked."""

    code = "policy_error"
    http_status = 422


class EngineError(ZhisuanError):
    """A center's job engine could not be reached or refused a request."""

    code = "engine_error"
    http_status = 502
