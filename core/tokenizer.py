"""Text and tag tokenization with vocabularies: one implementation for the trainer and the stream workers (no torch).

Rules (paper section 4.1): lower-case; at most `max_words` words and `max_tags` tags, truncated or padded;
words and tags seen fewer than `min_count` times in training become <UNK>. Hashtags written inside a text
(`#summer`) are split out of it and appended to the post's tags (`split_hashtags`), so tweets train and feed the tag
heads the way Flickr tags do.

Social tokens (`social`, on in the default training preset, off in `--preset paper`): before the words are cut,
URLs become `xxurl` and @mentions `xxuser` (as tweet processors do), emoticons (`EMOTICONS`: `:-(`, `<3`, `xD`...)
become the emoji they stand for (a whole token, or glued to a word's end when it starts with an eye:
`thanks:)`), and every emoji becomes the words of its Unicode name from the `emoji` package
(`😭` -> `loudly crying face`), skin tones dropped and ZWJ sequences named as one (`👨‍👩‍👧` -> `family man woman
girl`), so pretrained word vectors cover them and an emoji-only post has words.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import emoji

PAD, UNK = "<PAD>", "<UNK>"
PAD_ID, UNK_ID = 0, 1
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# '#' + a word, not inside a word, a URL fragment (page#top) or an HTML entity (&#39;)
_HASHTAG = re.compile(r"(?<![\w&#/])#([^\W_][\w]*)", re.UNICODE)


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@/])@\w{1,50}", re.UNICODE)
_SKIN_TONE = re.compile("[\U0001f3fb-\U0001f3ff]")
# Western and a few Eastern emoticons -> the emoji they stand for (then named like any emoji). Matched only as a
# whole token (whitespace or text edge around, trailing punctuation allowed), the last character repeatable (":((").
EMOTICONS: dict[str, str] = {
    ":)": "🙂", ":-)": "🙂", "(:": "🙂", "=)": "🙂", ":]": "🙂",
    ":D": "😃", ":-D": "😃", "=D": "😃", "xD": "😆", "XD": "😆",
    ";)": "😉", ";-)": "😉",
    ":(": "🙁", ":-(": "🙁", "):": "🙁", "=(": "🙁", ":[": "🙁",
    ":'(": "😢", ":'-(": "😢", ";(": "😢", "T_T": "😭", ";_;": "😭",
    ":P": "😛", ":-P": "😛", ":p": "😛", ":-p": "😛",
    ":O": "😮", ":-O": "😮", ":o": "😮", "o_O": "😕", "O_o": "😕",
    ":/": "😕", ":-/": "😕", ":\\": "😕", ":|": "😐", ":-|": "😐", "-_-": "😑",
    ":*": "😘", ":-*": "😘", "<3": "❤️", "</3": "💔", "^_^": "😊", "^^": "😊",
    ">:(": "😠", ">:-(": "😠", "D:": "😧",
}  # fmt: skip


def _emoticon_pattern(emoticons) -> str:
    return "|".join(re.escape(e) + re.escape(e[-1]) + "*" for e in sorted(emoticons, key=len, reverse=True))


# a whole token, or glued to the end of a word when it starts with an eye (`thanks:)`; not `(see above):`)
_EMOTICON = re.compile(
    rf"(?:(?<!\S)({_emoticon_pattern(EMOTICONS)})|(?<=\w)({_emoticon_pattern(e for e in EMOTICONS if e[0] in ':;=')}))"
    r"(?=[\s.,!?]|$)"
)


# every non-ASCII character that occurs in an emoji: a text with none of them has no emoji, and skips the emoji
# package's scan (about 140 us per comment, 20x the rest of the tokenizer; README "Real posts")
_EMOJI_CHARS = frozenset(c for e in emoji.EMOJI_DATA for c in e if not c.isascii())


def maybe_emoji(text: str) -> bool:
    """False when the text cannot hold an emoji (a cheap test before the emoji package's scan)."""
    return not _EMOJI_CHARS.isdisjoint(text)


def strip_emoji(text: str, replace=" ") -> str:
    """The text with every emoji replaced (`replace`: a string, or a function of (emoji, its data))."""
    return emoji.replace_emoji(text, replace=replace) if maybe_emoji(text) else text


def _emoji_words(chars: str, data: dict) -> str:
    """':loudly_crying_face:' -> ' loudly crying face '."""
    return " " + data["en"].strip(":").replace("_", " ") + " "


def _emoticon(matched: str) -> str:
    """The emoji of a matched emoticon whose last character may repeat (':(((' -> 🙁)."""
    while matched not in EMOTICONS:
        matched = matched[:-1]
    return EMOTICONS[matched]


def social(text: str, named: bool = True) -> str:
    """URLs -> xxurl, @mentions -> xxuser, emoticons -> emoji, emoji -> the words of their names; with `named`
    False all four are removed instead (what a language detector should not read)."""
    text = _MENTION.sub(" xxuser " if named else " ", _URL.sub(" xxurl " if named else " ", text))
    text = _EMOTICON.sub((lambda m: f" {_emoticon(m.group(1) or m.group(2))} ") if named else " ", text)
    return strip_emoji(_SKIN_TONE.sub("", text), replace=_emoji_words if named else " ")


def has_emoji(text: str | None, emoticons: bool = False) -> bool:
    """Whether a text holds an emoji (or, with `emoticons`, an emoticon): `emostream evaluate --subset`."""
    if not text:
        return False
    return (maybe_emoji(text) and emoji.emoji_count(text) > 0) or (emoticons and _EMOTICON.search(text) is not None)


def words(text: str | None, social_tokens: bool = False) -> list[str]:
    """Lower-cased words of a text (letters and digits of any script; apostrophes kept inside words); with
    `social_tokens`, URLs, mentions, emoticons and emoji first become words (`social`)."""
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text)
    return _WORD.findall((social(text) if social_tokens else text).lower())


