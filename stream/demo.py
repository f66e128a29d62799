"""`emostream demo`: the main job on the local stack, from nothing to labelled posts."""
from __future__ import annotations

import argparse

from .localstack import StackConfig, StackError, status, up


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream demo", description=__doc__)
    ap.parse_args(argv)
    cfg = StackConfig()
    try:
        up(cfg, log=print)
    except StackError as e:
        print(f"error: {e}")
        return 1
    for st in status(cfg):
        print(st.line())
    return 0
