"""The wheel carries lexicons, default rules and the sentiment model; a non-editable install finds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (
    "speechchurn/data/default_rules.toml",
    "speechchurn/data/role_cues.toml",
    "speechchurn/data/sentiment_callcenter.marshal.3",
    "speechchurn/data/lexicons/README.md",
    "speechchurn/data/lexicons/complaint.txt",
    "speechchurn/data/lexicons/churn_intent.txt",
    "speechchurn/data/lexicons/transfer.txt",
    "speechchurn/report/templates/report.html.j2",
    "speechchurn/report/templates/base.html.j2",
    "speechchurn/report/static/report.css",
    "speechchurn/report/static/report.js",
    "speechchurn/app/templates/base.html.j2",
    "speechchurn/app/templates/call.html.j2",
    "speechchurn/app/static/desk.js",
    "speechchurn/app/static/desk.css",
)
PROBE = """
import json, speechchurn
from speechchurn.resources import lexicon_dir, default_rules_path
from speechchurn.text.lexicon import load_lexicons
from speechchurn.customers.grading import load_rules
from speechchurn.text.sentiment import score_texts
print(json.dumps({"package": speechchurn.__file__, "lexicons": str(lexicon_dir()),
                  "categories": list(load_lexicons().names), "rules": str(default_rules_path()),
                  "tiers": [t.name for t in load_rules().tiers],
                  "score": score_texts(["服务太差了，我要投诉"])[0]}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("speechchurn-*.whl"))


def test_wheel_contains_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in SHIPPED if name not in names]
    assert not missing
    assert "speechchurn/cli/main.py" in names


def test_non_editable_install_finds_its_data(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, check=True, capture_output=True, text=True
    )
    found = json.loads(probe.stdout)
    assert found["package"].startswith(str(site))
    assert found["lexicons"].startswith(str(site)) and found["rules"].startswith(str(site))
    assert {"complaint", "churn_intent", "competitor", "transfer"} <= set(found["categories"])
    assert found["tiers"][:2] == ["silent", "VIP"]
    assert found["score"] < 0.5
    script = site / "bin" / "speechchurn"
    assert script.is_file()
