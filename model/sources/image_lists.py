"""Image posts from lists of (image URL, text, tags, label) — the form in which Flickr Emotion (You et al., 2016) and
VSO (Borth et al., 2013) are distributed — as manifest rows with local images.

Each image is fetched once, through the worker's guarded fetcher (same address checks, timeouts, byte cap, decoding),
and stored in `<out>/images/` already resized for the model, so a user who has those lists reproduces section 4 of
the paper. A failed image keeps the row's other modalities (and is counted)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from core.images import FetchLimits, ImageFetcher, ImageFetchError

__all__ = ["ImageList"]


class ImageList:
    name = "image-list"

    def __init__(
        self, table, out: Path, size: int = 224, concurrency: int = 16, allow_loopback: bool = False, rules=None
    ):
        """`table`: a tabular.Table whose image column holds URLs (the rows it yields are completed here); `rules`:
        the paper's data rules (rules.PaperRules), applied before any image is fetched (None: every row as is)."""
        self.table, self.out, self.size, self.concurrency = table, Path(out), size, concurrency
        self.allow_loopback, self.rules = allow_loopback, rules
        self.failed = Counter()  # reason -> images

    def rows(self) -> Iterator[dict]:
        rows = list(self.table.rows())
        if self.rules is not None:
            rows = self.rules.apply(rows)
        asyncio.run(self._fetch_all(rows))
        yield from rows

    async def _fetch_all(self, rows: list[dict]) -> None:
        (self.out / "images").mkdir(parents=True, exist_ok=True)
        fetcher = ImageFetcher(FetchLimits(concurrency=self.concurrency, allow_loopback=self.allow_loopback), self.size)
        sem = asyncio.Semaphore(self.concurrency)

        async def one(row: dict) -> None:
            url = row.get("image")
            if not url or not str(url).startswith(("http://", "https://")):
                return
            name = f"images/{hashlib.sha256(url.encode()).hexdigest()[:20]}.jpg"
            if not (self.out / name).exists():
                async with sem:
                    try:
                        pixels = await fetcher.fetch(url)
                    except ImageFetchError as e:
                        self.failed[e.reason] += 1
                        row.pop("image")
                        return
                Image.fromarray(pixels).save(self.out / name, quality=95)
            row["image"] = name

        async with fetcher:
            await asyncio.gather(*(one(r) for r in rows))
