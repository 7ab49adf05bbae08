"""The village intake app (村级直报): a mobile form and a JSON API, mounted at ``/village``.

``plugins/popdata_view.py`` mounts :func:`create_app` in Airflow's API server (``make up`` serves
it at ``http://localhost:8080/village/``); ``popdata village serve`` runs it alone. Clerks do not
log in to Airflow: each village has tokens issued by the county (``popdata village token new``).

Form (server-rendered HTML, Chinese labels, no JavaScript, fits a 360 px screen):

``/``                   sign in with the token (a cookie, HttpOnly, SameSite=Strict), then the
                        report types and the village's latest reports
``/report/{type}``      the form of one report type; a refused field is shown under the field,
                        an accepted report answers with its reference number
``/reports/{no}``       where a report is: waiting for a batch, in a file, loaded (the receipt trail)

API (``Authorization: Bearer <token>``):

``GET  /api/v1/report-types``     the report types, their fields, which are required, the choices
``POST /api/v1/reports``          ``{"client_id", "report_type", "fields": {...}}`` → 201 with
                                  ``report_no``; the same ``client_id`` again → 200 with the same
                                  number (409 when the report differs); 422 with ``errors`` per
                                  field; 429 with ``Retry-After``; 401; 413 over the size limit
``GET  /api/v1/reports/{no}``     the report's status
``GET  /health``                  no token

The app connects as ``popdata_village`` (:func:`popdata.warehouse.db.village_engine`): it can read
the tokens and the region names and add reports and submissions, nothing else.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from popdata.intake import reports, store
from popdata.intake.tokens import Clerk, authenticate
from popdata.normalize.codes import RegionResolver

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
COOKIE = "popdata_village_token"
RESOLVER_SECONDS = 300.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before any handler reads it
    (by its ``Content-Length``, or by counting a streamed body)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a body that is too large; pass everything else through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        try:
            store.record_refusal(_engine(), outcome="too_large", channel=_channel(scope))
        except Exception:  # the refusal stands even when the audit cannot be written
            logger.exception("village intake: cannot audit a too-large request")
        payload = json.dumps(
            {
                "error": "too_large",
                "message": f"请求超过 {self.max_bytes} 字节 / request body over {self.max_bytes} bytes",
            },
            ensure_ascii=False,
        ).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json; charset=utf-8"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class AddTrailingSlash:
    """ASGI middleware for Airflow's root app: a request for a mount point without its slash
    (``/village``, ``/popdata``) is redirected (308) to the mount point (``village/``).

    Without it, Airflow's own UI takes ``/village`` and sends a clerk typing the address on a
    phone to the Airflow login. Serving the page there would break its relative links, so the
    answer is a redirect, relative to the path so that any base URL works; the query string is kept.
    """

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = ("/village", "/popdata")) -> None:
        """Wrap ``app``; ``paths`` are the mount points (no trailing slash)."""
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Redirect an exact mount-point path; pass everything else through."""
        path = str(scope.get("path", ""))
        relative = path.removeprefix(str(scope.get("root_path", "")) or "")
        if scope["type"] != "http" or relative not in self.paths:
            await self.app(scope, receive, send)
            return
        location = path.rsplit("/", 1)[-1] + "/"
        query = scope.get("query_string", b"")
        if query:
            location += "?" + query.decode("latin-1")
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _channel(scope: Scope) -> store.Channel:
    path = str(scope.get("path", "")).removeprefix(str(scope.get("root_path", "")))
    return "api" if path.startswith("/api/") else "form"


def _engine() -> sa.Engine:
    from popdata.warehouse.db import village_engine

    return village_engine()


