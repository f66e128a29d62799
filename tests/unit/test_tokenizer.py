"""Tokenizer edge cases: empty, unicode, hashtags, truncation at 150 words / 10 tags, unknown words, min_count."""

import json

from core.tokenizer import PAD_ID, UNK_ID, Tokenizer, Vocab, clean_tags, has_emoji, split_hashtags, words
from model.config import TrainConfig


def test_words_lowercases_and_splits_unicode():
    assert words("Hello, WORLD! Ça va? 東京 don't") == ["hello", "world", "ça", "va", "東京", "don't"]
    assert words("") == [] and words(None) == [] and words("  ...!!! ") == []


def test_clean_tags_strip_hash_dedupe_and_drop_empty():
    assert clean_tags(["#Sunset", "sunset", " ", "#", "Beach ", "ÉTÉ"]) == ["sunset", "beach", "été"]
    assert clean_tags(None) == []


def test_hashtags_are_split_out_of_the_text():
    assert split_hashtags("Best day ever #Summer #fun!") == ("Best day ever    !", ["Summer", "fun"])
    assert split_hashtags("#winning") == (" ", ["winning"])
    # not hashtags: inside a word, a URL fragment, an HTML entity, a lone '#', a number sign before a space
    assert split_hashtags("C# and see page#top or &#39; or # here") == ("C# and see page#top or &#39; or # here", [])
    assert split_hashtags(None) == (None, []) and split_hashtags("") == ("", [])


def test_post_tokens_move_hashtags_to_the_tags_and_keep_given_tags_first():
    tok = Tokenizer(Vocab(), Vocab())
    assert tok.post_tokens("I love it #Summer", ["beach", "#summer"]) == (["i", "love", "it"], ["beach", "summer"])
    legacy = Tokenizer(Vocab(), Vocab(), split_hashtags=False)
    assert legacy.post_tokens("I love it #Summer", None) == (["i", "love", "it", "summer"], [])


def test_min_count_unknown_and_padding():
    tok = Tokenizer.fit([("a b c", ["x"]), ("a b", ["x", "y"]), ("a", None)], min_count=2, max_words=5, max_tags=3)
    assert tok.words.itos == ["<PAD>", "<UNK>", "a", "b"]  # c seen once -> <UNK>
    text, tags = tok.encode_post("A c zzz", ["y", "#X"])
    assert text == [tok.words.stoi["a"], UNK_ID, UNK_ID, PAD_ID, PAD_ID]
    assert tags == [UNK_ID, tok.tags.stoi["x"], PAD_ID]


def test_hashtags_in_training_texts_build_the_tag_vocabulary():
    tok = Tokenizer.fit([("so happy #blessed", None)] * 5, min_count=5)
    assert "blessed" in tok.tags.stoi and "blessed" not in tok.words.stoi
    assert tok.encode_post("#blessed", None) == (None, [tok.tags.stoi["blessed"]] + [PAD_ID] * 9)


def test_empty_text_or_tags_mean_absent_modality():
    tok = Tokenizer(Vocab(), Vocab())
    assert tok.encode_post("", []) == (None, None)
    assert tok.encode_post("?!", ["#", " "]) == (None, None)
    assert tok.encode_post(None, None) == (None, None)


def test_truncates_to_150_words_and_10_tags():
    tok = Tokenizer.fit([("w", ["t"])] * 5)
    text, tags = tok.encode_post(" ".join(["w"] * 400), [f"t{i}" for i in range(30)])
    assert len(text) == 150 and set(text) == {tok.words.stoi["w"]}
    assert len(tags) == 10 and set(tags) == {UNK_ID}


