"""The HTTP side of ``deepfeat serve``: a Starlette application over a
:class:`~deepfeat.serve._service.PredictionService`.

Routes: ``GET /`` (the page), ``GET /healthz``, ``GET /v1/model``, ``POST /v1/predict``.
Every error is JSON ``{"error": "<one line>"}`` with a 4xx status (5xx only for a
timeout or a failure of the model itself); the service keeps serving after each.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ._service import PredictionService, ServiceBusy, Upload, display_name

logger = logging.getLogger(__name__)

TOKEN_HEADER = "x-deepfeat-token"
PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
)


def error(status: int, message: str, **headers: str) -> JSONResponse:
    """``{"error": message}`` with ``status`` (the one shape of every error reply)."""
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


class _Guard:
    """ASGI middleware: token on ``/v1/`` routes (constant-time compare) and the body
    limit, from ``Content-Length`` before reading and on the bytes while they stream."""

    def __init__(self, app: Any, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        if self.token is not None and scope["path"].startswith("/v1/"):
            given = headers.get(TOKEN_HEADER, b"")
            auth = headers.get("authorization", b"")
            if auth[:7].lower() == b"bearer ":
                given = auth[7:].strip()
            if not hmac.compare_digest(given, self.token):
                why = "bad token" if given else "missing token"
                msg = f"{why}: send 'Authorization: Bearer <token>'"
                await error(401, msg, **{"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        length = headers.get("content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            await error(413, BodyTooLarge(self.max_body).detail)(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, counted, send)


class _InMemoryParser(MultiPartParser):
    """Starlette's multipart parser with uploads kept in memory up to the body limit
    (the base class spills parts over 1 MB to the system's temporary folder)."""

    spool_max_size = 20 * 1024 * 1024


def create_app(service: PredictionService, *, token: str | None = None) -> Starlette:
    """The ASGI application of ``deepfeat serve`` (run it with uvicorn; test it with
    Starlette's ``TestClient``).

    Parameters
    ----------
    service : PredictionService
        Started (:meth:`PredictionService.start`).
    token : str or None
        When set, every ``/v1/`` route needs ``Authorization: Bearer <token>`` (or the
        ``X-Deepfeat-Token`` header).

    Examples
    --------
    >>> from deepfeat.serve import PredictionService
    >>> app = create_app(PredictionService(object()))
    >>> sorted(r.path for r in app.routes)
    ['/', '/healthz', '/v1/model', '/v1/predict']
    """
    limits = service.limits
    page = (resources.files(__package__) / "static" / "index.html").read_text(encoding="utf-8")
    parser = type("_Parser", (_InMemoryParser,), {"spool_max_size": max(limits.max_body_bytes, 1)})

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pending": service.pending})

    async def model(request: Request) -> Response:
        return JSONResponse(service.model_info())

    async def predict(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return error(415, "send the images as multipart/form-data in the field 'file'")
        if service.pending >= limits.max_pending:  # before reading the body
            return _busy(service)
        form = None
        try:
            form = await parser(
                request.headers,
                request.stream(),
                max_files=limits.max_files,
                max_fields=limits.max_files,
            ).parse()
            parts = [v for k, v in form.multi_items() if k == "file"]
            if any(isinstance(p, str) for p in parts):
                return error(400, "the field 'file' must carry files, not text")
            if not parts:
                return error(400, "no file: send one or more images in the multipart field 'file'")
            uploads = [
                Upload(display_name(p.filename, i), await p.read()) for i, p in enumerate(parts)
            ]
        except MultiPartException as exc:
            return error(400, f"bad multipart body: {exc.message}")
        finally:
            if form is not None:
                await form.close()
        try:
            future = service.submit(uploads)
        except ServiceBusy:
            return _busy(service)
        try:
            rows = await asyncio.wait_for(asyncio.wrap_future(future), limits.timeout)
        except asyncio.TimeoutError:
            return error(504, f"prediction timed out after {limits.timeout:g} s")
        except Exception as exc:
            return error(500, f"prediction failed: {type(exc).__name__}: {exc}".splitlines()[0])
        if all(r["error"] for r in rows):
            first = rows[0]["error"].splitlines()[0] if rows[0]["error"] else ""
            body = {"error": f"no usable image: {rows[0]['path']}: {first}", "results": rows}
            return JSONResponse(body, status_code=422)
        return JSONResponse(rows)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        messages = {404: f"no such route: {request.url.path}", 405: "method not allowed"}
        message = messages.get(exc.status_code, str(exc.detail))
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error(exc.status_code, message, **(exc.headers or {}))

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s", request.url.path)
        return error(500, f"internal error: {type(exc).__name__}")

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/model", model, methods=["GET"]),
        Route("/v1/predict", predict, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.add_middleware(_Guard, token=token, max_body=limits.max_body_bytes)
    return app


def _busy(service: PredictionService) -> JSONResponse:
    return error(
        503,
        f"busy: {service.pending} requests queued or running "
        f"(limit {service.limits.max_pending}); retry later",
        **{"Retry-After": "1"},
    )
