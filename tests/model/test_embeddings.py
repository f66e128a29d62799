"""Word vectors from local files in every supported format, using the real vectors gensim ships in its test data."""

from pathlib import Path

import gensim
import numpy as np
import pytest

from core.tokenizer import Vocab
from model.wordvectors import embedding_matrix, load_keyed_vectors

TD = Path(gensim.__file__).parent / "test" / "test_data"


@pytest.mark.parametrize(
    "name,dim",
    [
        ("euclidean_vectors.bin", 10),
        ("lee_fasttext.vec", 10),
        ("test_glove.txt", 50),
        ("EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt", 300),
    ],
)
def test_formats_load(name, dim):
    kv = load_keyed_vectors(TD / name)
    assert kv.vector_size == dim and len(kv) > 10


def test_embedding_rows_and_coverage():
    kv = load_keyed_vectors(TD / "euclidean_vectors.bin")
    vocab = Vocab(["<PAD>", "<UNK>", "the", "government", "notaword123", "people"])
    mat, cov = embedding_matrix(vocab, TD / "euclidean_vectors.bin")
    assert mat.shape == (6, 10)
    assert cov == pytest.approx(3 / 4)
    np.testing.assert_allclose(mat[2], kv["the"])
    np.testing.assert_allclose(mat[3], kv["government"])
    assert not mat[0].any()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="word vectors file not found"):
        load_keyed_vectors(tmp_path / "nope.bin")
