"""python -m paimon ..."""

import sys

from paimon.cli import main

sys.exit(main())
