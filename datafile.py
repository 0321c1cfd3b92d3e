"""Reading the project's own YAML data files (the questionnaire, labels, word lists, the packs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# libyaml's parser where PyYAML has it: about 10× faster than the pure-Python one, the same result.
# The data files load at every start, so this is most of a command's start-up.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
