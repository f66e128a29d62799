"""Local development stack: genuine Kafka (KRaft), Redis and Triton on 127.0.0.1, installed on first use.

`emostream stack up|down|status` drives it; tests/conftest.py uses the same functions.
"""

from .config import StackConfig
from .manager import StackError, down, status, up
from .service import Service

__all__ = ["StackConfig", "StackError", "Service", "up", "down", "status"]
