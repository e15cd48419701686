"""Keyword lexicons: one plain-text file per category (see lexicons/README.md for the format).

`load_lexicons()` reads the bundled folder; `load_lexicons(extra_dir)` then lets every `*.txt` in
`extra_dir` replace the bundled category of the same name or add a new category.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

from speechchurn.errors import ConfigError
from speechchurn.resources import lexicon_dir

log = logging.getLogger("speechchurn")

DEFAULT_WEIGHT = 1.0  # weight of a term written without one
LEXICON_SUFFIX = ".txt"
CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # becomes a column name: kw_<category>
NEWLINE = b"\n"
COMMENT = re.compile(r"(^|\s)#.*$")  # '#' at line start or after whitespace starts a comment


@dataclass(frozen=True)
class Term:
    """One lexicon entry: the canonical text, its category and its weight."""

    text: str
    category: str
    weight: float = DEFAULT_WEIGHT


@dataclass(frozen=True)
class Category:
    name: str
    terms: tuple[Term, ...]
    source: str  # file the terms came from (for messages)


@dataclass(frozen=True)
class Lexicon:
    """All categories, ordered by name. Hashable, so it can key caches (jieba dictionary, pinyin)."""

    categories: tuple[Category, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    def category(self, name: str) -> Category:
        for cat in self.categories:
            if cat.name == name:
                return cat
        raise KeyError(name)

    def terms(self) -> tuple[Term, ...]:
        return tuple(t for c in self.categories for t in c.terms)

    def weight(self, category: str, term: str) -> float:
        for t in self.category(category).terms:
            if t.text == term:
                return t.weight
        raise KeyError(f"{category}/{term}")


def _parse_weight(raw: str, where: str) -> float:
    try:
        weight = float(raw)
    except ValueError as e:
        raise ConfigError(f"{where}: weight {raw!r} is not a number") from e
    if not math.isfinite(weight) or weight <= 0:
        raise ConfigError(f"{where}: weight {raw!r} must be a positive finite number")
    return weight


def _parse_line(line: str, category: str, where: str) -> Term | None:
    body = COMMENT.sub("", line).strip()
    if not body:
        return None
    fields = body.split()
    if len(fields) > 2:
        raise ConfigError(f"{where}: expected 'term [weight]', got {len(fields)} fields: {body!r}")
    weight = _parse_weight(fields[1], where) if len(fields) == 2 else DEFAULT_WEIGHT
    return Term(text=fields[0], category=category, weight=weight)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(NEWLINE) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read lexicon file: {e.strerror or e}") from e


def parse_lexicon_file(path: Path) -> Category:
    """Parse one category file. Raises ConfigError naming the file (and line) on any problem."""
    name = path.stem
    if not CATEGORY_NAME.match(name):
        raise ConfigError(f"{path}: category name {name!r} must match {CATEGORY_NAME.pattern}")
    seen: dict[str, Term] = {}
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        term = _parse_line(line, name, f"{path}:{lineno}")
        if term is None:
            continue
        if term.text in seen:
            log.warning("%s:%d: duplicate term %r; the later weight wins", path, lineno, term.text)
        seen[term.text] = term
    if not seen:
        raise ConfigError(f"{path}: lexicon file has no terms")
    return Category(name=name, terms=tuple(seen.values()), source=str(path))


def _category_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: lexicon folder does not exist or is not a directory")
    return {p.stem: p for p in sorted(folder.glob(f"*{LEXICON_SUFFIX}")) if p.is_file()}


def load_lexicons(extra_dir: Path | None = None) -> Lexicon:
    """Bundled lexicons, with categories from `extra_dir` replacing or adding to them."""
    files = _category_files(lexicon_dir())
    if extra_dir is not None:
        extra = _category_files(Path(extra_dir))
        if not extra:
            raise ConfigError(f"{extra_dir}: no *{LEXICON_SUFFIX} lexicon files found")
        for name, path in extra.items():
            log.info("lexicon %s: %s %s", name, "override" if name in files else "added", path)
        files.update(extra)
    categories = tuple(parse_lexicon_file(files[name]) for name in sorted(files))
    return Lexicon(categories=categories)
