"""`speechchurn qa`: re-score every stored call against a QA form (质检), no transcription."""

from __future__ import annotations

from speechchurn.cli import console
from speechchurn.cli.main import ExistingDir, _privacy, app
from speechchurn.cli.options import (
    HashCallers,
    QAFormOption,
    Quiet,
    Redact,
    Wait,
    library_errors,
    setup_logging,
)


@app.command()
def qa(
    out_dir: ExistingDir,
    form: QAFormOption = None,
    redact: Redact = False,
    hash_callers: HashCallers = None,
    wait: Wait = False,
    quiet: Quiet = False,
) -> None:
    """Score every analysed call in OUT_DIR with the QA form (default: the shipped one) from the stored
    transcripts and features; writes qa_calls.csv, qa_agents.csv, qa_weekly.csv and QA evidence.
    Then the last grading run again: callers.csv gets the new QA columns, every output keeps the
    protection (--redact / --hash-callers) of the last run."""
    setup_logging(quiet=quiet)
    from speechchurn.analyze import rescore_qa  # lazy: pandas (--help stays instant)

    with library_errors():
        result = rescore_qa(out_dir, form, _privacy(redact, hash_callers), wait)
    console.print_qa(result, quiet)
