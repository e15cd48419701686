"""`speechchurn qa`: re-score every stored call against a QA form (质检), no transcription."""

from __future__ import annotations

from speechchurn.cli import console
from speechchurn.cli.main import ExistingDir, app
from speechchurn.cli.options import QAFormOption, Quiet, library_errors, setup_logging


@app.command()
def qa(
    out_dir: ExistingDir,
    form: QAFormOption = None,
    quiet: Quiet = False,
) -> None:
    """Score every analysed call in OUT_DIR with the QA form (default: the shipped one) from the stored
    transcripts and features; writes qa_calls.csv, qa_agents.csv, qa_weekly.csv and QA evidence.
    Run `speechchurn grade OUT_DIR` afterwards to carry new results into callers.csv."""
    setup_logging(quiet=quiet)
    from speechchurn.qa.form import load_form
    from speechchurn.qa.run import run_qa

    with library_errors():
        result = run_qa(out_dir, load_form(form))
    console.print_qa(result, quiet)
