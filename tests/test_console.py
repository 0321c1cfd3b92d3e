"""The console chat, fed on stdin, as `python bot.py` runs without a Telegram token."""

import os
import subprocess
import sys

from conftest import REPO


def chat(tmp_path, lines, db="chat.db"):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / db}"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([sys.executable, str(REPO / "bot.py")], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_a_whole_conversation_ends_with_an_answer(tmp_path):
    # 通化, safe, 11 years old, local 户籍, both parents in prison for 3 years and 40 months
    out = chat(tmp_path, ["1", "通化", "1", "11岁", "都在坐牢", "3年", "40个月"] + ["不确定"] * 20 + ["1"])
    assert out.returncode == 0, out.stderr
    assert "监护困境儿童" in out.stdout
    assert "服刑" in out.stdout  # the documents name the prison proof


def test_bad_answers_are_explained_and_lose_nothing(tmp_path):
    out = chat(tmp_path, ["1", "温岭", "99", "1", "很小", "八岁"])
    assert out.returncode == 0, out.stderr
    assert "没看懂这个回答" in out.stdout and "没看懂孩子的年龄" in out.stdout
    assert out.stdout.count("孩子家里有没有下面这些情况") == 1  # reached after 八岁 was understood
    assert "孩子的户口就在这个地方吗" not in out.stdout  # 温岭 was typed where the 户口 is


def test_a_danger_word_comes_first_with_110(tmp_path):
    out = chat(tmp_path, ["1", "温岭", "1", "他爸喝了酒就打我孙子", "1"])
    assert "110" in out.stdout
    assert out.stdout.index("110") < out.stdout.index("孩子遭受虐待") < out.stdout.rindex("孩子多大了")


def test_restart_of_the_process_loses_no_answer(tmp_path):
    chat(tmp_path, ["1", "温岭", "1"], db="same.db")  # stdin ends: the process exits mid-questionnaire
    out = chat(tmp_path, ["8岁"], db="same.db")
    assert "孩子家里有没有下面这些情况" in out.stdout  # went on after the age, nothing asked twice
    assert "孩子的户口在哪个地方" not in out.stdout
