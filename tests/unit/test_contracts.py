"""The contracts module: combinations as a type, Triton names, Redis keys; and nobody else spells them."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import triton as tc
from contracts.combos import COMBO_NAMES, COMBOS, TRIMODAL, Combo
from contracts.redis_keys import RedisKeys

ROOT = Path(__file__).resolve().parents[2]


def test_seven_combinations_in_table_order():
    assert COMBO_NAMES == ("image", "text", "tags", "image_text", "image_tags", "text_tags", "image_text_tags")
    assert [c.paper for c in COMBOS] == ["I", "T", "#", "I+T", "I+#", "T+#", "I+T+#"]
    assert TRIMODAL.name == "image_text_tags" and TRIMODAL.has_image and not Combo.parse("text_tags").has_image


def test_combo_of_any_order_and_parse_strictly():
    assert Combo.of(["tags", "image"]) == Combo.parse("image_tags") == Combo(("image", "tags"))
    assert Combo.of(["text", "text"]).name == "text"
    for bad in ("", "tags_image", "video", "image__text", "text_"):
        with pytest.raises(ValueError):
            Combo.parse(bad)
    with pytest.raises(ValueError, match="at least one"):
        Combo.of([])


def test_subsets_largest_first():
    assert [c.name for c in TRIMODAL.subsets()] == [
        "image_text_tags",
        "image_text",
        "image_tags",
        "text_tags",
        "image",
        "text",
        "tags",
    ]


def test_model_names_and_tensors():
    names = tc.model_names("p_")
    assert names[:3] == ["p_image_encoder", "p_text_encoder", "p_tags_encoder"] and len(names) == 3 + 7 + 7
    assert (
        tc.ensemble_name(TRIMODAL, "p_") == "p_emotion_image_text_tags"
        and tc.head_name(Combo.parse("text")) == "head_text"
    )
    assert tc.INPUTS["text"].config_type == "TYPE_INT64" and tc.input_dims("image", 224, 150, 10) == [224, 224, 3]
    assert [(t.name, n) for t, n in tc.OUTPUTS] == [("emotion_probs", 8), ("sentiment_probs", 2), ("neutral_prob", 1)]


def test_text_length_holds_every_window_that_starts_at_a_word():
    assert tc.input_dims("text", 224, 150, 10) == [-1]
    # a 30-word text needs 30 + 5 - 1 = 34 positions for the width-5 windows starting at its last words -> 48
    lengths = [tc.text_length(n, 150, 5) for n in (0, 1, 12, 13, 28, 29, 30, 44, 45)]
    assert lengths == [16, 16, 16, 32, 32, 48, 48, 48, 64]
    assert tc.text_length(150, 150, 5) == 150 and tc.text_length(46, 48, 5) == 48  # never over the training length
    assert all(tc.text_length(n, 150, w) % tc.TEXT_LENGTH_STEP == 0 for n in range(140) for w in (3, 5))


def test_the_triton_runner_reads_the_contracts_parameter_key():
    """triton_runner/onnx_model.py runs inside Triton's python stub and cannot import the project."""
    runner = (ROOT / "triton_runner" / "onnx_model.py").read_text()
    assert f'"{tc.PARAMS.INTRA_OP_THREADS}"' in runner and f'"{tc.PARAMS.PROVIDERS}"' in runner


def test_redis_keys_share_the_prefix_hash_tag():
    k = RedisKeys()
    keys = [
        k.seen("x"),
        k.seen_dead("t:0:1"),
        k.totals,
        k.bucket(10),
        k.buckets,
        k.top("awe"),
        k.recent,
        k.workers,
        k.worker("w"),
        k.lag,
    ]
    assert all(key.startswith("{emo}:") for key in keys) and len(set(keys)) == len(keys)


SPELLINGS = re.compile(
    r'"text_ids"|"tag_ids"|"emotion_probs"|"sentiment_probs"|"neutral_prob"|_features"|emotion_\{|head_\{|_encoder"'
    r'|"seen:|"top:|"bucket:|"worker:|"emo:|\.split\("_"\)'
)


def test_no_other_module_spells_a_contract():
    offenders = []
    for folder in ("model", "stream", "devstack", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if SPELLINGS.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "import contracts instead:\n" + "\n".join(offenders)


def test_import_graph_floors():
    """contracts imports nothing of the project; stream/ never imports torch (the worker image has none)."""
    for path in (ROOT / "contracts").glob("*.py"):
        assert not re.search(r"^\s*(from|import) (model|stream|devstack|bench)\b", path.read_text(), re.M), path
    modules = sorted(
        f"stream.{p.relative_to(ROOT / 'stream').with_suffix('').as_posix().replace('/', '.')}"
        for p in (ROOT / "stream").rglob("*.py")
        if p.name != "__main__.py"
    )
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nsys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0, "a stream module imports torch"
