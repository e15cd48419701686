"""The desk's QA (质检) pages: the agents' leaderboard (``/agents``), an agent's page (``/agent/<id>``),
the scorecard on each call page, and the reviewer's appeal of one criterion (复核 / 申诉).

An appeal is a CSRF-checked POST to ``/call/<call id>/qa/<criterion id>``: the call is looked up by
its desk id and the criterion must be one of that call's scored criteria (anything else is 404). It is
stored with ``speechchurn.review.qa_appeals.record_appeal`` (keyed by the recording's content, so it
survives re-analysis), the calls are re-scored with ``speechchurn.qa.run.run_qa`` (the appeal
applied, ``qa_reviewed_by`` naming the reviewer) and the QA index re-read before the redirect, so the
page that follows shows the recomputed score; the report and workbook are refreshed afterwards.
"""

from __future__ import annotations

import logging
import threading

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from speechchurn.app import qa_index, qa_queries

log = logging.getLogger("speechchurn")

APPEAL_RESULTS = {"1": 1, "0": 0}  # form value -> criterion result
_OTHER_FORM = (
    "409: qa_calls.csv was scored with another QA form (criteria {ids}); re-scoring with this one would "
    "change every call. Start `speechchurn serve --qa-form FORM` with the form analyze used."
)


class QAViews:
    """QA routes and the QA parts of the call and customer pages. `views` is the desk's page helper
    (web._Views: `_page`, `_not_found`, `_checked_form`, `_reviewer`); `desk` its shared state."""

    def __init__(self, desk, views, form=None):
        self.desk, self.views = desk, views
        self.form = form if form is not None else _load_form(desk.config)
        self.criteria = qa_queries.criteria_of(self.form)
        self._rescore_lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route("/agents", self.agents),
            Route("/agent/{agent_id:int}", self.agent),
            Route("/call/{call_id:int}/qa/{criterion:str}", self.appeal, methods=["POST"]),
        ]

    def _db(self):
        db = self.desk.db()
        qa_index.sync(db, self.desk.config.out_dir)
        return db

    # --- parts of other pages --------------------------------------------------------------------

    def scorecard(self, file: str) -> dict | None:
        """The call page's scorecard (None: the call was not scored)."""
        return qa_queries.scorecard(self._db(), file, self.criteria)

    def call_agents(self, calls: list[dict]) -> dict[str, dict]:
        """file -> agent id, name and score for a customer's calls (empty without QA results)."""
        return qa_queries.agent_of_files(self._db(), [c["file"] for c in calls])

    # --- pages -----------------------------------------------------------------------------------

    def agents(self, request: Request) -> Response:
        self.desk.refresh()
        return self.views._page(request, "agents.html.j2", {"agents": qa_queries.agents(self._db())})

    def agent(self, request: Request) -> Response:
        self.desk.refresh()
        data = qa_queries.agent(self._db(), request.path_params["agent_id"], self.criteria)
        if data is None:
            return self.views._not_found(request, "该坐席")
        return self.views._page(request, "agent.html.j2", {"a": data})

    # --- appeal ----------------------------------------------------------------------------------

    async def appeal(self, request: Request) -> Response:
        form = await self.views._checked_form(request)
        if form is None:
            return PlainTextResponse("403: CSRF token missing or wrong", status_code=403)
        call_id, criterion = request.path_params["call_id"], request.path_params["criterion"]
        row = self._db().execute("SELECT file FROM desk_calls WHERE id = ?", (call_id,)).fetchone()
        card = self.scorecard(row[0]) if row else None
        if card is None or criterion not in {c["id"] for c in card["criteria"]}:
            return self.views._not_found(request, "该质检项")
        scored = [c["id"] for c in card["criteria"]]
        if scored != list(self.form.ids):
            return PlainTextResponse(_OTHER_FORM.format(ids=", ".join(scored)), status_code=409)
        result = APPEAL_RESULTS.get(str(form.get("result", "")))
        if result is None:
            return PlainTextResponse("400: result must be 1 (通过) or 0 (不通过)", status_code=400)
        from speechchurn.review.qa_appeals import AppealError, record_appeal

        try:
            record_appeal(
                self.desk.config.out_dir,
                row[0],
                criterion,
                result,
                str(form.get("reason", "")),
                self.views._reviewer(form),
            )
        except AppealError as e:
            return PlainTextResponse(f"400: {e}", status_code=400)
        self.rescore()
        task = BackgroundTask(self.desk.refresh_outputs)
        return RedirectResponse(f"/call/{call_id}#qa-{criterion}", status_code=303, background=task)

    def rescore(self) -> None:
        """Re-score every call with the appeals applied, then re-read the QA index."""
        from speechchurn.qa.run import run_qa

        with self._rescore_lock:
            result = run_qa(self.desk.config.out_dir, self.form)
            qa_index.sync(self.desk.db(), self.desk.config.out_dir, force=True)
        log.info("desk: QA re-scored %d calls after an appeal", len(result.calls))


def _load_form(config):
    """The form the desk re-scores with: `--qa-form` of serve, else the shipped default."""
    from speechchurn.qa.form import load_form

    return load_form(config.qa_form)
