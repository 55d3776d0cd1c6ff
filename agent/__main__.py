"""`python -m agent` runs the `tiebreak` command."""

import sys

from agent.cli import main

sys.exit(main())
