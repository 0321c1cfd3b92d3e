"""The free-text index cache (freetext/index_cache.py): built once, then loaded by every process;
rebuilt when what it is made from changes; a broken or foreign file is never trusted."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from freetext import index_cache

REPO = Path(__file__).resolve().parent.parent
QUESTION = "孤儿每个月能领多少钱"


def ask(cache: Path, question: str = QUESTION) -> dict:
    env = {**os.environ, "TONGZHU_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "bot.py", "ask", question, "--region", "温岭", "--json"], cwd=REPO,
                          env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)


class Evil:
    """Unpickling this would create a file: the cache's loader must refuse it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_second_process_answers_the_same_from_the_cache_file(tmp_path):
    cache = tmp_path / "cache"
    first = ask(cache)
    files = list(cache.glob("index-*.pickle"))
    assert len(files) == 1, "the first process wrote the index"
    assert oct(cache.stat().st_mode & 0o777) == "0o700", "the cache folder is the user's own"
    assert ask(cache) == first  # same answers, with their sources, from the loaded index
    assert list(cache.glob("index-*.pickle")) == files, "loaded, not written under another name"
    assert not list(cache.glob(".index-*.tmp")), "no temporary file left behind"
    assert first["answers"] and "孤儿" in first["answers"][0]["title"]


def test_a_file_that_would_run_code_is_refused_and_replaced(tmp_path):
    cache = tmp_path / "cache"
    good = ask(cache)
    [path] = cache.glob("index-*.pickle")
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(Evil(str(marker))))
    assert ask(cache) == good
    assert not marker.exists(), "the foreign pickle was not executed"
    assert index_cache._read(path) is not None, "the file was rebuilt with the real index"

    path.write_bytes(b"not a pickle at all")  # a broken file (a crash mid-write elsewhere, a full disk)
    assert ask(cache) == good


def test_the_cache_is_rebuilt_when_its_data_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("TONGZHU_CACHE_DIR", str(tmp_path))
    builds = []

    def build(tag):
        def make():
            builds.append(tag)
            return {"entries": [tag]}
        return make

    assert index_cache.load_or_build("kb-1", build("one")) == {"entries": ["one"]}
    assert index_cache.load_or_build("kb-1", build("again")) == {"entries": ["one"]}, "loaded, not rebuilt"
    assert index_cache.load_or_build("kb-2", build("two")) == {"entries": ["two"]}, "another knowledge base"
    assert builds == ["one", "two"]
    assert len(list(tmp_path.glob("index-*.pickle"))) == 2


def test_no_cache_folder_to_write_still_answers(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setenv("TONGZHU_CACHE_DIR", str(blocked / "cache"))
    assert index_cache.load_or_build("kb-1", lambda: [1, 2, 3]) == [1, 2, 3]
