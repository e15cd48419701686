"""QA evaluation forms (质检评分表): a TOML file of ``[[criteria]]`` tables, validated into frozen records.

The key contract (docs/qa.md) is fixed so that forms written elsewhere work unchanged:

=================  =====================================================================================
key                meaning
=================  =====================================================================================
``id``             required, ``[a-z0-9_]+``, unique; the column name part (``qa_<id>``)
``label``          shown to people (Chinese); defaults to the id
``weight``         > 0 (default 1)
``role``           ``agent`` (default), ``customer`` or ``any``: whose speech is searched
``say_any``        phrases; passes when any is heard by that role (ASR-tolerant, negation-aware)
``say_none``       phrases; fails when any is heard (服务禁语)
``within_first_s`` optional window from the call's start in which the phrase must be heard
``within_last_s``  optional window before the call's end in which the phrase must be heard
``when``           a condition over calls.csv columns in the rules syntax; passes when it holds
``applies_when``   a condition in the same syntax; where it does not hold the criterion is not applicable
``auto_fail``      bool; a failed auto-fail criterion sets the call's score to 0 (致命项)
=================  =====================================================================================

A criterion has exactly one of ``say_any``, ``say_none`` and ``when``. Top-level keys besides
``criteria``: ``name``, ``version``, ``description`` (informational) and ``fail_below`` (a call scoring
below it counts as failed QA for the customers' ``qa_failed_calls``; default 60).

Every problem raises :class:`speechchurn.errors.FormError` naming the file, the criterion and the key,
before any work starts.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from speechchurn.customers.rules import CONDITION_GRAMMAR, Condition, split_condition
from speechchurn.errors import FormError
from speechchurn.resources import default_qa_form_path
from speechchurn.vocab import (
    QA_AUTO_FAILED_COLUMN,
    QA_FAILED_COLUMN,
    QA_REVIEWED_BY_COLUMN,
    QA_SCORE_COLUMN,
    ROLE_AGENT,
    ROLE_CUSTOMER,
)

ROLE_ANY = "any"
QA_ROLES = (ROLE_AGENT, ROLE_CUSTOMER, ROLE_ANY)
KIND_KEYS = ("say_any", "say_none", "when")  # exactly one per criterion
CRITERION_KEYS = (
    "id",
    "label",
    "weight",
    "role",
    "say_any",
    "say_none",
    "within_first_s",
    "within_last_s",
    "when",
    "applies_when",
    "auto_fail",
)
FORM_KEYS = ("criteria", "name", "version", "description", "fail_below")
DEFAULT_FAIL_BELOW = 60.0  # qa_score points: a call below this counts as failed QA (qa_failed_calls)
DEFAULT_WEIGHT = 1.0
CRITERION_ID = re.compile(r"^[a-z0-9_]+$")
INDICATOR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Column names qa_calls.csv uses itself; a criterion id may not produce one of them.
RESERVED_COLUMNS = (QA_SCORE_COLUMN, QA_AUTO_FAILED_COLUMN, QA_FAILED_COLUMN, QA_REVIEWED_BY_COLUMN)
MAX_PHRASE_CHARS = 40  # a phrase is a few words, not a paragraph


@dataclass(frozen=True)
class Criterion:
    """One line of the form. ``kind`` is ``say_any``, ``say_none`` or ``when``."""

    id: str
    label: str
    weight: float
    role: str = ROLE_AGENT
    say_any: tuple[str, ...] = ()
    say_none: tuple[str, ...] = ()
    within_first_s: float | None = None
    within_last_s: float | None = None
    when: Condition | None = None
    applies_when: Condition | None = None
    auto_fail: bool = False

    @property
    def kind(self) -> str:
        if self.say_any:
            return "say_any"
        if self.say_none:
            return "say_none"
        return "when"

    @property
    def phrases(self) -> tuple[str, ...]:
        return self.say_any or self.say_none

    @property
    def column(self) -> str:
        """qa_calls.csv column with the result: ``qa_<id>``."""
        return f"qa_{self.id}"

    @property
    def at_column(self) -> str:
        """qa_calls.csv column with the second the deciding phrase was heard: ``qa_<id>_at``."""
        return f"qa_{self.id}_at"


@dataclass(frozen=True)
class QAForm:
    """A validated evaluation form."""

    criteria: tuple[Criterion, ...]
    source: str  # file the form came from (for messages and the outputs' provenance)
    name: str = ""
    fail_below: float = DEFAULT_FAIL_BELOW

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.criteria)

    @property
    def indicators(self) -> tuple[str, ...]:
        """calls.csv columns the form's conditions read."""
        conds = [c for cr in self.criteria for c in (cr.when, cr.applies_when) if c is not None]
        return tuple(dict.fromkeys(c.indicator for c in conds))


# --------------------------------------------------------------------------------------------- parsing


