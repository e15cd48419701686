"""The desk's Starlette application: pages, marking endpoints and audio by store id.

`create_app(DeskConfig(...))` returns an ASGI app; `speechchurn serve` runs it under uvicorn. Pages are
Jinja2 templates (autoescape on) from speechchurn/app/templates; JS/CSS are package data under
speechchurn/app/static. Handlers are plain functions: Starlette runs them in its thread pool, each
thread with its own SQLite connection (WAL: readers never block the writer).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import jinja2
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from speechchurn.app import index, labels, queries, security
from speechchurn.app.media import NotFound, Player, RangeNotSatisfiable, byte_range
from speechchurn.app.privacy import redactors
from speechchurn.errors import SpeechchurnError
from speechchurn.labels import OUTCOME_LABELS
from speechchurn.privacy import PrivacyOptions
from speechchurn.review import marks

log = logging.getLogger("speechchurn")

SYNC_EVERY_S = 5.0  # s between checks whether the store or callers.csv changed
CHUNK_BYTES = 256 * 1024  # bytes per chunk of streamed audio
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TIER_CHOICES = ("VIP", "ordinary", "silent")
REVIEWER_COOKIE = "desk_reviewer"  # set by desk.js (URL-encoded) from the reviewer box


@dataclass(frozen=True)
class DeskConfig:
    out_dir: Path
    audio_root: Path
    token: str | None = None
    redact: bool = False
    reviewer: str = ""
    caller_salt: str | None = None  # the --hash-callers salt of the outputs (implies masked callers)
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS  # None: any Host header (token required)


class Desk:
    """Shared state: configuration, per-thread connections, the index freshness check, the player."""

    def __init__(self, config: DeskConfig):
        self.config = config
        self.player = Player(config.audio_root)
        masked = config.redact or bool(config.caller_salt)
        self.redact_text, self.redact_snippet, self.redact_caller = redactors(masked)
        self._local = threading.local()
        self._sync_lock = threading.Lock()
        self._checked_at = 0.0
        self._stamp: tuple | None = None
        self._outputs_lock = threading.Lock()
        self.refresh(force=True)
        _warm_up()

    def db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = marks.connect(self.config.out_dir)
            index.ensure_schema(db)
            self._local.db = db
        return db

    def _store_stamp(self, db) -> tuple:
        files = db.execute("SELECT COUNT(*), MAX(updated_at) FROM files").fetchone()
        callers = Path(self.config.out_dir) / index.CALLERS_CSV
        stat = callers.stat() if callers.is_file() else None
        return (*files, stat and stat.st_mtime_ns, stat and stat.st_size)

    def refresh(self, force: bool = False) -> None:
        """Re-sync the index when the store or callers.csv changed (checked every SYNC_EVERY_S)."""
        now = time.monotonic()
        if not force and now - self._checked_at < SYNC_EVERY_S:
            return
        if not self._sync_lock.acquire(blocking=force):
            return  # another request is syncing; serve what is indexed
        try:
            self._checked_at = now
            db = self.db()
            stamp = self._store_stamp(db)
            if force or stamp != self._stamp:
                result = index.sync(db, self.config.out_dir, self.config.caller_salt)
                self._stamp = self._store_stamp(db)
                log.info("desk index synced: %s", result)
        finally:
            self._sync_lock.release()

    def refresh_outputs(self) -> None:
        from speechchurn.grading_run import refresh_after_override  # lazy: pandas (start-up stays light)

        privacy = PrivacyOptions(redact=self.config.redact, caller_salt=self.config.caller_salt)
        with self._outputs_lock:
            try:
                refresh_after_override(self.config.out_dir, privacy)
            except (SpeechchurnError, OSError) as e:  # the mark is saved; only the files wait
                log.warning("outputs not refreshed after a tier override: %s", e)


def _warm_up() -> None:
    """Load what the first search / call page / transcode would (jieba's dictionary takes seconds)."""
    import av  # noqa: F401

    import speechchurn.call.acoustics  # noqa: F401  # lazy on purpose: loaded by the warm-up thread, not at start-up

    index.tokens("预热")


def _templates(desk: Desk) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("speechchurn.app", "templates"),
        autoescape=True,  # every value is escaped; templates never use |safe on data
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        rt=desk.redact_text,
        rs=desk.redact_snippet,
        rc=desk.redact_caller,
        risk_lines=labels.risk_reason_lines,
        model_lines=labels.model_reason_lines,
        tier_text=labels.tier_reason_text,
        pct=labels.probability_text,
        mmss=_mmss,
    )
    env.globals.update(
        label=labels.label,
        L=labels,
        outcome_labels=OUTCOME_LABELS,
        tier_choices=TIER_CHOICES,
    )
    return Jinja2Templates(env=env)


