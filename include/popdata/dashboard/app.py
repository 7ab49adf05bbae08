"""The population-data view (人口数据): a FastAPI app the Airflow plugin mounts in the API server.

``plugins/popdata_view.py`` mounts :func:`create_app` at ``/popdata`` and links it from the
Airflow UI's navigation, which shows it in an iframe. Pages are rendered on the server with
Jinja2 (no JavaScript framework, nothing from a CDN: the stylesheet is served by the app and the
charts are inline SVG). Every link is relative, so the app works under any prefix.

Routes:

``/``                 overview: each section's headline figures, with links
``/drops``, ``/villages``, ``/quality``, ``/linkage``, ``/reconciliation``   one section each
``/data-docs/{path}`` the Great Expectations Data Docs site, read-only
``/receipts/{id}``    the receipt of one file (masked values only)
``/health``           JSON, no login (for tests and health checks)

Population data is not public: every page but ``/health`` and the stylesheet needs an Airflow
login, checked with Airflow's own dependency :func:`airflow.api_fastapi.core_api.security.get_user`
(the UI's ``_token`` cookie or a bearer token); without one the page answers 401 with a short
bilingual "please log in to Airflow" page.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from popdata.dashboard.model import SECTION_TITLES, Label, Section, SectionKey
from popdata.dashboard.sections import SECTION_KEYS, build_section

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

VIEW_TITLE = Label("人口数据", "Population data")

_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{10}(\d[\dXx])(?!\d)")

ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#546e7a" '
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><circle cx="9" cy="7" r="3"/>'
    '<path d="M3 21v-2a4 4 0 0 1 4-4h4a4 4 0 0 1 4 4v2"/><path d="M16 3.13a3 3 0 0 1 0 5.75"/>'
    '<path d="M21 21v-2a4 4 0 0 0-3-3.85"/></svg>'
)
"""The nav icon (people), served at ``icon.svg``."""


RESOURCE_NAME = "popdata"
"""The custom view the Airflow auth manager is asked about (``is_authorized_custom_view``, GET): with
the simple auth manager every role from viewer up may read it; with the FAB auth manager a role
needs the permission on the resource ``popdata``."""


class NotLoggedIn(Exception):
    """Raised by :func:`require_user` when the request carries no valid Airflow login (401), or a
    login the auth manager does not allow to read the view (403)."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


_bearer = HTTPBearer(auto_error=False)


