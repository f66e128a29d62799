"""Data sources: the GoEmotions mapping (written, tested, partial labels kept) and the generic table reader."""

import json

import pytest

from contracts.labels import EMOTIONS
from core.tokenizer import Tokenizer, Vocab
from model.sources.goemotions import MAPPING, GoEmotions, map_categories
from model.sources.tabular import Columns, Table, parse_label_map

OFFICIAL_ORDER = (
    "admiration amusement anger annoyance approval caring confusion curiosity desire disappointment "
    "disapproval disgust embarrassment excitement fear gratitude grief joy love nervousness optimism pride "
    "realization relief remorse sadness surprise neutral"
).split()


def test_every_goemotions_category_is_mapped_to_a_known_label():
    assert len(MAPPING) == 28
    for category, (emotion, sentiment) in MAPPING.items():
        assert emotion in (None, *EMOTIONS) and sentiment in (None, "positive", "negative"), category
        assert not (emotion and sentiment), "an emotion carries its sentiment already"


@pytest.mark.parametrize(
    "cats,want",
    [
        (["amusement"], ("amusement", "positive")),
        (["annoyance"], ("anger", "negative")),
        (["grief"], ("sadness", "negative")),
        (["admiration"], ("awe", "positive")),
        (["relief"], ("contentment", "positive")),
        (["nervousness"], ("fear", "negative")),
        (["joy"], (None, "positive")),
        (["remorse"], (None, "negative")),  # partial: a sentiment, no guessed emotion
        (["neutral"], (None, None)),
        (["surprise"], (None, None)),
        (["curiosity", "confusion"], (None, None)),
        (["amusement", "joy"], ("amusement", "positive")),  # they agree: the emotion stays
        (["anger", "annoyance"], ("anger", "negative")),
        (["anger", "disgust"], (None, "negative")),  # two emotions: sentiment
        (["amusement", "sadness"], (None, None)),
        (["joy", "disappointment"], (None, None)),  # contradictions: nothing
        (["excitement", "neutral"], ("excitement", "positive")),
        (["remorse", "surprise"], (None, "negative")),
    ],
)
def test_mapping_of_one_comment(cats, want):
    assert map_categories(cats) == want


