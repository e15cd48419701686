"""Every grading option is honoured on every path into the grading run.

The paths: the end of ``analyze`` (library; its batch replaced by the golden store, the test is about
grading), ``speechchurn grade``, ``speechchurn grade --calls`` (a CDR) and the desk's refresh after a
tier override. For each option combination the files a path writes (callers.csv, review.csv) must be
byte-identical to those of one direct ``run_grading`` with the same options, and that reference must
differ from the one without the option, so the option really changes something on this data.

The store is the golden one (tests/golden/store.sql, a real run of audio_samples) with reviewer marks:
one tier override and every hit of one customer marked wrong. The model is trained once on it with the
committed audio_samples/outcomes.csv.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from speechchurn import outputs
from speechchurn.batch.store import STORE_NAME, Store
from speechchurn.cli import app
from speechchurn.grading_run import GradingOptions, refresh_after_override, run_grading
from speechchurn.privacy import PrivacyOptions
from speechchurn.resources import default_rules_path
from speechchurn.review import marks

GOLDEN = Path(__file__).resolve().parent / "golden"
SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
OVERRIDDEN = "13600001103"  # a reviewer made this customer VIP
WRONG_HITS_OF = "13998765402"  # every keyword hit of this customer was marked wrong
FILES = (outputs.CALLERS_CSV, outputs.REVIEW_CSV)
runner = CliRunner()

# name -> (GradingOptions fields, grade CLI flags); paths and the model are filled in by `resolve`
COMBINATIONS = {
    "defaults": ({}, []),
    "skip-wrong-hits": ({"skip_wrong_hits": True}, ["--skip-wrong-hits"]),
    "model": ({"model": "MODEL"}, ["--model", "MODEL"]),
    "skip-wrong-hits+model": (
        {"skip_wrong_hits": True, "model": "MODEL"},
        ["--skip-wrong-hits", "--model", "MODEL"],
    ),
    "tiering cluster": ({"tiering": "cluster"}, ["--tiering", "cluster"]),
    "as-of": ({"as_of": dt.date(2027, 6, 1)}, ["--as-of", "2027-06-01"]),
    "timezone": ({"timezone": "America/New_York"}, ["--timezone", "America/New_York"]),
    "top": ({"rules": "RULES", "top": 1}, ["--rules", "RULES", "--top", "1"]),
    "customers": ({"customers": "ROSTER"}, ["--customers", "ROSTER"]),
    "rules": ({"rules": "RULES"}, ["--rules", "RULES"]),
    "network": (
        {"network": "EDGES", "outcomes": "OUTCOMES"},
        ["--network", "EDGES", "--outcomes", "OUTCOMES"],
    ),
    "model+cluster+as-of": (
        {"model": "MODEL", "tiering": "cluster", "as_of": dt.date(2026, 11, 30)},
        ["--model", "MODEL", "--tiering", "cluster", "--as-of", "2026-11-30"],
    ),
}
STORE_ONLY = {"skip-wrong-hits"}  # a CDR has no keyword hits to leave out: no change to expect there
BASE = {"top": "rules"}  # compared with this combination instead of the defaults (RULES queue everyone)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An analysed folder (golden store + marks), a CDR, a roster, a rules file and a trained model."""
    from speechchurn.outcomes.pipeline import OutcomeOptions, train_run

    root = tmp_path_factory.mktemp("paths")
    analysed = root / "analysed"
    _load_golden(analysed)
    db = marks.connect(analysed)
    try:
        marks.override_tier(db, OVERRIDDEN, "VIP", "集团客户", "王主管")
        with Store(analysed, create=False) as store:
            shas = {f: s for f, s in store.db.execute("SELECT file, sha256 FROM files")}
            hits = [h for h in store.evidence_rows() if str(h.get("caller")) == WRONG_HITS_OF]
        for hit in hits:
            marks.mark_hit(db, hit, shas[hit["file"]], "wrong", "王主管")
    finally:
        db.close()
    assert hits, "the golden store has keyword hits for the customer whose hits are marked wrong"
    roster = root / "roster.csv"
    roster.write_text("caller\n13500000000\n13600001103\n", encoding="utf-8")
    rules = root / "rules.toml"
    rules.write_text(_changed_rules(default_rules_path().read_text("utf-8")), encoding="utf-8")
    edges = root / "edges.csv"  # 15900003305 left (outcomes.csv); two customers talked to them
    edges.write_text("a,b,calls\n15900003305,13600001103,4\n15900003305,13998765402,2\n", encoding="utf-8")
    model = root / "model.joblib"
    train_run(analysed, SAMPLES / "outcomes.csv", model, OutcomeOptions(), as_of=dt.date(2026, 11, 20))
    paths = {
        "MODEL": model,
        "ROSTER": roster,
        "RULES": rules,
        "EDGES": edges,
        "OUTCOMES": SAMPLES / "outcomes.csv",
        "CDR": GOLDEN / "out" / "calls.csv",
    }
    return root, analysed, paths


def _changed_rules(rules_text: str) -> str:
    """The shipped rules with a VIP threshold no sample customer reaches and every customer
    complaint-heavy (tiers change, everyone is queued for review)."""
    changes = {'"calls_30d >= 3"': '"calls_30d >= 99"', '"complaint_calls >= 2"': '"calls >= 1"'}
    for old, new in changes.items():
        assert old in rules_text, f"the shipped rules changed ({old}); adapt this test"
        rules_text = rules_text.replace(old, new)
    return rules_text


