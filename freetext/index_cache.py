"""The free-text index on disk, so a process answers its first question at once (issue 15, issue 12 item 5).

Building the index (freetext/matcher.py: every question variant and knowledge-base item analysed,
pinyin included) takes about a second of CPU; loading it from this cache about 30 ms.

- **Where**: ``TONGZHU_CACHE_DIR``, else ``$XDG_CACHE_HOME/tongzhu``, else ``~/.cache/tongzhu``
  (made with mode 0700). Never in the repository. When the folder cannot be written the index is
  built in memory as before, and nothing fails.
- **Key**: a SHA-256 of everything the index is made from: the knowledge base's version (a hash of
  the packs and the vocabulary), the bytes of freetext/*.yaml, the source of freetext/*.py and
  zhtext/*.py, pypinyin's version and Python's. The file is ``index-<key>.pickle``: a changed pack,
  synonym or line of the matcher's code gives another key, so the index is built again and written
  under the new name. Files not used for 30 days are removed.
- **Concurrent processes**: each writes to a temporary file in the same folder and renames it into
  place (``os.replace``, atomic), so a reader sees a whole file or none; two processes building at
  once both write whole files, the last rename wins, and both hold the same content.
- **Format**: pickle of our own data (the entries, their vectors and the IDF table), in our own
  cache folder. It is read with an unpickler that only constructs classes of this project's
  free-text packages (freetext.*, zhtext.*) and ``collections.Counter``: a file put there by someone
  else cannot make the loader call anything else. A file that does not load is ignored and replaced.
- **When**: at the first use in a process (``freetext.matcher.get_index``); the bot and the web app
  ask for the index at start-up, so the first family's question does not wait; ``bot.py ask`` builds
  it on the first run after an install or a change.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FORMAT = 1  # bump when what is stored changes shape
MAX_AGE_DAYS = 30
ALLOWED_MODULES = ("freetext.", "zhtext.")
ALLOWED_GLOBALS = {("collections", "Counter")}


def cache_dir() -> Path:
    from settings import get_settings

    configured = get_settings().tongzhu_cache_dir
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tongzhu"


def data_key(kb_version: str) -> str:
    """The hash of everything the index is made from (see the module docstring)."""
    digest = hashlib.sha256(f"format {FORMAT}; python {sys.version_info[:2]}; kb {kb_version}".encode())
    try:
        from importlib.metadata import version

        digest.update(f"pypinyin {version('pypinyin')}".encode())
    except Exception:  # noqa: BLE001 - no metadata: the sources below still key the cache
        pass
    for folder, patterns in ((HERE, ("*.py", "*.yaml")), (ROOT / "zhtext", ("*.py", "*.yaml"))):
        for pattern in patterns:
            for path in sorted(folder.glob(pattern)):
                digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(ALLOWED_MODULES) or (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the index cache")


def _read(path: Path) -> Any | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except Exception as exc:  # noqa: BLE001 - a broken or foreign file is rebuilt, never trusted
        log.warning("free-text index cache %s not usable (%s): building it again", path, exc)
        return None


def _write(folder: Path, path: Path, value: Any) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("free-text index cache not written to %s (%s): it is built in each process", folder, exc)
        return
    _prune(folder, keep=path)


def _prune(folder: Path, keep: Path) -> None:
    """Remove index files (and stray temporary files) nobody used for MAX_AGE_DAYS."""
    cutoff = time.time() - MAX_AGE_DAYS * 86400
    for old in [*folder.glob("index-*.pickle"), *folder.glob(".index-*.tmp")]:
        try:
            if old != keep and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def load_or_build(kb_version: str, build: Callable[[], Any]) -> Any:
    """The cached value for this knowledge base and code, else ``build()`` (then stored)."""
    try:
        folder = cache_dir()
        path = folder / f"index-{data_key(kb_version)}.pickle"
    except OSError as exc:  # no home folder, unreadable sources …
        log.warning("free-text index cache unavailable (%s)", exc)
        return build()
    value = _read(path)
    if value is not None:
        try:
            os.utime(path)  # in use: keep it from being pruned
        except OSError:
            pass
        return value
    value = build()
    _write(folder, path, value)
    return value