def test_goemotions_reader_keeps_the_official_splits(tmp_path):
    names = OFFICIAL_ORDER
    (tmp_path / "labels.txt").write_text("\n".join(names))
    lines = {
        "train": ["ha ha #lol\t1\ta1", "meh\t27\ta2", "so sad\t25,16\ta3", "hm?\t7,27\ta4", "what?\t7\ta5"],
        "dev": ["thanks!\t15\tb1"],
        "test": ["wow\t0\tc1", "ugh\t2,3\tc2"],
    }
    for split, rows in lines.items():
        (tmp_path / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    src = GoEmotions(tmp_path)
    rows = list(src.rows())
    assert [(r["id"], r["split"], r["emotion"], r["sentiment"], r["neutral"]) for r in rows] == [
        ("goemotions-a1", "train", "amusement", "positive", False),
        ("goemotions-a2", "train", None, None, True),  # neutral alone: the gate's positive
        ("goemotions-a3", "train", "sadness", "negative", False),
        ("goemotions-a5", "train", None, None, False),  # curiosity: an emotion, not one of the 8, not neutral
        ("goemotions-b1", "val", None, "positive", False),
        ("goemotions-c1", "test", "awe", "positive", False),
        ("goemotions-c2", "test", "anger", "negative", False),
    ]
    assert src.skipped == {"train": 1} and names[27] == "neutral" and names[7] == "curiosity"  # a4: raters disagree
    assert [r["categories"] for r in rows][4:] == [["gratitude"], ["admiration"], ["anger", "annoyance"]]


def test_table_reader_maps_columns_labels_and_keeps_hashtags_for_the_tokenizer(tmp_path):
    csv_path = tmp_path / "tweets.csv"
    csv_path.write_text(
        "tweet_id,body,polarity,fold\n1,Loving this sun #summer #beach,4,train\n2,worst day ever,0,dev\n"
        "3,,4,test\n4,meh,2,train\n"
    )
    table = Table(
        csv_path,
        Columns(
            "polarity", text="body", id="tweet_id", split="fold", label_map=parse_label_map("0=negative,4=positive")
        ),
    )
    rows = list(table.rows())
    assert rows == [
        {
            "id": "1",
            "emotion": None,
            "sentiment": "positive",
            "text": "Loving this sun #summer #beach",
            "split": "train",
        },
        {"id": "2", "emotion": None, "sentiment": "negative", "text": "worst day ever", "split": "val"},
    ]
    assert table.skipped == {"no modality": 1, "label '2'": 1}
    assert Tokenizer(Vocab(), Vocab()).post_tokens(rows[0]["text"], None) == (
        ["loving", "this", "sun"],
        ["summer", "beach"],
    )
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(json.dumps({"t": "hi", "g": ["a", "b"], "e": "fear"}) + "\n")
    assert list(Table(jsonl, Columns("e", text="t", tags="g")).rows())[0]["tags"] == ["a", "b"]
    with pytest.raises(ValueError, match="neither an emotion"):
        parse_label_map("1=happy")


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server holding GoEmotions-shaped files under the upstream names (emotions.txt), and their sha256."""
    import functools
    import hashlib
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "served"
    served.mkdir()
    files = {
        "train.tsv": "ha ha\t1\ta1\nso sad\t25\ta2\n",
        "dev.tsv": "thanks!\t15\tb1\n",
        "test.tsv": "wow\t0\tc1\n",
        "emotions.txt": "\n".join(OFFICIAL_ORDER) + "\n",
    }
    for name, text in files.items():
        (served / name).write_text(text)
    sha = {
        ("labels.txt" if n == "emotions.txt" else n): hashlib.sha256(t.encode()).hexdigest() for n, t in files.items()
    }

    class Quiet(SimpleHTTPRequestHandler):
        requests: list[str] = []

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.requests.append(self.path)
            super().do_GET()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", served, sha, Quiet.requests
    srv.shutdown()


def test_goemotions_download_is_verified_and_kept(mirror, tmp_path):
    url, _, sha, requests = mirror
    src = GoEmotions.download(tmp_path / "raw", url, sha)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["dev.tsv", "labels.txt", "test.tsv", "train.tsv"]
    assert [r["id"] for r in src.rows()] == ["goemotions-a1", "goemotions-a2", "goemotions-b1", "goemotions-c1"]
    n = len(requests)
    GoEmotions.download(tmp_path / "raw", url, sha)  # verified files already there: nothing fetched again
    assert len(requests) == n == 4


def test_a_corrupted_download_is_refused_and_nothing_written(mirror, tmp_path):
    from model.sources.goemotions import DownloadError

    url, served, sha, _ = mirror
    (served / "dev.tsv").write_text("thanks!\t15\tb1\nforged\t2\tx9\n")
    with pytest.raises(DownloadError, match="is not the official dev.tsv"):
        GoEmotions.download(tmp_path / "raw", url, sha)
    assert not (tmp_path / "raw" / "dev.tsv").exists()


def test_the_cli_refuses_files_that_are_not_the_official_ones_and_says_so_offline(
    mirror, tmp_path, monkeypatch, capsys
):
    """`emostream data goemotions` without a folder downloads (here from the local mirror, whose files are not the
    official ones: refused by the pinned sha256), and offline it ends with one line saying what to do."""
    from model.sources.cli import main

    url, _, _, _ = mirror
    monkeypatch.setenv("EMOSTREAM_GOEMOTIONS_URL", url)
    assert main(["goemotions", "--download", "--out", str(tmp_path / "out")]) == 1
    assert "is not the official" in capsys.readouterr().err
    monkeypatch.setenv("EMOSTREAM_GOEMOTIONS_URL", "http://127.0.0.1:9/")  # nothing listens on the discard port
    assert main(["goemotions", "--download", "--out", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not download GoEmotions' " in err[0] and "pass --dir" in err[0]
