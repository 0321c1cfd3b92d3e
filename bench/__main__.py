"""python -m bench --users 200 [--db sqlite|postgres] [--json] — see bench/run.py."""

import sys

from bench.run import main

sys.exit(main())
