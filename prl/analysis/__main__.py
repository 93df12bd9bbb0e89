"""``python -m prl.analysis DIR...`` (see :mod:`prl.analysis.cli`)."""

import sys

from prl.analysis.cli import main

sys.exit(main())
