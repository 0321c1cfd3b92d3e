import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from policy_kb.check import shared_dir  # noqa: E402

SHARED = shared_dir()


@pytest.fixture(autouse=True)
def _fresh_data_keys():
    """storage/crypto.py reads the data key once per process: a test that sets TONGZHU_DATA_KEY gets it."""
    from storage import crypto

    crypto.reset_keys()
    yield
    crypto.reset_keys()


def needs_shared():
    return pytest.mark.skipif(SHARED is None, reason="../shared (policy texts and personas) is not beside the repository")


def entitlement_text(result: dict) -> str:
    parts = []
    for e in result["entitlements"]:
        parts += [e["name"], e["detail"]]
        if e.get("amount"):
            parts.append(e["amount"]["text"])
    return "\n".join(parts)


def document_text(result: dict) -> str:
    return "\n".join(d["name"] + " " + d["detail"] for d in result["documents"])


def dump(result: dict) -> str:
    return json.dumps(result, ensure_ascii=False)