class _Resolver:
    """The region resolver over ``mart.region_names``, rebuilt every :data:`RESOLVER_SECONDS`."""

    def __init__(self) -> None:
        self._value: RegionResolver | None = None
        self._at = -RESOLVER_SECONDS

    def get(self, conn: sa.Connection) -> RegionResolver | None:
        if time.monotonic() - self._at >= RESOLVER_SECONDS:
            rows = conn.execute(
                sa.text("SELECT region_code, name, level, parent_code FROM mart.region_names")
            ).all()
            self._value = RegionResolver([(r[0], r[1], r[2], r[3]) for r in rows]) if rows else None
            self._at = time.monotonic()
        return self._value

    def village_name(self, conn: sa.Connection, code: str) -> str | None:
        return conn.execute(
            sa.text("SELECT name FROM mart.region_names WHERE region_code = :c"), {"c": code}
        ).scalar()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def form_clerk(request: Request) -> Clerk | None:
    """The clerk of the form's cookie token (None: no cookie, or a token unknown or revoked)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    with _engine().connect() as conn:
        return authenticate(conn, token)


def api_clerk(request: Request) -> Clerk | None:
    """The clerk of the ``Authorization: Bearer`` token (None: missing, unknown or revoked)."""
    with _engine().connect() as conn:
        return authenticate(conn, _bearer(request))


FormClerk = Annotated[Clerk | None, Depends(form_clerk)]
ApiClerk = Annotated[Clerk | None, Depends(api_clerk)]


def create_app(*, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The intake app (mount it under any prefix). ``clock`` (tests) stands in for the wall clock."""
    from popdata.config.settings import load_settings

    settings = load_settings()
    limits = store.Limits(settings.village_per_minute, settings.village_per_day)
    now = clock or (lambda: datetime.now(UTC))
    resolver = _Resolver()
    app = FastAPI(title="村级直报 / Village reports", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=settings.village_max_body_bytes)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.globals.update(report_types=reports.REPORT_TYPES, beijing=store.BEIJING)

    def page(
        request: Request, template: str, root: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        response = templates.TemplateResponse(
            request, template, {"root": root, **context}, status_code=status_code
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def unauthorized_api() -> JSONResponse:
        store.record_refusal(_engine(), outcome="unauthorized", channel="api")
        return JSONResponse(
            {
                "error": "unauthorized",
                "message": "令牌无效或已吊销 / the token is missing, unknown or revoked",
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.get("/health", include_in_schema=False)
    def health() -> JSONResponse:
        """Liveness (no token, no figures)."""
        try:
            with _engine().connect() as conn:
                conn.execute(sa.text("SELECT 1 FROM intake.village_tokens LIMIT 1"))
            database = "ok"
        except Exception as exc:
            database = f"unavailable: {type(exc).__name__}"
        return JSONResponse({"status": "ok", "warehouse": database})

    def village_of(clerk: Clerk) -> str | None:
        with _engine().connect() as conn:
            return resolver.village_name(conn, clerk.village_code)

    # --- the form -------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, clerk: FormClerk) -> HTMLResponse:
        """Sign-in, or the report types and the village's latest reports."""
        if clerk is None:
            return page(request, "signin.html", "", error=bool(request.cookies.get(COOKIE)))
        with _engine().connect() as conn:
            village = resolver.village_name(conn, clerk.village_code)
            recent = conn.execute(
                sa.text(
                    "SELECT report_no, report_type, accepted_at FROM intake.village_reports"
                    " WHERE village_code = :v ORDER BY report_id DESC LIMIT 10"
                ),
                {"v": clerk.village_code},
            ).all()
        return page(request, "menu.html", "", clerk=clerk, village=village, recent=recent)

    @app.post("/signin", response_class=HTMLResponse, response_model=None)
    def signin(request: Request, token: Annotated[str, Form(max_length=128)] = "") -> Response:
        """Check the token and keep it in a cookie."""
        with _engine().connect() as conn:
            clerk = authenticate(conn, token)
        if clerk is None:
            store.record_refusal(_engine(), outcome="unauthorized", channel="form")
            return page(request, "signin.html", "", status_code=401, error=True)
        response = RedirectResponse("./", status_code=303)
        response.set_cookie(
            COOKIE,
            token.strip(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=request.scope.get("root_path") or "/",
            max_age=30 * 24 * 3600,
        )
        return response

    @app.post("/signout", response_model=None)
    def signout(request: Request) -> Response:
        """Forget the token on this phone."""
        response = RedirectResponse("./", status_code=303)
        response.delete_cookie(COOKIE, path=request.scope.get("root_path") or "/")
        return response

    @app.get("/report/{code}", response_class=HTMLResponse, response_model=None)
    def report_form(request: Request, code: str, clerk: FormClerk) -> Response:
        """The empty form of one report type (with a fresh client id: a resent form is one report)."""
        if clerk is None:
            return RedirectResponse("../", status_code=303)
        kind = _kind(code)
        if kind is None:
            return page(request, "message.html", "../", status_code=404, message="没有这种报告类型。")
        return page(
            request,
            "form.html",
            "../",
            kind=kind,
            fields=reports.form_fields(kind),
            values={},
            errors={},
            client_id=uuid.uuid4().hex,
            clerk=clerk,
            village=village_of(clerk),
            today=store.beijing_date(now()).isoformat(),
        )

    @app.post("/report/{code}", response_class=HTMLResponse, response_model=None)
    async def report_submit(request: Request, code: str, clerk: FormClerk) -> Response:
        """Check and store one report; the form again with the refused fields, or the reference number."""
        if clerk is None:
            store.record_refusal(_engine(), outcome="unauthorized", channel="form", code=code)
            return RedirectResponse("../", status_code=303)
        kind = _kind(code)
        if kind is None:
            return page(request, "message.html", "../", status_code=404, message="没有这种报告类型。")
        form = await request.form()
        client_id = str(form.get("client_id") or "")
        submitted = {k: str(v) for k, v in form.items() if k != "client_id"}
        with _engine().connect() as conn:
            regions = resolver.get(conn)
        outcome = store.submit(
            _engine(),
            clerk,
            channel="form",
            client_id=client_id,
            code=code,
            submitted=submitted,
            resolver=regions,
            limits=limits,
            now=now(),
        )
        if outcome.stored:
            return page(request, "done.html", "../", kind=kind, outcome=outcome, clerk=clerk)
        if outcome.status == "rate_limited":
            return page(
                request,
                "message.html",
                "../",
                status_code=429,
                message=f"提交过于频繁，请 {outcome.retry_after} 秒后再试。",
            )
        if outcome.status == "conflict":
            return page(
                request,
                "message.html",
                "../",
                status_code=409,
                message="此表已提交过另一份报告，请重新打开表单。",
            )
        return page(
            request,
            "form.html",
            "../",
            status_code=422,
            kind=kind,
            fields=reports.form_fields(kind),
            values=submitted,
            errors={f: reports.MESSAGES_ZH.get(c, c) for f, c in outcome.errors.items()},
            client_id=client_id,
            clerk=clerk,
            village=village_of(clerk),
            today=store.beijing_date(now()).isoformat(),
        )

    @app.get("/reports/{report_no}", response_class=HTMLResponse, response_model=None)
    def report_page(request: Request, report_no: str, clerk: FormClerk) -> Response:
        """Where one of the village's reports is."""
        if clerk is None:
            return RedirectResponse("../", status_code=303)
        with _engine().connect() as conn:
            status = store.report_status(conn, clerk, report_no[:32])
        if status is None:
            return page(request, "message.html", "../", status_code=404, message="本村没有这个编号的报告。")
        return page(request, "status.html", "../", status=status, clerk=clerk)

    # --- the API --------------------------------------------------------------------------

    @app.get("/api/v1/report-types")
    def api_report_types(clerk: ApiClerk) -> JSONResponse:
        """The report types and their fields (what a client needs to build a form)."""
        if clerk is None:
            return unauthorized_api()
        return JSONResponse(
            {
                "village_code": clerk.village_code,
                "report_types": [
                    {
                        "code": kind.code,
                        "value": kind.value,
                        "label": kind.label_zh,
                        "fields": [
                            {
                                "name": f.name,
                                "label": f.label,
                                "kind": f.kind,
                                "required": f.required,
                                "max_chars": f.max_chars,
                                "choices": [value for value, _ in f.choices],
                            }
                            for f in reports.form_fields(kind)
                        ],
                    }
                    for kind in reports.REPORT_TYPES
                ],
            }
        )

    @app.post("/api/v1/reports")
    async def api_submit(request: Request, clerk: ApiClerk) -> JSONResponse:
        """Submit one report (see the module docstring for the answers)."""
        if clerk is None:
            return unauthorized_api()
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            body = None
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(fields, dict):
            errors = {"body": "body_invalid"}
            store.record_refusal(_engine(), outcome="invalid", channel="api", clerk=clerk, errors=errors)
            return JSONResponse(
                {
                    "status": "invalid",
                    "errors": {
                        "body": {
                            "code": "body_invalid",
                            "message": reports.MESSAGES_ZH["body_invalid"],
                        }
                    },
                },
                status_code=422,
            )
        with _engine().connect() as conn:
            regions = resolver.get(conn)
        outcome = store.submit(
            _engine(),
            clerk,
            channel="api",
            client_id=str(body.get("client_id") or ""),
            code=str(body.get("report_type") or ""),
            submitted=fields,
            resolver=regions,
            limits=limits,
            now=now(),
        )
        status_code = {
            "accepted": 201,
            "replayed": 200,
            "conflict": 409,
            "rate_limited": 429,
            "invalid": 422,
        }[outcome.status]
        payload: dict[str, Any] = {"status": outcome.status}
        headers: dict[str, str] = {}
        if outcome.report_no:
            payload["report_no"] = outcome.report_no
        if outcome.errors:
            payload["errors"] = {
                f: {"code": c, "message": reports.MESSAGES_ZH.get(c, c)} for f, c in outcome.errors.items()
            }
        if outcome.retry_after is not None:
            headers["Retry-After"] = str(outcome.retry_after)
            payload["retry_after"] = outcome.retry_after
        return JSONResponse(payload, status_code=status_code, headers=headers)

    @app.get("/api/v1/reports/{report_no}")
    def api_status(report_no: str, clerk: ApiClerk) -> JSONResponse:
        """One of the village's reports: accepted, in which file, that file's ledger status."""
        if clerk is None:
            return unauthorized_api()
        with _engine().connect() as conn:
            status = store.report_status(conn, clerk, report_no[:32])
        if status is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(status.as_json())

    return app


def _kind(code: str) -> reports.ReportType | None:
    try:
        return reports.report_type(code)
    except KeyError:
        return None
