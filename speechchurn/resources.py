"""Locate data files shipped inside the wheel (lexicons, default rules, models)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"


def lexicon_dir() -> Path:
    """The bundled lexicon folder (package data; the repo-root `lexicons` is a symlink to it)."""
    return DATA_DIR / "lexicons"


def default_rules_path() -> Path:
    return DATA_DIR / "default_rules.toml"


def default_qa_form_path() -> Path:
    """The default Chinese QA evaluation form (质检评分表), package data."""
    return DATA_DIR / "qa" / "default_form.toml"
