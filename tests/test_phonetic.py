"""Phonetic matcher: syllables, the committed cost table (loads, validates, names bad rows), distance."""

from __future__ import annotations

import pytest

from speechchurn.errors import ConfigError
from speechchurn.text import phonetic
from speechchurn.text.phonetic import Syllable


@pytest.mark.parametrize(
    ("toned", "expected"),
    [
        ("xian4", Syllable("x", "ian", "4")),
        ("zhuan3", Syllable("zh", "uan", "3")),
        ("an1", Syllable("", "an", "1")),
        ("ma5", Syllable("m", "a", "5")),
        ("yi4", Syllable("y", "i", "4")),
        ("lv4", Syllable("l", "v", "4")),
    ],
)
def test_parse_syllable(toned, expected):
    assert phonetic.parse_syllable(toned) == expected


def test_syllables_one_per_character():
    syl = phonetic.syllables("写好A转网1")
    assert len(syl) == 6
    assert syl[2] is None and syl[5] is None
    assert syl[0] == Syllable("x", "ie", "3")


def test_committed_cost_table_loads_and_is_sane():
    rows = phonetic.read_cost_rows()
    assert len(rows) >= 20
    assert {r.kind for r in rows} == set(phonetic.KINDS)
    assert all(0.0 <= r.cost <= 1.0 and r.count >= 1 for r in rows)
    table = phonetic.load_cost_table()
    assert table.part(phonetic.TONE, "2", "2") == 0.0
    assert 0 < table.part(phonetic.TONE, "2", "3") < phonetic.UNSEEN_COST


HEADER = "kind\tspoken\theard\tcost\tcount\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tone\t2\t3\t0.5\t4\nvowel\ta\to\t0.5\t1\n", "row 3: kind 'vowel'"),
        ("initial\tzh\tzh\t0.5\t1\n", "row 2: needs two different units"),
        ("initial\tzh\tqq\t0.5\t1\n", "row 2: 'qq' is not a pinyin initial"),
        ("tone\t2\t7\t0.5\t1\n", "row 2: '7' is not a pinyin tone"),
        ("final\tan\tang\t1.5\t1\n", "row 2: cost 1.5 must lie in [0, 1]"),
        ("final\tan\tang\tcheap\t1\n", "row 2: cost and count must be numbers"),
        ("final\tan\tang\t0.5\t1\nfinal\tan\tang\t0.4\t1\n", "row 3: duplicate final an ang"),
    ],
)
def test_bad_cost_rows_are_named(tmp_path, body, message):
    path = tmp_path / "costs.tsv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"costs.tsv: {message}".replace("[", r"\[").replace("]", r"\]")):
        phonetic.read_cost_rows(path)


def test_bad_header_and_missing_file(tmp_path):
    path = tmp_path / "costs.tsv"
    path.write_text("kind\tfrom\tto\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="columns"):
        phonetic.read_cost_rows(path)
    with pytest.raises(ConfigError, match="cannot read"):
        phonetic.read_cost_rows(tmp_path / "absent.tsv")


def test_write_then_read_round_trip(tmp_path):
    rows = [phonetic.CostRow("initial", "", "h", 0.5, 2), phonetic.CostRow("tone", "3", "2", 0.25, 9)]
    path = phonetic.write_cost_table(rows, tmp_path / "costs.tsv")
    table = phonetic.load_cost_table(path)
    assert table.part(phonetic.INITIAL, "", "h") == 0.5
    assert table.part(phonetic.TONE, "3", "2") == 0.25
    assert table.part(phonetic.TONE, "2", "3") == phonetic.UNSEEN_COST


def test_edit_distance_weights():
    table = phonetic.CostTable({("tone", "4", "3"): 0.5})
    term = phonetic.syllables("携号转网")
    assert phonetic.edit_distance(term, term, table) == 0.0
    one_tone = phonetic.syllables("携好转网")  # hao4 -> hao3
    assert phonetic.edit_distance(term, one_tone, table) == 0.5
    dropped = phonetic.syllables("携转网")
    assert phonetic.edit_distance(term, dropped, table) == phonetic.INDEL_COST
