"""Tokenizer edge cases: empty, unicode, truncation at 150 words / 10 tags, unknown words, min_count."""
from model.tokenizer import PAD_ID, UNK_ID, Tokenizer, Vocab, clean_tags, words


def test_words_lowercases_and_splits_unicode():
    assert words("Hello, WORLD! Ça va? 東京 don't") == ["hello", "world", "ça", "va", "東京", "don't"]
    assert words("") == [] and words(None) == [] and words("  ...!!! ") == []


def test_clean_tags_strip_hash_dedupe_and_drop_empty():
    assert clean_tags(["#Sunset", "sunset", " ", "#", "Beach ", "ÉTÉ"]) == ["sunset", "beach", "été"]
    assert clean_tags(None) == []


def test_min_count_unknown_and_padding():
    tok = Tokenizer.fit(["a b c", "a b", "a"], [["x"], ["x", "y"]], min_count=2, max_words=5, max_tags=3)
    assert tok.words.itos == ["<PAD>", "<UNK>", "a", "b"]  # c seen once -> <UNK>
    assert tok.encode_text("A c zzz") == [tok.words.stoi["a"], UNK_ID, UNK_ID, PAD_ID, PAD_ID]
    assert tok.encode_tags(["y", "#X"]) == [UNK_ID, tok.tags.stoi["x"], PAD_ID]


def test_empty_text_or_tags_mean_absent_modality():
    tok = Tokenizer(Vocab(), Vocab())
    assert tok.encode_text("") is None and tok.encode_text("?!") is None and tok.encode_text(None) is None
    assert tok.encode_tags([]) is None and tok.encode_tags(["#", " "]) is None


def test_truncates_to_150_words_and_10_tags():
    tok = Tokenizer.fit(["w"] * 5, [["t"]] * 5)
    ids = tok.encode_text(" ".join(["w"] * 400))
    assert len(ids) == 150 and set(ids) == {tok.words.stoi["w"]}
    tags = tok.encode_tags([f"t{i}" for i in range(30)])
    assert len(tags) == 10 and set(tags) == {UNK_ID}


def test_save_load_round_trip(tmp_path):
    tok = Tokenizer.fit(["ünïcode words here"] * 5, [["émoji🙂"]] * 5, min_count=5)
    tok.save(tmp_path / "t.json")
    back = Tokenizer.load(tmp_path / "t.json")
    assert back.words.itos == tok.words.itos and back.tags.itos == tok.tags.itos
    assert back.encode_tags(["émoji🙂"]) == tok.encode_tags(["émoji🙂"]) != [UNK_ID] + [PAD_ID] * 9


def test_tokenizer_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, model.tokenizer, model.labels, model.imaging; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