class _Checker:
    """Typed access to one criterion table; every error names file, criterion and key."""

    def __init__(self, source: str, where: str):
        self.source, self.where = source, where

    def fail(self, key: str, message: str) -> FormError:
        return FormError(
            f"{self.source}: {self.where}.{key}: {message}"
            if key
            else f"{self.source}: {self.where}: {message}"
        )

    def number(self, table: dict, key: str, default: float | None, positive: bool = False) -> float | None:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"expected a number, got {value!r}")
        if value <= 0 if positive else value < 0:
            raise self.fail(key, f"must be {'> 0' if positive else '>= 0'}, got {value!r}")
        return float(value)

    def text(self, table: dict, key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}" if key in table else "missing")
        return value

    def phrases(self, table: dict, key: str) -> tuple[str, ...]:
        if key not in table:
            return ()
        value = table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected a non-empty list of phrases, got {value!r}")
        out = []
        for i, phrase in enumerate(value):
            cleaned = "".join(phrase.split()) if isinstance(phrase, str) else ""
            if not cleaned or len(cleaned) > MAX_PHRASE_CHARS:
                raise self.fail(
                    f"{key}[{i}]", f"expected a phrase of 1..{MAX_PHRASE_CHARS} characters, got {phrase!r}"
                )
            out.append(cleaned)
        return tuple(dict.fromkeys(out))

    def condition(self, table: dict, key: str) -> Condition | None:
        if key not in table:
            return None
        value = table[key]
        parts = split_condition(value) if isinstance(value, str) else None
        if parts is None:
            raise self.fail(key, f"bad condition {value!r} ({CONDITION_GRAMMAR})")
        return Condition(*parts, f"{self.where}.{key}")


def parse_criterion(table: object, index: int, source: str) -> Criterion:
    """One ``[[criteria]]`` table as a Criterion; raises FormError naming the criterion and the key."""
    where = f"criteria[{index}]"
    if not isinstance(table, dict):
        raise FormError(f"{source}: {where}: expected a table, got {type(table).__name__}")
    raw_id = table.get("id")
    if isinstance(raw_id, str) and raw_id:
        where = f"criteria[{index}] ({raw_id})"
    c = _Checker(source, where)
    for key in table:
        if key not in CRITERION_KEYS:
            raise c.fail(key, f"unknown key (allowed: {', '.join(CRITERION_KEYS)})")
    cid = c.text(table, "id")
    if not CRITERION_ID.match(cid):
        raise c.fail("id", f"{cid!r} must match {CRITERION_ID.pattern}")
    kinds = [k for k in KIND_KEYS if k in table]
    if len(kinds) != 1:
        raise c.fail(
            kinds[1] if len(kinds) > 1 else "",
            f"needs exactly one of {', '.join(KIND_KEYS)} (got {kinds or 'none'})",
        )
    role = c.text(table, "role", ROLE_AGENT)
    if role not in QA_ROLES:
        raise c.fail("role", f"unknown role {role!r} (known: {', '.join(QA_ROLES)})")
    windows = {k: c.number(table, k, None, positive=True) for k in ("within_first_s", "within_last_s")}
    if kinds[0] == "when" and any(v is not None for v in windows.values()):
        raise c.fail(
            next(k for k, v in windows.items() if v is not None),
            "a window applies to phrases only, not to `when`",
        )
    auto_fail = table.get("auto_fail", False)
    if not isinstance(auto_fail, bool):
        raise c.fail("auto_fail", f"expected true or false, got {auto_fail!r}")
    return Criterion(
        id=cid,
        label=c.text(table, "label", cid).strip() or cid,
        weight=c.number(table, "weight", DEFAULT_WEIGHT, positive=True),
        role=role,
        say_any=c.phrases(table, "say_any"),
        say_none=c.phrases(table, "say_none"),
        within_first_s=windows["within_first_s"],
        within_last_s=windows["within_last_s"],
        when=c.condition(table, "when"),
        applies_when=c.condition(table, "applies_when"),
        auto_fail=auto_fail,
    )


def _check_columns(criteria: list[Criterion], source: str) -> None:
    """Duplicate ids, and ids whose columns collide with another column of qa_calls.csv."""
    seen: dict[str, str] = {name: "qa_calls.csv" for name in RESERVED_COLUMNS}
    for i, cr in enumerate(criteria):
        for column in (cr.column, cr.at_column):
            if column in seen:
                what = (
                    "duplicate id"
                    if seen[column] == cr.id
                    else f"column {column} clashes with {seen[column]}"
                )
                raise FormError(f"{source}: criteria[{i}] ({cr.id}).id: {what}")
            seen[column] = cr.id


def parse_form(data: dict, source: str) -> QAForm:
    """A QAForm from parsed TOML; raises FormError naming the file, the criterion and the key."""
    for key in data:
        if key not in FORM_KEYS:
            raise FormError(f"{source}: {key}: unknown key (allowed: {', '.join(FORM_KEYS)})")
    tables = data.get("criteria")
    if not isinstance(tables, list) or not tables:
        raise FormError(f"{source}: criteria: a form needs at least one [[criteria]] table")
    criteria = [parse_criterion(t, i, source) for i, t in enumerate(tables)]
    _check_columns(criteria, source)
    top = _Checker(source, "form")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise FormError(f"{source}: name: expected a string, got {name!r}")
    fail_below = top.number(data, "fail_below", DEFAULT_FAIL_BELOW)
    if fail_below > 100:
        raise FormError(f"{source}: fail_below: must be between 0 and 100, got {fail_below:g}")
    return QAForm(tuple(criteria), source, name, fail_below)


def load_form(path: Path | None = None) -> QAForm:
    """The form at `path`, or the default Chinese form shipped in the wheel (`path` None)."""
    path = Path(path) if path is not None else default_qa_form_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise FormError(f"{path}: cannot read the QA form: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise FormError(f"{path}: the QA form is not UTF-8 text") from e
    except tomllib.TOMLDecodeError as e:
        raise FormError(f"{path}: not valid TOML: {e}") from e
    return parse_form(data, path.name if path == default_qa_form_path() else str(path))
