"""Lexicon files: bundled content, format, --lexicons override/add, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechchurn.errors import ConfigError
from speechchurn.resources import lexicon_dir
from speechchurn.text.lexicon import DEFAULT_WEIGHT, load_lexicons, parse_lexicon_file

REQUIRED_CATEGORIES = (
    "complaint",
    "churn_intent",
    "competitor",
    "billing",
    "network",
    "praise",
    "transfer",
    "inquiry",
    "hold",
)
MIN_TERMS_PER_CATEGORY = 15

# Terms the sample call scripts use.
SCRIPT_TERMS = [
    ("complaint", "投诉"),
    ("complaint", "不满意"),
    ("complaint", "太差了"),
    ("complaint", "乱扣费"),
    ("churn_intent", "销户"),
    ("churn_intent", "携号转网"),
    ("churn_intent", "不用了"),
    ("churn_intent", "换运营商"),
    ("competitor", "联通"),
    ("competitor", "电信"),
    ("competitor", "广电"),
    ("competitor", "移动"),
    ("competitor", "中国移动"),
    ("competitor", "动感地带"),
    ("competitor", "天翼"),
    ("billing", "话费"),
    ("billing", "账单"),
    ("billing", "扣费"),
    ("billing", "套餐费"),
    ("network", "信号"),
    ("network", "网速"),
    ("network", "断网"),
    ("network", "没信号"),
    ("praise", "满意"),
    ("praise", "感谢"),
    ("praise", "服务很好"),
    ("praise", "非常好"),
    ("transfer", "转接"),
    ("transfer", "转人工"),
    ("inquiry", "查询"),
    ("inquiry", "请问"),
    ("inquiry", "流量"),
    ("inquiry", "余额"),
    ("inquiry", "套餐"),
    ("hold", "请您稍等"),
    ("hold", "请稍候"),
]


@pytest.fixture(scope="module")
def bundled():
    return load_lexicons()


@pytest.mark.parametrize("category", REQUIRED_CATEGORIES)
def test_bundled_category_has_enough_terms(bundled, category):
    terms = bundled.category(category).terms
    assert len(terms) >= MIN_TERMS_PER_CATEGORY
    assert all(t.weight > 0 and t.category == category for t in terms)


@pytest.mark.parametrize(("category", "term"), SCRIPT_TERMS)
def test_script_terms_present(bundled, category, term):
    assert term in {t.text for t in bundled.category(category).terms}


def test_bundled_folder_is_resources_lexicon_dir(bundled):
    assert {p.stem for p in lexicon_dir().glob("*.txt")} == set(bundled.names)
    assert (lexicon_dir() / "README.md").is_file()


@pytest.mark.parametrize(
    ("line", "term", "weight"),
    [
        ("投诉 2.0", "投诉", 2.0),
        ("投诉\t2.5", "投诉", 2.5),
        ("投诉", "投诉", DEFAULT_WEIGHT),
        ("  投诉   0.5  # trailing comment", "投诉", 0.5),
    ],
)
def test_line_formats(tmp_path, line, term, weight):
    path = tmp_path / "complaint.txt"
    path.write_text(f"# header comment\n\n{line}\n", encoding="utf-8")
    cat = parse_lexicon_file(path)
    assert [(t.text, t.weight) for t in cat.terms] == [(term, weight)]


def test_override_replaces_and_new_file_adds(tmp_path, bundled):
    (tmp_path / "competitor.txt").write_text("某某通信 1.5\n", encoding="utf-8")
    (tmp_path / "retention.txt").write_text("挽留\n优惠 0.5\n", encoding="utf-8")
    lex = load_lexicons(tmp_path)
    assert [t.text for t in lex.category("competitor").terms] == ["某某通信"]
    assert [t.text for t in lex.category("retention").terms] == ["挽留", "优惠"]
    assert lex.category("complaint") == bundled.category("complaint")
    assert set(lex.names) == set(bundled.names) | {"retention"}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("complaint.txt", "投诉 2.0\n销户 abc\n", ":2"),
        ("complaint.txt", "投诉 -1\n", ":1"),
        ("complaint.txt", "投诉 nan\n", ":1"),
        ("complaint.txt", "好\n投诉 1.0 extra\n", ":2"),
        ("complaint.txt", "# only a comment\n\n", "no terms"),
        ("complaint.txt", "", "no terms"),
        ("Bad-Name.txt", "投诉\n", "category name"),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path, name, content, expected):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_lexicons(tmp_path)
    assert name in str(err.value)
    assert expected in str(err.value)


def test_non_utf8_file_is_config_error(tmp_path):
    (tmp_path / "complaint.txt").write_bytes("投诉\n".encode() + "销户\n".encode("gbk"))
    with pytest.raises(ConfigError, match=r"complaint\.txt:2"):
        load_lexicons(tmp_path)


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p])
def test_bad_extra_dir(tmp_path, make):
    with pytest.raises(ConfigError, match=str(make(tmp_path)).replace("\\", "\\\\")):
        load_lexicons(make(tmp_path))


def test_unreadable_file_is_config_error(tmp_path):
    (tmp_path / "complaint.txt").mkdir()  # a folder named like a lexicon: skipped, so no files left
    with pytest.raises(ConfigError):
        load_lexicons(tmp_path)
    with pytest.raises(ConfigError, match="complaint.txt"):
        parse_lexicon_file(Path(tmp_path / "complaint.txt"))
