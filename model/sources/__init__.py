"""Real data sources turned into training manifests (docs/DATA.md): one interface, `Source.rows()`, yielding manifest
rows ({"id", "text", "tags", "image", "emotion", "sentiment", "split"}), and `emostream data <source>` to write them.

- `goemotions`: GoEmotions (Demszky et al., 2020), 27 categories mapped to the 8 emotions + sentiment (goemotions.py)
- `table`: any CSV / TSV / JSONL with a column mapping (tabular.py)
- `image-list`: lists of image URL + text + tags + label, as Flickr Emotion and VSO publish them; images fetched once
  through the worker's guarded fetcher into a local cache (image_lists.py)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

__all__ = ["Source"]


class Source(Protocol):
    """A dataset that can be read as manifest rows."""

    name: str

    def rows(self) -> Iterator[dict]:
        """Manifest rows; a row without any label is not yielded (the source counts it in `skipped`)."""
