"""The paper's data rules for image lists (model/sources/rules.py): English texts of 5-150 words, rows with at least
three votes, validation and test drawn from the five-vote rows; and the experiments' stratified fractions and
trimodal view (model/experiments.py)."""

from collections import Counter

import torch

from contracts.combos import MODALITIES
from model.data import Encoded
from model.experiments import FRACTIONS, fraction_split
from model.sources.rules import PaperRules
from model.sources.tabular import Columns, Table

ENGLISH = "what a wonderful quiet morning by the lake with friends"
FRENCH = "quelle belle matinée tranquille au bord du lac avec des amis"


def _row(i, text=ENGLISH, votes=5, image=True, **kw):
    row = {"id": str(i), "emotion": "awe", "sentiment": None, "text": text, "votes": votes, **kw}
    if image:
        row["image"] = f"http://example.org/{i}.jpg"
    return row


def test_texts_outside_the_rules_are_dropped_and_the_post_keeps_its_image():
    rules = PaperRules()
    rows = rules.apply(
        [
            _row(1),
            _row(2, "so happy"),
            _row(3, " ".join(["word"] * 151)),
            _row(4, FRENCH),
            _row(5, "ok then", image=False),
        ]
    )
    by_id = {r["id"]: r for r in rows}
    assert by_id["1"]["text"] == ENGLISH
    assert "text" not in by_id["2"] and "text" not in by_id["3"] and "text" not in by_id["4"]
    assert all("image" in by_id[i] for i in "234")
    assert "5" not in by_id  # nothing left
    assert rules.applied == Counter(
        {
            "text dropped: not 5-150 words": 3,
            "text dropped: language not en": 1,
            "removed: no modality left": 1,
        }
    )


def test_agreement_removes_weak_rows_and_val_test_come_from_five_votes_only():
    rows = [_row(i, votes=3 + i % 3) for i in range(300)] + [_row(1000 + i, votes=2) for i in range(7)]
    rules = PaperRules(seed=1)
    kept = rules.apply(rows)
    assert len(kept) == 300 and rules.applied["removed: fewer than 3 votes"] == 7
    splits = Counter(r["split"] for r in kept)
    assert splits == {"train": 240, "val": 30, "test": 30}  # 10 % / 10 % of all rows
    assert all(r["votes"] == 5 for r in kept if r["split"] != "train")


def test_a_tables_own_val_row_without_five_votes_moves_to_train():
    rows = [_row(1, votes=5, split="val"), _row(2, votes=4, split="test"), _row(3, votes=3, split="train")]
    rules = PaperRules()
    assert [r["split"] for r in rules.apply(rows)] == ["val", "train", "train"]
    assert rules.applied["moved to train: val/test row with fewer than 5 votes"] == 1


def test_the_table_reader_keeps_the_votes_column(tmp_path):
    path = tmp_path / "flickr.tsv"
    path.write_text("url\tlabel\tagree\nhttp://x/1.jpg\tawe\t4\nhttp://x/2.jpg\tfear\tmany\n")
    table = Table(path, Columns("label", image="url", votes="agree"))
    assert [r["votes"] for r in table.rows()] == [4] and table.skipped == {"votes 'many'": 1}


def _trimodal(per_class: int) -> Encoded:
    n = 8 * per_class
    labels = torch.arange(n) % 8
    z = torch.zeros(n, dtype=torch.long)
    return Encoded(
        [str(i) for i in range(n)],
        torch.ones(n, 3, dtype=torch.bool),
        z[:, None].repeat(1, 4),
        z[:, None].repeat(1, 2),
        torch.zeros(n, 2, 2, 3, dtype=torch.uint8),
        labels,
        z,
    )


def test_experiment_c_fractions_start_at_one_percent_and_every_part_is_stratified():
    assert FRACTIONS[0] == 0.01
    data = _trimodal(per_class=100)
    multi, mixed = fraction_split(data, 0.01, seed=0)
    assert Counter(multi.emotion.tolist()) == {c: 1 for c in range(8)}  # 1 % of each class
    assert int(mixed.mask.all(dim=1).sum()) == 8
    for c in range(8):
        rows = mixed.mask[(mixed.emotion == c) & ~mixed.mask.all(dim=1)]
        per_modality = rows.sum(dim=0).tolist()  # each unimodal third holds a third of the class's rest
        assert sorted(per_modality) == [33, 33, 33] and (rows.sum(dim=1) == 1).all(), (c, per_modality)
    assert dict(zip(MODALITIES, mixed.mask.sum(dim=0).tolist(), strict=True)) == {m: 8 + 8 * 33 for m in MODALITIES}
