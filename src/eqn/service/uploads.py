"""Request bodies and file uploads: size limits before reading, copying with a size
limit, and the Content-Disposition of the annotated file."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.responses import JSONResponse


def copy_limited(source: Any, target: Path, limit: int) -> int:
    """Copy an upload to disk in blocks; stop once past ``limit`` bytes."""
    copied = 0
    with target.open("wb") as out:
        while block := source.read(1 << 20):
            copied += len(block)
            if copied > limit:
                break
            out.write(block)
    return copied


def attachment(name: str) -> str:
    """A Content-Disposition header for any file name (RFC 6266: ASCII fallback + UTF-8).

    Control characters (NUL, tab, escape, DEL, ...) become ``_``: a header cannot hold
    them, and echoing them would let a name shape the response.
    """
    name = "".join("_" if ord(c) < 32 or ord(c) == 127 else c for c in name)
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


class BodySizeLimit:
    """Refuse a request body by its declared size before reading it (413), or without a
    declared size (411): a large body is never read, let alone parsed.

    ``limits`` maps a POST route's path to its byte limit.
    """

    def __init__(self, app: Any, limits: dict[str, int]) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        limit = self.limits.get(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is not None and scope["method"] == "POST":
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length")
            status, message = 0, ""
            if declared is None or not declared.isdigit():
                status, message = 411, "send the request with a Content-Length header"
            elif int(declared) > limit:
                status = 413
                message = f"the request body is larger than the limit of {limit} bytes"
            if status:
                response = JSONResponse({"error": message, "limit": limit}, status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BasicAuth:
    """HTTP basic auth on some paths (Label Studio's ML backend supports it): a request
    without the right credentials gets 401 and never reaches the route."""

    def __init__(self, app: Any, paths: set[str], credentials: str) -> None:
        import base64

        self.app, self.paths = app, paths
        self.expected = b"Basic " + base64.b64encode(credentials.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        import hmac

        if scope["type"] == "http" and scope.get("path") in self.paths:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"error": "this server needs basic auth credentials"},
                    401,
                    headers={"WWW-Authenticate": 'Basic realm="eqn"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
