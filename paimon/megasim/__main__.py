"""``python -m paimon.megasim``."""

import sys

from paimon.megasim.cli import main

sys.exit(main())
