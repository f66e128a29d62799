"""The three modalities and their seven non-empty combinations, one classifier head each (paper section 3.1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

__all__ = ["MODALITIES", "Combo", "COMBOS", "COMBO_NAMES", "TRIMODAL"]

MODALITIES: tuple[str, ...] = ("image", "text", "tags")
_PAPER = {"image": "I", "text": "T", "tags": "#"}


@dataclass(frozen=True, order=True)
class Combo:
    """A non-empty set of modalities in MODALITIES order; `name` ('image_text') names its head and its ensemble."""

    modalities: tuple[str, ...]

    def __post_init__(self):
        if not self.modalities:
            raise ValueError("a combination needs at least one modality")
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; expected some of {MODALITIES}")
        ordered = tuple(m for m in MODALITIES if m in self.modalities)
        if ordered != self.modalities:
            object.__setattr__(self, "modalities", ordered)

    @classmethod
    def of(cls, modalities: Iterable[str]) -> Combo:
        """The combination of these modalities, in any order; ValueError when empty or unknown."""
        return cls(tuple(dict.fromkeys(modalities)))

    @classmethod
    def parse(cls, name: str) -> Combo:
        """'image_text' -> Combo(('image', 'text')); ValueError for anything that is not one of the seven names."""
        combo = cls.of(name.split("_")) if name else None
        if combo is None or combo.name != name:
            raise ValueError(f"{name!r} is not a modality combination; expected one of {COMBO_NAMES}")
        return combo

    @property
    def name(self) -> str:
        return "_".join(self.modalities)

    @property
    def paper(self) -> str:
        """The paper's row name: 'I', 'T', '#', 'I+T', ..., 'I+T+#'."""
        return "+".join(_PAPER[m] for m in self.modalities)

    @property
    def has_image(self) -> bool:
        return "image" in self.modalities

    def __contains__(self, modality: str) -> bool:
        return modality in self.modalities

    def __iter__(self):
        return iter(self.modalities)

    def __len__(self) -> int:
        return len(self.modalities)

    def subsets(self) -> tuple[Combo, ...]:
        """Every non-empty sub-combination, largest first (the fallback order for heads not trained)."""
        return tuple(Combo(c) for k in range(len(self), 0, -1) for c in combinations(self.modalities, k))

    def __str__(self) -> str:
        return self.name


# Unimodal first, then bimodal, then trimodal: the paper's table order.
COMBOS: tuple[Combo, ...] = tuple(Combo(c) for k in (1, 2, 3) for c in combinations(MODALITIES, k))
COMBO_NAMES: tuple[str, ...] = tuple(c.name for c in COMBOS)
TRIMODAL = COMBOS[-1]
