"""`python -m stream COMMAND`: the stream's commands (stream/commands.py)."""

import sys

from .commands import main

sys.exit(main())
