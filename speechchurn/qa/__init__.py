"""质检: QA evaluation forms, per-call scorecards and per-agent results (docs/qa.md).

`form` (the TOML form and its validation) -> `score` (one call) -> `run` (every stored call, outputs).
"""
