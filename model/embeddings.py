"""Pretrained word vectors through gensim KeyedVectors (word2vec binary/text, GloVe without header)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .tokenizer import Vocab


def load_keyed_vectors(path: Path):
    """word2vec binary (.bin), word2vec text (header line 'N DIM') or GloVe text (no header), told apart by content."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"word vectors file not found: {path}")
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


def embedding_matrix(vocab: Vocab, path: Path, seed: int = 0) -> tuple[np.ndarray, float]:
    """Rows for every vocabulary word: the file's vector when it has the word, small random
    otherwise, zeros for <PAD>. Returns the matrix and the coverage (share of real words found)."""
    kv = load_keyed_vectors(path)
    rng = np.random.default_rng(seed)
    dim = kv.vector_size
    scale = float(np.std(kv.vectors)) or 0.1
    mat = rng.normal(0, scale, size=(len(vocab), dim)).astype(np.float32)
    mat[0] = 0.0
    found = 0
    for i, w in enumerate(vocab.itos[2:], start=2):
        if w in kv.key_to_index:
            mat[i] = kv[w]
            found += 1
    return mat, found / max(1, len(vocab) - 2)
