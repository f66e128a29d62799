"""`emostream data goemotions|table|image-list --out DIR`: DIR/manifest.jsonl (+ summary.json) from a source."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from core.manifest import write_manifest

from .goemotions import DownloadError, locate
from .image_lists import ImageList
from .rules import PaperRules
from .tabular import Columns, Table, parse_label_map


def _table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", type=Path, required=True, help="CSV, TSV or JSONL")
    p.add_argument("--label-col", required=True)
    p.add_argument(
        "--label-map", help="raw=label pairs, e.g. '0=negative,4=positive' (labels: the 8 emotions, positive, negative)"
    )
    for col in ("text", "tags", "image", "id", "split", "votes"):
        p.add_argument(f"--{col}-col")
    p.add_argument("--delimiter", help="default: tab for .tsv, comma otherwise")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream data", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="source", required=True)
    g = sub.add_parser("goemotions", help="GoEmotions (official splits; 27 categories mapped, docs/DATA.md)")
    g.add_argument(
        "--dir",
        type=Path,
        help="folder with train/dev/test.tsv and labels.txt (default: ../shared/data/goemotions when it is there, "
        "else the official files, downloaded once into OUT/raw, sha256-verified; mirror: EMOSTREAM_GOEMOTIONS_URL)",
    )
    g.add_argument("--download", action="store_true", help="download the official files even when a folder is there")
    _table_args(sub.add_parser("table", help="any CSV / TSV / JSONL with a column mapping"))
    il = sub.add_parser(
        "image-list", help="image URL + text + tags + label lists (Flickr Emotion, VSO); images fetched once"
    )
    _table_args(il)
    il.add_argument("--image-size", type=int, default=224)
    rules = il.add_argument_group("the paper's data rules (section 4.1; model/sources/rules.py), on by default")
    rules.add_argument("--no-paper-rules", action="store_true", help="keep every row as the table has it")
    rules.add_argument("--languages", nargs="*", default=["en"], help="texts in other languages are dropped")
    rules.add_argument("--text-words", type=int, nargs=2, default=[5, 150], metavar=("MIN", "MAX"))
    rules.add_argument("--min-votes", type=int, default=3, help="rows with fewer votes are removed (--votes-col)")
    rules.add_argument("--eval-votes", type=int, default=5, help="val/test only from rows with this many votes")
    for p in (g, *sub.choices.values()):
        if not any(a.dest == "out" for a in p._actions):
            p.add_argument("--out", type=Path, required=True, help="folder for manifest.jsonl")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.source == "goemotions":
        try:
            source = locate(args.dir, args.out / "raw", args.download)
        except DownloadError as e:
            print(f"emostream data goemotions: error: {e}", file=sys.stderr)
            return 1
    else:
        cols = Columns(
            args.label_col,
            args.text_col,
            args.tags_col,
            args.image_col,
            args.id_col,
            args.split_col,
            parse_label_map(args.label_map),
            args.votes_col,
        )
        source = Table(args.file, cols, args.delimiter)
        if args.source == "image-list":
            source = ImageList(source, args.out, size=args.image_size)
    rows = list(source.rows())
    applied = {}
    if args.source == "image-list" and not args.no_paper_rules:
        paper = PaperRules(tuple(args.languages) or None, tuple(args.text_words), args.min_votes, args.eval_votes)
        rows = paper.apply(rows)
        applied = dict(paper.applied)
    write_manifest(args.out / "manifest.jsonl", rows)
    summary = {
        "source": source.name,
        "rows": len(rows),
        "by_split": dict(Counter(r.get("split") or "unassigned" for r in rows)),
        "emotion": dict(Counter(r["emotion"] for r in rows if r.get("emotion"))),
        "sentiment": dict(Counter(r["sentiment"] for r in rows if r.get("sentiment"))),
        "neutral": dict(Counter(str(r["neutral"]).lower() for r in rows if "neutral" in r)),
        "skipped": dict(getattr(source, "skipped", {}) or getattr(getattr(source, "table", None), "skipped", {})),
        "failed_images": dict(getattr(source, "failed", {})),
        "paper_rules": applied,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"manifest: {args.out / 'manifest.jsonl'}")
    return 0
