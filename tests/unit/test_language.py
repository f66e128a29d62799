"""Language detection and the foreign-text rule (core/language.py), with the real bundled fastText model."""

from core.language import Detected, detect, foreign, training_languages


def test_detects_common_languages_and_nothing_without_letters():
    assert detect("今日はとても悲しい").language == "ja"
    assert detect("Je suis très triste aujourd’hui").language == "fr"
    assert detect("so happy to see you all again http://x.co @bob :)").language == "en"
    assert detect("😭😭 :( 123") == Detected(None, 0.0) and detect(None) == Detected(None, 0.0)


def test_foreign_needs_an_untrained_language_and_unknown_words():
    vocab = {w: i for i, w in enumerate(["what", "a", "lol", "so", "sad"])}
    ja = detect("今日はとても悲しい")
    assert foreign(ja, "今日はとても悲しい", vocab, ["en"])
    assert not foreign(ja, "今日はとても悲しい", vocab, ["en", "ja"])  # the bundle was trained on it
    # a short English text the detector calls Russian stays English: its words are known
    assert not foreign(Detected("ru", 0.71), "What a nutbar lol", vocab, ["en"])
    assert not foreign(Detected(None, 0.0), "???", vocab, ["en"])


def test_training_languages_keep_the_frequent_ones():
    texts = ["I am so happy today with my friends"] * 60 + ["Je suis très content aujourd’hui"] * 2 + ["🙂", None]
    assert training_languages(texts) == ["en", "fr"]
    assert training_languages(["I am so happy today with my friends"] * 100 + ["Je suis très content"]) == ["en"]