def _load_golden(out: Path) -> None:
    from speechchurn.batch.pipeline import export_outputs

    out.mkdir(parents=True)
    with sqlite3.connect(out / STORE_NAME) as db:
        db.executescript((GOLDEN / "store.sql").read_text(encoding="utf-8"))
    with Store(out) as store:
        export_outputs(store, out)


def resolve(name: str, paths: dict, calls: bool) -> tuple[GradingOptions, list[str]]:
    fields, flags = COMBINATIONS[name]
    fields = {k: paths.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    flags = [str(paths.get(f, f)) for f in flags]
    if calls:
        fields["calls_csv"], flags = paths["CDR"], [*flags, "--calls", str(paths["CDR"])]
    return GradingOptions(**fields), flags


def written(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in FILES}


def fresh_copy(analysed: Path, dest: Path) -> Path:
    shutil.copytree(analysed, dest)
    return dest


def reference(world, name: str, calls: bool) -> dict[str, bytes]:
    """The files one direct run_grading with the combination's options writes."""
    root, analysed, paths = world
    options, _ = resolve(name, paths, calls)
    out = root / f"ref-{name}-{calls}"
    if not out.exists():
        work = root / f"work-{name}-{calls}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir() if calls else fresh_copy(analysed, work)
        run_grading(work, options)
        work.rename(out)
    return written(out)


def _grade_cli(out: Path, flags: list[str]) -> None:
    result = runner.invoke(app, ["grade", str(out), "-q", *flags])
    assert result.exit_code == 0, result.output


def path_analyze(world, name, tmp_path, monkeypatch):
    import speechchurn.analyze as analyze_module
    from speechchurn.batch.pipeline import BatchRun

    _root, analysed, paths = world
    options, _ = resolve(name, paths, calls=False)
    out = tmp_path / "out"

    def golden_batch(audio_dir, out_dir, batch_options, on_progress=None):
        shutil.copytree(analysed, out_dir)
        return BatchRun(total=11, done=11, cached=0, ignored=0)

    monkeypatch.setattr(analyze_module, "run_batch", golden_batch)
    analyze_module.analyze(tmp_path, out, grading=options)
    return written(out)


def path_grade(world, name, tmp_path, monkeypatch):
    _root, analysed, paths = world
    out = fresh_copy(analysed, tmp_path / "out")
    _grade_cli(out, resolve(name, paths, calls=False)[1])
    return written(out)


def path_grade_calls(world, name, tmp_path, monkeypatch):
    _root, _analysed, paths = world
    out = tmp_path / "out"
    _grade_cli(out, resolve(name, paths, calls=True)[1])
    return written(out)


def path_desk_refresh(world, name, tmp_path, monkeypatch):
    """grade with the options, then the desk's refresh (a new override, taken back) re-grades alike."""
    _root, analysed, paths = world
    out = fresh_copy(analysed, tmp_path / "out")
    _grade_cli(out, resolve(name, paths, calls=False)[1])
    for name_ in FILES:
        (out / name_).unlink()  # only the refresh can bring them back
    refresh_after_override(out, PrivacyOptions())
    return written(out)


PATHS = {
    "analyze": (path_analyze, False),
    "grade": (path_grade, False),
    "grade --calls": (path_grade_calls, True),
    "desk refresh": (path_desk_refresh, False),
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_every_option_is_honoured_on_every_path(world, name, path, tmp_path, monkeypatch):
    run, calls = PATHS[path]
    expected = reference(world, name, calls)
    if name != "defaults" and not (calls and name in STORE_ONLY):
        base = BASE.get(name, "defaults")
        assert expected != reference(world, base, calls), f"{name} changes nothing on this data"
    assert run(world, name, tmp_path, monkeypatch) == expected


def test_store_runs_carry_the_reviewers_marks(world):
    """The reference itself: the override and the wrong hits reach callers.csv (store paths only)."""
    root, _analysed, _paths = world
    reference(world, "defaults", False)
    reference(world, "skip-wrong-hits", False)
    plain = outputs.read_csv(root / "ref-defaults-False" / outputs.CALLERS_CSV).set_index("caller")
    skipped = outputs.read_csv(root / "ref-skip-wrong-hits-False" / outputs.CALLERS_CSV).set_index("caller")
    assert plain.loc[OVERRIDDEN, "tier"] == "VIP" and "王主管" in plain.loc[OVERRIDDEN, "tier_override_by"]
    kw = ["complaint_calls", "churn_intent_calls", "competitor_mentions"]
    assert skipped.loc[WRONG_HITS_OF, kw].sum() < plain.loc[WRONG_HITS_OF, kw].sum()


def test_the_desk_refresh_keeps_the_last_runs_options(world, tmp_path):
    """The options are recorded (no salt) and read back as they were given."""
    from speechchurn.grading_run import last_options

    _root, analysed, paths = world
    out = fresh_copy(analysed, tmp_path / "out")
    options, flags = resolve("model+cluster+as-of", paths, calls=False)
    _grade_cli(out, [*flags, "--top", "3", "--hash-callers", "pepper"])
    kept = last_options(out)
    assert kept == dataclasses.replace(options, top=3)
    assert "pepper" not in (out / STORE_NAME).read_bytes().decode("utf-8", "replace")
    assert refresh_after_override(out, PrivacyOptions()) is None  # hashed outputs need the salt
