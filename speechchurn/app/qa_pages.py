"""The desk's QA (质检) pages: the agents' leaderboard (``/agents``), an agent's page (``/agent/<id>``),
the scorecard on each call page, and the reviewer's appeal of one criterion (复核 / 申诉).

An appeal is a CSRF-checked POST to ``/call/<call id>/qa/<criterion id>``: the call is looked up by
its desk id and the criterion must be one of that call's scored criteria (anything else is 404). It is
stored with ``speechchurn.review.qa_appeals.record_appeal`` (keyed by the recording's content, so it
survives re-analysis), that call is re-scored at once with speechchurn.qa.run's functions into the
desk's QA index (so the page after the redirect shows the recomputed score and the reviewer), and in
the background ``run_qa`` re-scores every call into qa_calls.csv / qa_agents.csv / evidence.jsonl
(tens of seconds for 10,000 calls), after which callers.csv, the report and the workbook are refreshed.
"""

from __future__ import annotations

import json
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
        self._sync_lock = threading.Lock()  # one thread re-reads the QA files at a time
        self._generation = 0  # appeals made (in this process)
        self._rescored = 0  # appeals the files were last re-scored after
        qa_index.sync(desk.db(), desk.config.out_dir)  # built at start-up, like the transcript index
        threading.Thread(target=_warm_up, args=(self.form,), name="qa-warm-up", daemon=True).start()

    def routes(self) -> list[Route]:
        return [
            Route("/agents", self.agents),
            Route("/agent/{agent_id:rowid}", self.agent),
            Route("/call/{call_id:rowid}/qa/{criterion:str}", self.appeal, methods=["POST"]),
        ]

    def _db(self):
        """This thread's connection, the QA index brought up to date unless another thread is at it
        (then the pages show what is indexed, like the transcript index)."""
        db = self.desk.db()
        if self._sync_lock.acquire(blocking=False):
            try:
                qa_index.sync(db, self.desk.config.out_dir)
            finally:
                self._sync_lock.release()
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
        self.rescore_call(call_id, row[0])
        self._generation += 1
        task = BackgroundTask(self.rescore_all, self._generation)
        return RedirectResponse(f"/call/{call_id}#qa-{criterion}", status_code=303, background=task)

    def rescore_call(self, call_id: int, file: str) -> None:
        """Re-score one call with its appeals (speechchurn.qa.run's own functions) into the QA index,
        so the page after the redirect shows the new score at once."""
        from speechchurn.qa.run import call_table, evidence_rows, score_calls
        from speechchurn.review.qa_appeals import load_appeals
        from speechchurn.schema import Segment

        db = self.desk.db()
        row = json.loads(db.execute("SELECT row FROM desk_calls WHERE id = ?", (call_id,)).fetchone()[0])
        query = 'SELECT role, start, "end", text FROM desk_segments WHERE call_id = ? ORDER BY seq'
        segments = [Segment(*values) for values in db.execute(query, (call_id,))]
        appeals = {file: load_appeals(self.desk.config.out_dir).get(file, {})}
        scores, _ = score_calls(self.form, [row], {file: segments}, appeals)
        table = call_table(self.form, scores, {file: row})
        record = json.loads(table.to_json(orient="records", force_ascii=False))[0]
        qa_index.replace_call(db, record, evidence_rows(self.form, scores, {file: row}))

    def rescore_all(self, generation: int) -> None:
        """Background: re-score every call (qa_calls.csv, qa_agents.csv, QA evidence, the store's QA
        scores), re-read the QA index, then refresh callers.csv, the report and the workbook. Appeals
        made while a run was going are covered by one more run, not one per appeal."""
        from speechchurn.qa.run import run_qa

        with self._rescore_lock:
            if self._rescored >= generation:
                return
            self._rescored = self._generation
            result = run_qa(self.desk.config.out_dir, self.form)
            with self._sync_lock:
                qa_index.sync(self.desk.db(), self.desk.config.out_dir, force=True)
        log.info("desk: QA re-scored %d calls after an appeal", len(result.calls))
        self.desk.refresh_outputs()


def _warm_up(form) -> None:
    """Build the form's phrase matcher (its phonetic index: seconds) before the first appeal needs it."""
    from speechchurn.qa.score import matcher_for

    matcher_for(form)


def _load_form(config):
    """The form the desk re-scores with: `--qa-form` of serve, else the shipped default."""
    from speechchurn.qa.form import load_form

    return load_form(config.qa_form)
