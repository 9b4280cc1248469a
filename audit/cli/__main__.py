"""``python -m mia_audit.cli``: the same command line as ``mia-audit``."""

import sys

from .commands import main

sys.exit(main())