def test_save_load_round_trip(tmp_path):
    tok = Tokenizer.fit([("ünïcode words here", ["émoji🙂"])] * 5, min_count=5)
    tok.save(tmp_path / "t.json")
    back = Tokenizer.load(tmp_path / "t.json")
    assert back.words.itos == tok.words.itos and back.tags.itos == tok.tags.itos and back.split_hashtags
    assert not back.social  # fitted without: kept without
    assert back.encode_post(None, ["émoji🙂"]) == tok.encode_post(None, ["émoji🙂"]) != (None, [UNK_ID] + [PAD_ID] * 9)


def test_paper_tokenizer_drops_emoji_and_emoticons():
    assert words("😢😢 :-( so sad 😭") == ["so", "sad"]
    assert words("😭😭😭") == []


def test_social_tokens_name_emoji_and_emoticons():
    assert words("😢 :-( so sad 😭 #x", social_tokens=True) == [
        *("crying", "face", "slightly", "frowning", "face", "so", "sad", "loudly", "crying", "face", "x"),
    ]
    assert words("😭😭", social_tokens=True) == ["loudly", "crying", "face"] * 2  # an emoji-only text has words
    # skin tones dropped, a ZWJ sequence named as one, a variation selector ignored
    assert words("👍🏽 👍 👨‍👩‍👧 ❤️ ❤", social_tokens=True) == [
        *("thumbs", "up", "thumbs", "up", "family", "man", "woman", "girl", "red", "heart", "red", "heart"),
    ]
    # emoticons: whole tokens, repeated mouths, glued to a word's end when they start with an eye; not in paths,
    # times, URLs or a closing bracket followed by a colon
    assert words("thanks:) :((( <3 xD", social_tokens=True) == [
        *("thanks", "slightly", "smiling", "face", "slightly", "frowning", "face", "red", "heart"),
        *("grinning", "squinting", "face"),
    ]
    assert words("C:/dir at 10:30 (see above): ok", social_tokens=True) == [
        *("c", "dir", "at", "10", "30", "see", "above", "ok"),
    ]


def test_social_tokens_normalise_urls_and_mentions():
    assert words("@Bob look https://x.com/a:/b?q=1 www.y.org/:( mail a@b.c", social_tokens=True) == [
        *("xxuser", "look", "xxurl", "xxurl", "mail", "a", "b", "c"),
    ]


def test_social_tokenizer_round_trips_and_encodes_an_emoji_only_post(tmp_path):
    tok = Tokenizer.fit([("so sad 😭", None)] * 5, min_count=5, social=True)
    assert {"loudly", "crying", "face", "sad"} <= tok.words.stoi.keys()
    tok.save(tmp_path / "t.json")
    back = Tokenizer.load(tmp_path / "t.json")
    assert back.social and json.loads((tmp_path / "t.json").read_text())["social"] is True
    text, _ = back.encode_post("😭", None)
    assert text[:3] == [tok.words.stoi[w] for w in ("loudly", "crying", "face")]


def test_old_tokenizer_files_keep_the_paper_tokenizer(tmp_path):
    (tmp_path / "t.json").write_text(
        json.dumps({"max_words": 5, "max_tags": 2, "words": ["<PAD>", "<UNK>"], "tags": ["<PAD>", "<UNK>"]})
    )
    assert Tokenizer.load(tmp_path / "t.json").encode_post("😭", None) == (None, None)


def test_presets_choose_the_tokenizer():
    assert TrainConfig.from_preset("default").social_tokens and not TrainConfig.from_preset("paper").social_tokens


def test_has_emoji_finds_emoji_and_optionally_emoticons():
    assert has_emoji("ok 👍") and not has_emoji("ok :)") and has_emoji("ok :)", emoticons=True)
    assert not has_emoji(None) and not has_emoji("plain text", emoticons=True)


def test_the_cheap_emoji_test_misses_no_emoji():
    import emoji

    from core.tokenizer import maybe_emoji

    assert all(maybe_emoji(f"a{e}b") for e in emoji.EMOJI_DATA)
    assert not maybe_emoji("plain ASCII :) and curly ’ quotes, 東京")
