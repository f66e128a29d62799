"""`python -m devstack up|down|status`."""

import sys

from .manager import main

sys.exit(main())
