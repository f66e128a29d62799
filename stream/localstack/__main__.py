"""`python -m stream.localstack up|down|status`."""
import sys

from .manager import main

sys.exit(main())
