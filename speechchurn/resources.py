"""Locate data files shipped inside the wheel (lexicons, default rules, models)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"


def lexicon_dir() -> Path:
    """The bundled lexicon folder: inside the package when installed, repo-level in a checkout."""
    installed = PACKAGE_DIR / "lexicons"
    if installed.is_dir():
        return installed
    return PACKAGE_DIR.parent / "lexicons"


def default_rules_path() -> Path:
    return DATA_DIR / "default_rules.toml"
