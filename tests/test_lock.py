"""The lock files pin every dependency of pyproject.toml (and the [test] extra), each with hashes:
a dependency added without regenerating them (README: "Dependencies are pinned") fails here."""

from __future__ import annotations

import re
import tomllib

from conftest import REPO


def pins(name: str) -> dict[str, str]:
    text = (REPO / name).read_text(encoding="utf-8")
    found = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, flags=re.M))
    blocks = re.split(r"^(?=[A-Za-z0-9_.\-]+==)", text, flags=re.M)[1:]
    assert all("--hash=sha256:" in b for b in blocks), f"{name}: a pin without a hash"
    return {normal(k): v for k, v in found.items()}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return normal(re.match(r"[A-Za-z0-9_.\-]+", spec).group(0))


def test_every_dependency_is_pinned_with_hashes_in_the_lock_files():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    for spec in project["dependencies"]:
        assert requirement_name(spec) in runtime, f"{spec} is not in requirements.lock: regenerate it"
        assert requirement_name(spec) in test, f"{spec} is not in requirements-test.lock: regenerate it"
    for spec in project["optional-dependencies"]["test"]:
        assert requirement_name(spec) in test, f"{spec} is not in requirements-test.lock: regenerate it"
    assert test["wechatpy"] == "2.0.0a26"
    for name, version in runtime.items():
        assert test.get(name) == version, f"{name}: {version} at run time but {test.get(name)} in the tests"
