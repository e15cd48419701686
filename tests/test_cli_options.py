"""cli/options.py: -v/-q logging levels, the one library-error mapping, option checks."""

from __future__ import annotations

import logging

import pytest
import typer

from speechchurn.cli import options
from speechchurn.errors import ConfigError, ManifestError, SpeechchurnError, StoreError

THIRD_PARTY = ("faster_whisper", "distributed", "urllib3", "jieba")


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logging.getLogger(options.LOGGER).setLevel(logging.NOTSET)
    logging.getLogger("distributed").setLevel(logging.NOTSET)
    logging.basicConfig(level=logging.WARNING, force=True)


@pytest.mark.parametrize(
    ("verbose", "quiet", "ours", "theirs"),
    [
        (True, False, logging.DEBUG, logging.WARNING),  # -v: our debug lines, third-party stays quiet
        (False, False, logging.WARNING, logging.WARNING),
        (False, True, logging.ERROR, logging.ERROR),  # -q: errors only
    ],
)
def test_verbose_and_quiet_levels(verbose, quiet, ours, theirs, capfd):
    logging.getLogger("distributed").setLevel(logging.INFO)  # as dask does on import
    options.setup_logging(verbose, quiet)
    assert logging.getLogger("speechchurn.batch.pipeline").getEffectiveLevel() == ours
    levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    for name in ("speechchurn", "speechchurn.batch.pipeline", *THIRD_PARTY):
        for level in levels:
            logging.getLogger(name).log(level, "%s at %s", name, logging.getLevelName(level))
    err = capfd.readouterr().err
    for level in levels:
        name = logging.getLevelName(level)
        assert (f"speechchurn.batch.pipeline at {name}" in err) == (level >= ours), name
        for other in THIRD_PARTY:
            assert (f"{other} at {name}" in err) == (level >= theirs), (other, name)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("rules.toml: bad key"), options.EXIT_USAGE),
        (ManifestError("manifest.csv: row 3"), options.EXIT_USAGE),
        (StoreError("no store"), options.EXIT_ERROR),
        (SpeechchurnError("anything else"), options.EXIT_ERROR),
    ],
)
def test_library_errors_map_to_one_line_and_exit_code(error, code, capsys):
    with pytest.raises(typer.Exit) as exited, options.library_errors():
        raise error
    assert exited.value.exit_code == code
    assert capsys.readouterr().err == f"error: {error}\n"


@pytest.mark.parametrize(
    ("parser", "value", "message"),
    [
        (options.parse_engine, "kaldi", "unknown engine"),
        (options.parse_executor, "slurm", "--executor"),
        (options.parse_date, "2026-13-40", "YYYY-MM-DD"),
        (options.parse_timezone, "Mars/Olympus", "unknown timezone"),
        (options.parse_channels, "left,right", "--channels"),
        (options.parse_channel_select, "1,1", "different"),
        (options.parse_channel_select, "a,b", "--channel-select"),
    ],
)
def test_bad_option_values_are_usage_errors(parser, value, message):
    with pytest.raises(typer.BadParameter, match=message):
        parser(value)


def test_good_option_values_pass():
    assert options.parse_engine("openai-whisper") == "openai-whisper"
    assert options.parse_timezone("Asia/Shanghai") == "Asia/Shanghai"
    assert options.channel_select_pair("0,2") == (0, 2)
    assert str(options.parse_date("2026-11-30")) == "2026-11-30"