def split_hashtags(text: str | None) -> tuple[str | None, list[str]]:
    """(the text without its hashtags, the hashtags without '#', in order)."""
    if not text:
        return text, []
    tags = _HASHTAG.findall(text)
    return (_HASHTAG.sub(" ", text) if tags else text), tags


def clean_tags(tags: Iterable[str] | None) -> list[str]:
    """Tags lower-cased, stripped of '#' and blanks, empty ones and repeats dropped, order kept (linear time: a text
    may carry thousands of hashtags)."""
    out: dict[str, None] = {}
    for tag in tags or ():
        t = unicodedata.normalize("NFKC", str(tag)).strip().lstrip("#").strip().lower()
        if t:
            out.setdefault(t, None)
    return list(out)


@dataclass
class Vocab:
    """Token <-> id; id 0 is padding, id 1 is <UNK>."""

    itos: list[str] = field(default_factory=lambda: [PAD, UNK])

    def __post_init__(self):
        if self.itos[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <PAD>, <UNK>")
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_count: int = 5, keep: frozenset[str] = frozenset()) -> Vocab:
        """Tokens seen at least min_count times, or at all when in `keep` (words with a pretrained vector), most
        frequent first (ties alphabetical, so builds are reproducible)."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_count or t in keep), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *kept])

    def ids(self, tokens: list[str], length: int) -> list[int]:
        """Ids of the first `length` tokens, unknown -> UNK_ID, right-padded with PAD_ID."""
        out = [self.stoi.get(t, UNK_ID) for t in tokens[:length]]
        return out + [PAD_ID] * (length - len(out))


@dataclass
class Tokenizer:
    """Encodes a post's text and tags into fixed-length id lists."""

    words: Vocab
    tags: Vocab
    max_words: int = 150
    max_tags: int = 10
    split_hashtags: bool = True
    social: bool = False  # URLs, mentions, emoticons and emoji as words (module docstring); False in older bundles

    def post_tokens(self, text: str | None, tags: Iterable[str] | None) -> tuple[list[str], list[str]]:
        """The words and the tags of a post as the model sees them (hashtags moved from the text to the tags)."""
        if self.split_hashtags:
            text, found = split_hashtags(text)
            tags = [*(tags or ()), *found]
        return words(text, self.social), clean_tags(tags)

    def encode_post(self, text: str | None, tags: Iterable[str] | None) -> tuple[list[int] | None, list[int] | None]:
        """(text ids, tag ids) of a post; either is None when the post has no word / no tag."""
        return self.encode_tokens(*self.post_tokens(text, tags))

    def encode_tokens(self, w: list[str], t: list[str]) -> tuple[list[int] | None, list[int] | None]:
        """(text ids, tag ids) of a post's `post_tokens`; either is None when there is no word / no tag."""
        return (self.words.ids(w, self.max_words) if w else None), (self.tags.ids(t, self.max_tags) if t else None)

    @classmethod
    def fit(
        cls,
        posts: Iterable[tuple[str | None, Iterable[str] | None]],
        *,
        min_count: int = 5,
        max_words: int = 150,
        max_tags: int = 10,
        split_hashtags: bool = True,
        social: bool = False,
        keep_words: frozenset[str] = frozenset(),
    ) -> Tokenizer:
        """Build both vocabularies from training posts (text, tags); only the first max_words/max_tags tokens count.
        Words in `keep_words` (those with a pretrained vector) are kept however rare."""
        empty = cls(Vocab(), Vocab(), max_words, max_tags, split_hashtags, social)
        tokens = [empty.post_tokens(text, tags) for text, tags in posts]
        return cls(
            Vocab.build((w[:max_words] for w, _ in tokens), min_count, keep_words),
            Vocab.build((t[:max_tags] for _, t in tokens), min_count),
            max_words,
            max_tags,
            split_hashtags,
            social,
        )

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "max_words": self.max_words,
                    "max_tags": self.max_tags,
                    "split_hashtags": self.split_hashtags,
                    "social": self.social,
                    "words": self.words.itos,
                    "tags": self.tags.itos,
                },
                ensure_ascii=False,
            )
        )

    @classmethod
    def load(cls, path: Path) -> Tokenizer:
        d = json.loads(Path(path).read_text())
        return cls(
            Vocab(d["words"]),
            Vocab(d["tags"]),
            d["max_words"],
            d["max_tags"],
            d.get("split_hashtags", False),
            d.get("social", False),
        )