def _mmss(seconds) -> str:
    seconds = max(float(seconds or 0.0), 0.0)
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def create_app(config: DeskConfig) -> Starlette:
    desk = Desk(config)
    views = _Views(desk, _templates(desk))
    routes = [
        Route("/", views.queue),
        Route("/login", views.login),
        Route("/search", views.search),
        Route("/customer/{caller:str}", views.customer),
        Route("/customer/{caller:str}/review", views.review, methods=["POST"]),
        Route("/customer/{caller:str}/tier", views.tier, methods=["POST"]),
        Route("/call/{call_id:int}", views.call),
        Route("/audio/{call_id:int}", views.audio),
        Route("/hit/{hit_id:int}/mark", views.mark_hit, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("speechchurn.app", "static")]), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.desk = desk
    guarded = security.Guard(app, config.token, config.allowed_hosts)
    guarded.state = app.state  # tests reach the desk through the returned app
    return guarded


class _Views:
    def __init__(self, desk: Desk, templates: Jinja2Templates):
        self.desk, self.templates = desk, templates

    # --- helpers ------------------------------------------------------------------------------

    def _page(self, request: Request, name: str, context: dict, status: int = 200) -> Response:
        csrf = request.cookies.get(security.CSRF_COOKIE) or security.new_token()
        reviewer = unquote(request.cookies.get(REVIEWER_COOKIE, "")) or self.desk.config.reviewer
        redacted = self.desk.config.redact or bool(self.desk.config.caller_salt)
        context = {"csrf": csrf, "reviewer": reviewer, "redacted": redacted, **context}
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        if request.cookies.get(security.CSRF_COOKIE) != csrf:
            response.set_cookie(security.CSRF_COOKIE, csrf, httponly=False, samesite="strict")
        return response

    def _not_found(self, request: Request, what: str) -> Response:
        return self._page(request, "error.html.j2", {"message": f"找不到{what}"}, status=404)

    async def _checked_form(self, request: Request) -> dict | None:
        """The POST form if its CSRF token matches the cookie, else None."""
        form = dict(await request.form())
        sent = form.get(security.CSRF_FIELD) or request.headers.get(security.CSRF_HEADER)
        return form if security.same(sent, request.cookies.get(security.CSRF_COOKIE)) else None

    def _reviewer(self, form: dict) -> str:
        return str(form.get("reviewer") or self.desk.config.reviewer)

    # --- pages ------------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        token = request.query_params.get("token")
        if not self.desk.config.token or not security.same(token, self.desk.config.token):
            return PlainTextResponse("401: wrong or missing token", status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(security.TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    def queue(self, request: Request) -> Response:
        self.desk.refresh()
        try:
            page = max(int(request.query_params.get("page", "1")), 1)
        except ValueError:
            page = 1
        only_open = request.query_params.get("open") == "1"
        everyone = request.query_params.get("all") == "1"
        items, total = queries.queue_page(self.desk.db(), page, only_open, everyone)
        pages = max((total + index.QUEUE_PAGE_SIZE - 1) // index.QUEUE_PAGE_SIZE, 1)
        filters = "&".join(f for f, on in (("open=1", only_open), ("all=1", everyone)) if on)
        context = {"items": items, "total": total, "page": page, "pages": pages, "filters": filters}
        context.update(only_open=only_open, everyone=everyone)
        return self._page(request, "queue.html.j2", context)

    def customer(self, request: Request) -> Response:
        self.desk.refresh()
        data = queries.customer(self.desk.db(), request.path_params["caller"])
        if data is None:
            return self._not_found(request, "该客户")
        return self._page(request, "customer.html.j2", {"c": data})

    def call(self, request: Request) -> Response:
        self.desk.refresh()
        data = queries.call(self.desk.db(), request.path_params["call_id"])
        if data is None:
            return self._not_found(request, "该通话")
        return self._page(request, "call.html.j2", {"call": data, "t": data["timeline"]})

    def search(self, request: Request) -> Response:
        self.desk.refresh()
        text = request.query_params.get("q", "")[:200]
        results = queries.search(self.desk.db(), text) if text.strip() else []
        return self._page(request, "search.html.j2", {"q": text, "results": results})

    # --- marking ------------------------------------------------------------------------------

    async def mark_hit(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if form is None:
            return JSONResponse({"error": "CSRF token missing or wrong"}, status_code=403)
        found = queries.hit_by_id(self.desk.db(), request.path_params["hit_id"])
        if found is None:
            return JSONResponse({"error": "no such hit"}, status_code=404)
        try:
            mark = marks.mark_hit(
                self.desk.db(), found[0], found[1], str(form.get("verdict")), self._reviewer(form)
            )
        except marks.MarkError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"verdict": mark.verdict, "reviewer": mark.reviewer, "marked_at": mark.marked_at})

    async def review(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if form is None:
            return PlainTextResponse("403: CSRF token missing or wrong", status_code=403)
        caller = request.path_params["caller"]
        if queries.customer(self.desk.db(), caller) is None:
            return self._not_found(request, "该客户")
        try:
            marks.review_customer(
                self.desk.db(),
                caller,
                str(form.get("outcome")),
                str(form.get("note", "")),
                self._reviewer(form),
            )
        except marks.MarkError as e:
            return PlainTextResponse(f"400: {e}", status_code=400)
        return RedirectResponse(f"/customer/{caller}", status_code=303)

    async def tier(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if form is None:
            return PlainTextResponse("403: CSRF token missing or wrong", status_code=403)
        caller = request.path_params["caller"]
        tier = str(form.get("tier", ""))
        if queries.customer(self.desk.db(), caller) is None:
            return self._not_found(request, "该客户")
        if tier and tier not in TIER_CHOICES:
            return PlainTextResponse(f"400: tier must be one of {', '.join(TIER_CHOICES)}", status_code=400)
        try:
            marks.override_tier(
                self.desk.db(), caller, tier, str(form.get("reason", "")), self._reviewer(form)
            )
        except marks.MarkError as e:
            return PlainTextResponse(f"400: {e}", status_code=400)
        task = BackgroundTask(self.desk.refresh_outputs)
        return RedirectResponse(f"/customer/{caller}", status_code=303, background=task)

    # --- audio ----------------------------------------------------------------------------------

    def audio(self, request: Request) -> Response:
        row = (
            self.desk.db()
            .execute("SELECT file FROM desk_calls WHERE id = ?", (request.path_params["call_id"],))
            .fetchone()
        )
        if row is None:
            return PlainTextResponse("404: no such call", status_code=404)
        try:
            audio = self.desk.player.audio(row[0])
        except NotFound:
            return PlainTextResponse("404: recording not available", status_code=404)
        headers = {"accept-ranges": "bytes", "cache-control": "private, max-age=3600"}
        try:
            span = byte_range(request.headers.get("range"), audio.size)
        except RangeNotSatisfiable:
            return Response(status_code=416, headers={"content-range": f"bytes */{audio.size}"})
        start, stop = span or (0, audio.size)
        headers["content-length"] = str(stop - start)
        if span is not None:
            headers["content-range"] = f"bytes {start}-{stop - 1}/{audio.size}"
        body = _chunks(audio, start, stop)
        return StreamingResponse(
            body, status_code=206 if span else 200, media_type=audio.media_type, headers=headers
        )


def _chunks(audio, start: int, stop: int):
    position = start
    while position < stop:
        end = min(position + CHUNK_BYTES, stop)
        yield audio.read(position, end)
        position = end
