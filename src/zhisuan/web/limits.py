"""Limits every request meets before a handler runs, and the headers every answer carries.

- a body of at most :data:`MAX_BODY` bytes (413 otherwise, whatever the Content-Length says);
- JSON nested at most :data:`MAX_JSON_DEPTH` deep (Python's parser would recurse 100,000 levels);
- no NUL or other control character in the path or the query, no NUL in a body (PostgreSQL cannot
  store one; a NUL in a URL is never meant);
- security headers: a strict Content-Security-Policy (the app serves its own scripts and styles),
  ``X-Frame-Options: DENY``, ``nosniff`` and ``Referrer-Policy``.
"""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the largest request body (a policy pack is tens of kilobytes; JSON requests a few)
MAX_BODY = 2 * 1024 * 1024
#: a multipart upload (an evidence file: at most 10 MiB, see zhisuan.awards.evidence) and its form fields
MAX_UPLOAD = 11 * 1024 * 1024
#: the deepest nesting a JSON body may have
MAX_JSON_DEPTH = 32
#: requests handled at once; the rest wait their turn. A request holds a database connection (two when
#: it records a token's use) from its dependencies to its answer, across hops between worker threads:
#: with more requests in flight than connections or threads, every thread could wait for a connection
#: (or SQLite's write lock) that a request waiting for a thread holds. Kept below the engine's pool
#: (:data:`zhisuan.store.db.POOL_SIZE` + overflow) halved and below anyio's 40 worker threads.
MAX_IN_FLIGHT = 12

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# an escaped NUL in JSON text: \u0000 preceded by an even number of backslashes
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than ``limit`` (brackets in strings aside).

    >>> json_too_deep(b'{"a": [1, {"b": "[[[[["}]}', 3), json_too_deep(b"[[[[]]]]", 3)
    (False, True)
    """
    if body.count(b"[") + body.count(b"{") <= limit:  # the common case, at C speed
        return False
    depth = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _problem(status: int, code: str, message: str, field: str | None = None) -> tuple[int, bytes]:
    body = {"error": {"code": code, "message": message, "field": field}}
    return status, json.dumps(body).encode()


def check_url(scope: Scope) -> tuple[int, bytes] | None:
    """A NUL or control character anywhere in the path or the query string is refused."""
    path = scope.get("path", "")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return _problem(422, "invalid", "control characters are not allowed in a URL", "path")
    query = scope.get("query_string", b"")
    if query and _CONTROL.search(unquote_to_bytes(query)):
        return _problem(422, "invalid", "control characters are not allowed in a URL", "query")
    return None


def check_body(body: bytes, content_type: str) -> tuple[int, bytes] | None:
    """A NUL in a text body, or JSON nested too deep, is refused; files (multipart, binary) may hold NULs."""
    if "multipart/form-data" in content_type or "octet-stream" in content_type:
        return None  # binary by nature (evidence: PDF, images, Excel); each text field is checked where read
    if b"\x00" in body:
        return _problem(422, "invalid", "a NUL character is not allowed", "body")
    if "json" in content_type:
        if _JSON_NUL.search(body):
            return _problem(422, "invalid", "a NUL character (\\u0000) is not allowed", "body")
        if json_too_deep(body):
            return _problem(422, "invalid", f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "body")
    elif "x-www-form-urlencoded" in content_type and re.search(rb"%00", body):
        return _problem(422, "invalid", "a NUL character is not allowed", "body")
    return None


class RequestLimits:
    """Pure ASGI middleware: the checks above, then the security headers on every answer."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.max_body = max_body
        self.slots = asyncio.Semaphore(max_in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        problem = check_url(scope)
        headers = dict(scope.get("headers", []))
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = max(self.max_body, MAX_UPLOAD) if multipart else self.max_body
        length = headers.get(b"content-length")
        too_long = length is not None and (not length.isdigit() or len(length) > 12 or int(length) > limit)
        if problem is None and too_long:
            problem = _problem(413, "too_large", f"a request body is at most {limit} bytes")
        if problem is None and scope.get("method") in {"POST", "PUT", "PATCH", "DELETE"}:
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    problem = _problem(413, "too_large", f"a request body is at most {limit} bytes")
                    break
                chunks.append(chunk)
                more = message.get("more_body", False)
            if problem is None:
                body = b"".join(chunks)
                problem = check_body(body, headers.get(b"content-type", b"").decode("latin-1").lower())
                if problem is None:
                    replayed = False

                    async def replay() -> Message:
                        nonlocal replayed
                        if not replayed:
                            replayed = True
                            return {"type": "http.request", "body": body, "more_body": False}
                        return await receive()

                    await self.app(scope, replay, send_with_headers)
                    return
        if problem is not None:
            status, payload = problem
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": payload})
            return
        await self.app(scope, receive, send_with_headers)


__all__ = ["MAX_BODY", "MAX_JSON_DEPTH", "RequestLimits", "check_body", "check_url", "json_too_deep"]