async def require_user(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The logged-in Airflow user (Airflow's ``get_user``: the ``_token`` cookie or a bearer token).

    Raises:
        NotLoggedIn: no token, an expired or invalid one, or no auth manager in this process.
    """
    try:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.core_api.security import get_user

        user = await get_user(request=request, _oauth_token=None, bearer_credentials=bearer)
        allowed = get_auth_manager().is_authorized_custom_view(
            method="GET", resource_name=RESOURCE_NAME, user=user
        )
    except HTTPException:  # no token, or an invalid or expired one (Airflow answers 401 or 403)
        raise NotLoggedIn(401) from None
    except (ImportError, RuntimeError) as exc:  # Airflow missing or its auth manager not initialised
        logger.warning("population-data view: cannot check the login (%s): refusing", exc)
        raise NotLoggedIn(401) from None
    if not allowed:
        logger.info(
            "population-data view: %s may not read %s",
            getattr(user, "get_name", lambda: "?")(),
            RESOURCE_NAME,
        )
        raise NotLoggedIn(403)
    return user


LoggedIn = Annotated[Any, Depends(require_user)]
"""A route parameter that requires an Airflow login (the user object)."""


@contextmanager
def warehouse() -> Iterator[sa.Connection]:
    """A read-only connection to the warehouse as the view's own login (:func:`popdata.warehouse.db.view_engine`)."""
    from popdata.warehouse.db import view_engine

    with view_engine().connect() as conn:
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
        yield conn
        conn.rollback()


@dataclass(frozen=True)
class SectionPage:
    """What the section template shows: a built section, or why there is none."""

    key: SectionKey
    title: Label
    section: Section | None
    unavailable: Label | None = None


def load_section(conn: sa.Connection, key: SectionKey) -> SectionPage:
    """Build one section; a section that fails gives a message instead (and the log the error)."""
    try:
        section = build_section(conn, key)
    except Exception:
        logger.exception("population-data view: building the %s section failed", key)
        conn.rollback()
        return SectionPage(
            key,
            SECTION_TITLES[key],
            None,
            Label(
                "此部分暂时无法生成，详情见 API 服务器日志。",
                "This section could not be built; the API server's log has the details.",
            ),
        )
    return SectionPage(key, section.title, section)


def mask_id_numbers(text: str) -> str:
    """Mask any 18-digit identity number left in ``text`` (address code and last two kept)."""
    return _ID_NUMBER.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)


def safe_child(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it is a regular file inside ``root`` (no ``..``, no link out), else None."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    parts = Path(relative).parts
    if (
        Path(relative).is_absolute()
        or any(p in ("..", "") for p in parts)
        or any(p.startswith(".") for p in parts)
    ):
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)

BACK_LINK = (
    "<div style=\"font:14px/1.5 'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;padding:6px 12px;"
    'background:#eef2f5;border-bottom:1px solid #dde3e8">'
    '<a href="{root}quality" style="color:#1565c0">← 数据质量 / Quality</a>'
    '<span style="color:#5f6f7a"> · Great Expectations 数据文档 / Data Docs</span></div>'
)


def with_back_link(page_html: str, root: str) -> str:
    """A Data Docs page with a bar linking back to the view's Quality section (inserted after ``<body>``)."""
    bar = BACK_LINK.format(root=root)
    match = _BODY.search(page_html)
    if match is None:
        return bar + page_html
    return page_html[: match.end()] + bar + page_html[match.end() :]


def _svg(chart_svg: Callable[[], str]) -> Markup:
    """A chart's SVG as markup for the template (a drawing error shows a note instead)."""
    try:
        return Markup(chart_svg())  # matplotlib's own SVG output: its text is escaped
    except Exception:
        logger.exception("population-data view: drawing a chart failed")
        return Markup('<p class="muted">图表无法绘制 / the chart could not be drawn</p>')


def _data_docs_root() -> Path:
    """The Data Docs site folder (``<POPDATA_DATA_DOCS or var/gx>/site``)."""
    from popdata.config.settings import load_settings
    from popdata.quality import docs

    return docs.index_path(docs.docs_root(load_settings())).parent


RECEIPT_FIELDS: tuple[tuple[str, Label], ...] = (
    ("file", Label("文件", "File")),
    ("agency", Label("部门", "Agency")),
    ("feed", Label("数据项", "Feed")),
    ("extract_date", Label("抽取日期", "Extract date")),
    ("received_at", Label("接收时间", "Received")),
    ("status", Label("处理结果", "Outcome")),
    ("encoding", Label("识别编码", "Encoding")),
    ("rows_read", Label("读取行数", "Rows read")),
    ("rows_loaded", Label("入库行数", "Rows loaded")),
    ("rows_rejected", Label("拒收行数", "Rows rejected")),
    ("quarantine_reason", Label("隔离原因", "Quarantine reason")),
)


def _receipt(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The receipt's JSON and its Chinese text (``….receipt.txt`` beside it), each masked again."""
    data: dict[str, Any] | None = None
    text: str | None = None
    try:
        loaded = json.loads(mask_id_numbers(path.read_text(encoding="utf-8")))
        data = loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        data = None
    text_path = path.with_name(path.name.removesuffix(".json") + ".txt")
    if text_path.is_file():
        try:
            text = mask_id_numbers(text_path.read_text(encoding="utf-8"))
        except OSError:
            text = None
    return data, text


def _receipt_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The receipt's headline fields as (bilingual label, value) pairs."""
    from popdata.dashboard.sections.drops import (
        FILE_STATUS,
        agency_label,
        feed_label,
        local_time,
        safe_file_name,
    )
    from popdata.ingest.receipts import QUARANTINE_ZH

    rows = []
    for key, label in RECEIPT_FIELDS:
        value = data.get(key)
        if value is None or value == "":
            continue
        if key == "agency":
            shown = str(agency_label(str(value)))
        elif key == "feed":
            shown = str(feed_label(str(value)))
        elif key == "status":
            shown = str(FILE_STATUS.get(str(value), (Label(str(value), str(value)), "none"))[0])
        elif key == "received_at":
            try:
                shown = local_time(datetime.fromisoformat(str(value))) + "（北京时间 / Beijing time）"
            except ValueError:
                shown = str(value)
        elif key == "file":
            shown = safe_file_name(str(value))
        elif key == "quarantine_reason":
            code = str(value).split(":", 1)[0]
            shown = f"{QUARANTINE_ZH.get(code, code)} / {value}"
        elif isinstance(value, int):
            shown = f"{value:,}"
        else:
            shown = str(value)
        rows.append((str(label), shown))
    return rows


def create_app() -> FastAPI:
    """The population-data view as a FastAPI app (mount it under any prefix)."""
    app = FastAPI(
        title="人口数据 / Population data",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.globals.update(
        view_title=VIEW_TITLE, section_titles=SECTION_TITLES, section_keys=SECTION_KEYS
    )
    templates.env.filters["svg"] = _svg
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    def page(
        request: Request, template: str, root: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        response = templates.TemplateResponse(
            request, template, {"root": root, **context}, status_code=status_code
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> HTMLResponse:
        depth = request.url.path.removeprefix(request.scope.get("root_path", "")).strip("/").count("/")
        return page(
            request,
            "login.html",
            "../" * depth,
            status_code=exc.status_code,
            active=None,
            forbidden=exc.status_code == 403,
        )

    @app.get("/health", include_in_schema=False)
    def health() -> JSONResponse:
        """Liveness and what the view can show (no login, no figures)."""
        sections = {}
        for key in SECTION_KEYS:
            try:
                __import__(f"popdata.dashboard.sections.{key}")
                sections[key] = True
            except ImportError:
                sections[key] = False
        try:
            with warehouse() as conn:
                conn.execute(sa.text("SELECT 1"))
            database = "ok"
        except Exception as exc:  # report, never fail the health check of the app itself
            database = f"unavailable: {type(exc).__name__}"
        return JSONResponse({"status": "ok", "warehouse": database, "sections": sections})

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        """The icon the Airflow nav shows beside the link."""
        return Response(ICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request, user: LoggedIn) -> HTMLResponse:
        """Every section's headline figures, with a link to each section."""
        with warehouse() as conn:
            pages = [load_section(conn, key) for key in SECTION_KEYS]
        return page(request, "overview.html", "", pages=pages, active="overview")

    def section_route(key: SectionKey) -> Callable[..., HTMLResponse]:
        def section_page(request: Request, user: LoggedIn) -> HTMLResponse:
            with warehouse() as conn:
                loaded = load_section(conn, key)
            return page(request, "section.html", "", page=loaded, active=key)

        section_page.__name__ = f"section_{key}"
        section_page.__doc__ = f"The {key} section."
        return section_page

    for key in SECTION_KEYS:
        app.add_api_route(f"/{key}", section_route(key), methods=["GET"], response_class=HTMLResponse)

    @app.get("/data-docs", include_in_schema=False)
    def data_docs_root(user: LoggedIn) -> RedirectResponse:
        """The Data Docs index."""
        return RedirectResponse("data-docs/index.html")

    @app.get("/data-docs/{path:path}")
    def data_docs(request: Request, path: str, user: LoggedIn) -> Response:
        """A file of the Data Docs site, read-only; nothing outside the site's folder."""
        root = _data_docs_root()
        target = safe_child(root, path or "index.html")
        if target is None:
            depth = path.count("/") + 1
            return page(
                request,
                "message.html",
                "../" * depth,
                status_code=404,
                active="quality",
                message=Label(
                    "数据文档中没有这个页面（数据质量文档尚未生成，或链接有误）。",
                    "No such page in the Data Docs (the site was not built yet, or the link is wrong).",
                ),
            )
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if media_type == "text/html":
            depth = (path or "index.html").count("/") + 1
            return HTMLResponse(
                with_back_link(target.read_text(encoding="utf-8", errors="replace"), "../" * depth),
                headers={"Cache-Control": "no-store"},
            )
        return FileResponse(target, media_type=media_type, headers={"Cache-Control": "no-store"})

    @app.get("/receipts/{file_id}", response_class=HTMLResponse)
    def receipt(request: Request, file_id: int, user: LoggedIn) -> HTMLResponse:
        """The receipt of one file, from the path the ledger recorded (a ``*.receipt.json`` only)."""
        with warehouse() as conn:
            row = conn.execute(
                sa.text("SELECT file_name, receipt_path FROM audit.file_ledger WHERE file_id = :id"),
                {"id": file_id},
            ).one_or_none()
        path = Path(row.receipt_path) if row is not None and row.receipt_path else None
        if path is None or not path.name.endswith(".receipt.json") or path.parent.name != "receipts":
            path = None
        data, text = (
            _receipt(path) if path is not None and path.is_file() and not path.is_symlink() else (None, None)
        )
        if data is None and text is None:
            return page(
                request,
                "message.html",
                "../",
                status_code=404,
                active="drops",
                message=Label("找不到这个文件的回执。", "No receipt was found for this file."),
            )
        return page(
            request,
            "receipt.html",
            "../",
            active="drops",
            fields=_receipt_rows(data or {}),
            rejected=[r for r in (data or {}).get("rejected_rows") or [] if isinstance(r, dict)],
            warnings=(data or {}).get("warnings_by_reason") or {},
            irregularities=(data or {}).get("irregularities") or [],
            text=text,
            reasons=_reason_labels(),
        )

    return app


def _reason_labels() -> dict[str, str]:
    """Reason and irregularity codes in Chinese (the receipts' own words)."""
    from popdata.ingest.receipts import IRREGULARITY_ZH, REASON_ZH

    return {**REASON_ZH, **{f"irr:{k}": v for k, v in IRREGULARITY_ZH.items()}}
