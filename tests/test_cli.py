"""`python bot.py screen` and `kb check` as a volunteer runs them: real subprocesses."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED, needs_shared

BOT = [sys.executable, str(REPO / "bot.py")]


def run(*args, stdin=None):
    return subprocess.run([*BOT, *args], capture_output=True, text=True, input=stdin, cwd=REPO,
                          timeout=120)


def write(tmp_path, facts, name="facts.json"):
    path = tmp_path / name
    path.write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "facts,key",
    [
        ({"region": "温岭", "child": {"age": -3}}, "child.age"),
        ({"region": "温岭", "child": {"age": "8"}}, "child.age"),
        ({"region": "温岭", "child": {"disability": {"grade": 7, "kind": "肢体"}}}, "child.disability.grade"),
        ({"region": "温岭", "child": {"disability": {"grade": 2, "kind": "腿"}}}, "child.disability.kind"),
        ({"region": "温岭" * 2500}, "region"),
        ({"region": "温岭", "child": {"favourite_colour": "red"}}, "child.favourite_colour"),
        ({"region": "温岭", "pets": 2}, "pets"),
        ({"region": "温岭", "household": {"dibao": "yes"}}, "household.dibao"),
        ({"region": "温岭", "father": {"situations": ["on_holiday"]}}, "father.situations.0"),
        ({"child": {"age": 3}}, "region"),
    ],
)
def test_bad_input_exits_nonzero_naming_the_key(tmp_path, facts, key):
    out = run("screen", write(tmp_path, facts))
    assert out.returncode == 2
    assert key in out.stderr
    assert "Traceback" not in out.stderr


def test_broken_json_is_explained(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{region: 温岭", encoding="utf-8")
    out = run("screen", str(path))
    assert out.returncode != 0 and "JSON" in out.stderr and "Traceback" not in out.stderr


def test_screen_json_follows_the_contract(tmp_path):
    out = run("screen", write(tmp_path, {"region": "杭州市", "child": {"age": 8, "hukou_local": True},
                                          "household": {"dibao": True}}), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    for key in ("region", "urgent", "categories", "entitlements", "documents", "missing_facts", "notes"):
        assert key in result
    assert result["region"]["matched"] is None
    assert result["region"]["input"] == "杭州市"
    assert any("国家政策" in n for n in result["notes"])


def test_screen_text_reads_as_an_answer(tmp_path):
    out = run("screen", write(tmp_path, {"region": "杭州", "child": {"age": 6, "hukou_local": True},
                                          "safety": {"abused": True}}))
    assert out.returncode == 0, out.stderr
    assert out.stdout.index("110") < out.stdout.index("地区")  # what to do now comes first
    assert "依据" in out.stdout


def test_screen_reads_stdin():
    out = run("screen", "-", "--json", stdin=json.dumps({"region": "通化"}))
    assert out.returncode == 0, out.stderr


@needs_shared()
def test_kb_check_passes():
    out = run("kb", "check")
    assert out.returncode == 0, out.stderr
    assert "kb check: ok" in out.stdout


def check_broken_national_pack(tmp_path, old: str, new: str):
    """Run `kb check` on a copy of the packs whose national pack has `old` replaced by `new`."""
    packs = tmp_path / "packs"
    shutil.copytree(REPO / "policy_kb" / "packs", packs)
    path = packs / "national.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    out = run("kb", "check", "--packs", str(packs))
    assert out.returncode == 1
    return out.stderr


@needs_shared()
def test_kb_check_catches_an_invented_quote(tmp_path):
    err = check_broken_national_pack(tmp_path, "与当地孤儿保障标准相衔接\n", "每月发放一万元\n")
    assert "quote not found" in err and "fact_unattended_allowance" in err


def test_kb_check_names_file_and_key_of_a_broken_pack(tmp_path):
    err = check_broken_national_pack(tmp_path, "fact: child.hukou_local", "fact: child.hukou_locale")
    assert "national.yaml" in err and "child.hukou_locale" in err


def test_kb_check_catches_an_unreachable_category(tmp_path):
    line = "        - {fact: child.hiv, is: infected}"
    err = check_broken_national_pack(tmp_path, line, line + "\n        - {fact: child.hiv, is: none}")
    assert "hiv_infected" in err and "unreachable" in err


def test_kb_check_catches_a_missing_source(tmp_path):
    source = """    source:
      document: 国办发〔2010〕54号
      clause: 孤儿
      quote: 未满18周岁，失去父母、查找不到生父母，由县级以上民政部门认定
      grade: T
"""
    err = check_broken_national_pack(tmp_path, source, "")
    assert "national.yaml" in err and "source" in err
