"""Input hygiene: control characters never reach the engine or the database, long messages are cut
as Telegram counts (UTF-16 units) and never inside an HTML entity, and every CLI command answers bad
input with one line and exit code 2."""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import sys

import pytest

from conftest import REPO
from e2e.pg import pg_schema  # noqa: F401  (a fixture: a fresh PostgreSQL schema per test)
from storage.hygiene import clean_text
from templates import split_message, units
from tg import Harness, file_case


def test_control_characters_are_stripped_and_line_breaks_kept():
    assert clean_text("王\x00小\x07明\u202e") == "王小明"
    assert clean_text("第一行\r\n第二行\t!") == "第一行\n第二行\t!"
    assert clean_text(None) == "" and clean_text("\ud800好") == "好"


@pytest.mark.parametrize("text", ["😀" * 2000 + "\n" + "😀" * 2100, html.escape("<" * 2000), "好" * 9000,
                                  "a\n\n" * 3000, "&amp;" * 1500 + "😀" * 3000])
def test_long_messages_are_cut_in_utf16_units_and_never_inside_an_entity(text):
    parts = split_message(text)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    for part in parts:
        assert 0 < units(part) <= 4096
        assert "&" not in re.sub(r"&#?\w+;", "", part), f"an entity cut in two: …{part[-6:]}"


def run(*args, stdin: bytes | None = None):
    return subprocess.run([sys.executable, str(REPO / "bot.py"), *args], input=stdin, capture_output=True,
                          timeout=120, cwd=REPO)


@pytest.mark.parametrize("content", [b"\xff\xfe{\x00}", b"[" * 100_000, b"{" + b" " * 1_100_000 + b"}",
                                     b'{"region": "\xe6\xb8\xa9'])
def test_bad_input_files_exit_2_with_one_line(tmp_path, content):
    path = tmp_path / "facts.json"
    path.write_bytes(content)
    for command in ("screen", "simulate"):
        out = run(command, str(path))
        err = out.stderr.decode("utf-8").strip()
        assert out.returncode == 2, err
        assert "Traceback" not in err and len(err.splitlines()) == 1, err


def test_an_unknown_place_is_named_before_the_national_answer(tmp_path):
    path = tmp_path / "facts.json"
    path.write_text('{"region": "火星", "child": {"age": 9}}', encoding="utf-8")
    out = run("screen", str(path))
    assert out.returncode == 0
    first = out.stdout.decode("utf-8").splitlines()[0]
    assert "不认识“火星”" in first and "国家政策" in first
    out = run("ask", "孤儿能领多少钱", "--region", "火星")
    assert out.stdout.decode("utf-8").startswith("不认识“火星”这个地方")


def test_a_nul_in_a_name_files_on_postgresql(pg_schema):
    async def scenario():
        async with Harness(pg_schema.sa_url) as h:
            return await file_case(h, 7301, child_name="王\x00小明")
    assert asyncio.run(scenario()).startswith("TZ")
