"""Sequence to sequence in torch: an encoder reads the source, a decoder writes the target one
token at a time; teacher forcing for training, greedy, beam and exhaustive search for decoding.

Shape legend:
    N  batch (source sentences)       src (N, S) int         source ids, padded at the end
    S  source steps                   src_lengths (N,) int   real source lengths, >= 1
    T  target steps                   src_mask (N, S) bool   True at real source positions
    E  embedding size                 tgt_in (N, T) int      [<bos>, y_1, ..., y_{T-1}]
    H  hidden size                    tgt_out (N, T) int     [y_1, ..., y_{T-1}, <eos>], pad after
    L  recurrent layers               memory (N, S, H)       encoder outputs (0 at padding)
    V  target vocabulary (V_src:      state (L, N, H)        GRU; an LSTM's is a pair (h, c)
       the source vocabulary)         logits (N, T, V)       unnormalised log p(y_t | y_<t, x)
    K  beam size                      attn (N, T, S)         attention weights, rows sum to 1

The model factorises the probability of a target y = (y_1, ..., y_|y|) given a source x:

    memory, state_0 = Encoder(x)                      state_0: the encoder's last state
    h_t, state_t    = cell(W_emb[y_{t-1}], state_{t-1})       y_0 = <bos>
    p(y_t | y_<t, x) = softmax(o_t W_out + b)         o_t = h_t (Decoder), or the attentional
                                                      state o_t = tanh([c_t ; h_t] W_c) with
                                                      c_t = sum_s a_ts memory_s (AttentionDecoder)
    log p(y | x)    = sum_t log p(y_t | y_<t, x)      the target ends with <eos>

A source may be fed reversed (Sutskever et al. 2014): make_batch(..., reverse_source=True)
reverses each sentence before padding; the model itself never reverses anything.

Decoders share one interface, decoder(tgt_in, state, memory, src_mask) -> (logits, state, attn),
with attn None for the plain Decoder; a decoding step is the same call on one token, (N, 1).
The searches themselves (search_greedy, search_beam) see a model only through such a step,
step(y_prev, state, context) -> (log p, state), so course_lib.captioning searches with them too.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib.data import pad_batch
from course_lib.validation import check_positive_ints, is_int, is_real

__all__ = [
    "Encoder",
    "Decoder",
    "AttentionDecoder",
    "attention",
    "Seq2Seq",
    "build_seq2seq",
    "Batch",
    "source_batch",
    "target_batch",
    "make_batch",
    "random_batch",
    "sequence_loss",
    "seq2seq_loss",
    "Hypothesis",
    "length_penalty",
    "search_greedy",
    "search_beam",
    "greedy_decode",
    "beam_search",
    "exhaustive_decode",
    "score",
    "translate",
]

_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def _check_cell(cell):
    if cell not in _CELLS:
        raise ValueError(f'cell must be "gru" or "lstm", got {cell!r}')


# ----------------------------------------------------------------------------- the model

class _Recurrent(nn.Module):
    """What the encoder and the decoders share: an embedding table (V, E) and a recurrent
    layer from E to H (torch.nn.GRU or LSTM, batch first, L layers)."""

    def __init__(self, vocab_size, embedding_size, hidden_size, cell, num_layers):
        super().__init__()
        check_positive_ints(vocab_size=vocab_size, embedding_size=embedding_size, hidden_size=hidden_size,
                     num_layers=num_layers)
        _check_cell(cell)
        self.vocab_size, self.hidden_size, self.cell, self.num_layers = vocab_size, hidden_size, cell, num_layers
        self.embed = nn.Embedding(vocab_size, embedding_size)
        self.rnn = _CELLS[cell](embedding_size, hidden_size, num_layers=num_layers, batch_first=True)


class Encoder(_Recurrent):
    """Embedding and a recurrent layer over the source; padding never reaches the state.

        e = W_emb[src]                         (N, S, E)
        memory, state = rnn(e)                 (N, S, H); state after each sentence's last token

    The batch is packed (torch.nn.utils.rnn.pack_padded_sequence): the recurrence stops at
    each sentence's own length, so a padded sentence gets exactly the memory and state it gets
    alone, and memory is 0 at the padded positions.

    Args:
        vocab_size: V_src. embedding_size: E. hidden_size: H.
        cell: "gru" or "lstm". num_layers: L, stacked layers.
    """

    def __init__(self, vocab_size, embedding_size, hidden_size, cell="gru", num_layers=1):
        super().__init__(vocab_size, embedding_size, hidden_size, cell, num_layers)

    def forward(self, src, src_lengths):
        """src: (N, S) int64, src_lengths: (N,) in [1, S] -> (memory (N, S, H), state)."""
        e = self.embed(src)                                                    # (N, S, E)
        packed = pack_padded_sequence(e, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (N, S, H)
        return memory, state


class Decoder(_Recurrent):
    """Embedding, a recurrent layer and an output layer; reads the previous target token.

        e = W_emb[tgt_in]                      (N, T, E)
        h, state = rnn(e, state)               (N, T, H)   state starts as the encoder's
        logits = h W_out + b                   (N, T, V)

    Teacher forcing: tgt_in holds the true previous tokens, so one call computes every step.
    memory and src_mask are accepted and ignored (the interface of AttentionDecoder): all the
    decoder knows of the source is the state it starts from.

    Args:
        vocab_size: V. embedding_size: E. hidden_size: H (the encoder's).
        cell: "gru" or "lstm". num_layers: L (the encoder's).
    """

    def __init__(self, vocab_size, embedding_size, hidden_size, cell="gru", num_layers=1):
        super().__init__(vocab_size, embedding_size, hidden_size, cell, num_layers)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, tgt_in, state, memory=None, src_mask=None):
        """tgt_in: (N, T) int64 -> (logits (N, T, V), state after the last step, None)."""
        h, state = self.rnn(self.embed(tgt_in), state)                         # (N, T, H)
        return self.out(h), state, None


def attention(query, memory, src_mask, score="dot", W_q=None, W_k=None, v=None):
    """Attention of every decoder step over the source positions, padding masked.

        dot (Luong et al. 2015):       e_ts = query_t . memory_s
        additive (Bahdanau et al. 2015): e_ts = v . tanh(query_t W_q + memory_s W_k)
        e_ts = -inf where src_mask[s] is False          (before the softmax: weight exactly 0)
        a_ts = exp(e_ts) / sum_s' exp(e_ts')            each row sums to 1 over real positions
        c_t  = sum_s a_ts memory_s

    Args:
        query: (N, T, H) decoder states. memory: (N, S, H) encoder outputs.
        src_mask: (N, S) bool, True at real positions (at least one per row).
        score: "dot" or "additive".
        W_q: (H, A), W_k: (H, A), v: (A,), the parameters of the additive score (A: its size).
    Returns:
        (context (N, T, H), weights (N, T, S)).
    """
    if score == "dot":
        e = query @ memory.transpose(1, 2)                                     # (N, T, S)
    elif score == "additive":
        q, k = query @ W_q, memory @ W_k                                       # (N, T, A), (N, S, A)
        e = torch.tanh(q[:, :, None, :] + k[:, None, :, :]) @ v                # (N, T, S, A) -> (N, T, S)
    else:
        raise ValueError(f'score must be "dot" or "additive", got {score!r}')
    e = e.masked_fill(~src_mask[:, None, :], float("-inf"))
    weights = torch.softmax(e, dim=-1)                                         # (N, T, S)
    return weights @ memory, weights                                           # (N, T, H)


class AttentionDecoder(_Recurrent):
    """A decoder that looks back at every source position at every step (Luong et al. 2015,
    global attention, without input feeding).

        e = W_emb[tgt_in]                      (N, T, E)
        h, state = rnn(e, state)               (N, T, H)
        c, a = attention(h, memory, src_mask, score)         (N, T, H), (N, T, S)
        o = tanh([c ; h] W_c)                  (N, T, H)   the attentional state
        logits = o W_out + b                   (N, T, V)

    The query is the current state h_t; Bahdanau et al. scored with the previous state and fed
    the context into the cell. Here the recurrence does not depend on the context, so teacher
    forcing still runs the whole target in one call.

    In torch's storage: W_c = combine.weight.T (2H, H), W_q = W_q.weight.T (H, A),
    W_k = W_k.weight.T (H, A), v = v.weight[0] (A,).

    Args:
        vocab_size: V. embedding_size: E. hidden_size: H (the encoder's).
        cell: "gru" or "lstm". num_layers: L (the encoder's).
        score: "dot" or "additive". attention_size: A, the additive score's hidden size
            (default H).
    """

    def __init__(self, vocab_size, embedding_size, hidden_size, cell="gru", num_layers=1, score="dot",
                 attention_size=None):
        super().__init__(vocab_size, embedding_size, hidden_size, cell, num_layers)
        if score not in ("dot", "additive"):
            raise ValueError(f'score must be "dot" or "additive", got {score!r}')
        self.score = score
        if score == "additive":
            A = hidden_size if attention_size is None else attention_size
            check_positive_ints(attention_size=A)
            self.W_q = nn.Linear(hidden_size, A, bias=False)
            self.W_k = nn.Linear(hidden_size, A, bias=False)
            self.v = nn.Linear(A, 1, bias=False)
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, tgt_in, state, memory, src_mask):
        """tgt_in: (N, T) int64 -> (logits (N, T, V), state after the last step, attn (N, T, S))."""
        h, state = self.rnn(self.embed(tgt_in), state)                         # (N, T, H)
        extra = {}
        if self.score == "additive":
            extra = dict(W_q=self.W_q.weight.T, W_k=self.W_k.weight.T, v=self.v.weight[0])
        c, a = attention(h, memory, src_mask, self.score, **extra)            # (N, T, H), (N, T, S)
        o = torch.tanh(self.combine(torch.cat([c, h], dim=-1)))               # (N, T, 2H) -> (N, T, H)
        return self.out(o), state, a                                           # (N, T, V)


class Seq2Seq(nn.Module):
    """An encoder and a decoder that starts from the encoder's last state.

        memory, state = encoder(src, src_lengths)
        logits, _, attn = decoder(tgt_in, state, memory, src_mask)

    Args:
        encoder: an Encoder. decoder: a Decoder or an AttentionDecoder with the same cell,
            hidden size and number of layers (the decoder's initial state is the encoder's).
    Attributes:
        src_vocab_size (V_src), tgt_vocab_size (V).
    """

    def __init__(self, encoder, decoder):
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise TypeError(f"encoder must be a course_lib.seq2seq.Encoder, got {type(encoder).__name__}")
        if not isinstance(decoder, (Decoder, AttentionDecoder)):
            raise TypeError(f"decoder must be a Decoder or an AttentionDecoder, got {type(decoder).__name__}")
        enc = (encoder.cell, encoder.num_layers, encoder.hidden_size)
        dec = (decoder.cell, decoder.num_layers, decoder.hidden_size)
        if enc != dec:
            raise ValueError("the decoder starts from the encoder's last state, so both need the same "
                             f"(cell, layers, hidden size): encoder {enc}, decoder {dec}")
        self.encoder, self.decoder = encoder, decoder

    @property
    def src_vocab_size(self):
        return self.encoder.vocab_size

    @property
    def tgt_vocab_size(self):
        return self.decoder.vocab_size

    def encode(self, src, src_lengths):
        """-> (memory (N, S, H), state, src_mask (N, S) bool)."""
        memory, state = self.encoder(src, src_lengths)
        src_mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_lengths[:, None].to(src.device)
        return memory, state, src_mask

    def decode(self, tgt_in, state, memory, src_mask):
        """-> (logits (N, T, V), state, attn (N, T, S) or None); tgt_in (N, 1) is one step."""
        return self.decoder(tgt_in, state, memory, src_mask)

    def forward(self, src, src_lengths, tgt_in):
        """Teacher-forced: (src (N, S), src_lengths (N,), tgt_in (N, T)) -> (logits (N, T, V), attn)."""
        memory, state, src_mask = self.encode(src, src_lengths)
        logits, _, attn = self.decode(tgt_in, state, memory, src_mask)
        return logits, attn


def build_seq2seq(src_vocab_size, tgt_vocab_size, *, embedding_size=32, hidden_size=64, cell="gru",
                  num_layers=1, attention=None, attention_size=None):
    """A Seq2Seq of an Encoder and a Decoder (attention=None) or an AttentionDecoder
    (attention="dot" or "additive") of matching sizes."""
    if attention not in (None, "dot", "additive"):
        raise ValueError(f'attention must be None, "dot" or "additive", got {attention!r}')
    encoder = Encoder(src_vocab_size, embedding_size, hidden_size, cell, num_layers)
    if attention is None:
        decoder = Decoder(tgt_vocab_size, embedding_size, hidden_size, cell, num_layers)
    else:
        decoder = AttentionDecoder(tgt_vocab_size, embedding_size, hidden_size, cell, num_layers,
                                   score=attention, attention_size=attention_size)
    return Seq2Seq(encoder, decoder)


# ----------------------------------------------------------------------------- validation

def _check_model(model):
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"model must be a course_lib.seq2seq.Seq2Seq, got {type(model).__name__}")


def _check_ids(name, ids, V, lengths=None, vocab="target"):
    """ids: (N, T) tensor; values in [0, V) at the real positions (t < lengths[n], or all)."""
    if ids.numel() == 0:
        return
    real = ids if lengths is None else ids[torch.arange(ids.shape[1])[None, :] < lengths[:, None]]
    bad = (real < 0) | (real >= V)
    if bad.any():
        value = int(real[bad][0])
        raise ValueError(f"{name} holds the id {value}, but the model's {vocab} vocabulary has "
                         f"{V} symbols (ids 0..{V - 1}): was the model built for this vocabulary?")


def _check_source(model, src, src_lengths):
    """src (N, S) and src_lengths (N,) as int64 tensors, checked against the encoder."""
    src = torch.as_tensor(src)
    src_lengths = torch.as_tensor(src_lengths)
    if src.ndim != 2 or src.dtype != torch.int64:
        raise ValueError(f"src must be an (N, S) int64 tensor, got shape {tuple(src.shape)} and {src.dtype}")
    N, S = src.shape
    if src_lengths.shape != (N,) or src_lengths.dtype != torch.int64:
        raise ValueError(f"src_lengths must be an (N,) = ({N},) int64 tensor, got shape "
                         f"{tuple(src_lengths.shape)} and {src_lengths.dtype}")
    if N == 0:
        raise ValueError("src must hold at least one sentence, got N = 0")
    bad = (src_lengths < 1) | (src_lengths > S)
    if bad.any():
        n = int(bad.nonzero()[0, 0])
        raise ValueError(f"src_lengths must be in [1, S] = [1, {S}] (an empty source cannot be "
                         f"encoded), got {int(src_lengths[n])} at index {n}")
    _check_ids("src", src, model.src_vocab_size, src_lengths, vocab="source")
    return src, src_lengths


def _check_symbol(name, value, V):
    if not is_int(value) or not 0 <= value < V:
        raise ValueError(f"{name} must be a target id in [0, V) = [0, {V}), got {value!r}")
    return int(value)


def _check_search(model, src, src_lengths, max_len, bos, eos, beam_size=1, n_best=1, length_norm=0.0):
    _check_model(model)
    src, src_lengths = _check_source(model, src, src_lengths)
    V = model.tgt_vocab_size
    bos, eos = _check_symbol("bos", bos, V), _check_symbol("eos", eos, V)
    _check_search_options(max_len, beam_size, n_best, length_norm)
    return src, src_lengths, bos, eos


def _check_search_options(max_len, beam_size=1, n_best=1, length_norm=0.0):
    if not is_int(max_len) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
    if not is_int(beam_size) or beam_size < 1:
        raise ValueError(f"beam_size must be an int >= 1, got {beam_size!r}")
    if not is_int(n_best) or not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be an int in [1, beam_size] = [1, {beam_size}], got {n_best!r}")
    if not is_real(length_norm) or not (math.isfinite(length_norm) and length_norm >= 0):
        raise ValueError(f"length_norm (alpha) must be a finite number >= 0, got {length_norm!r}")


# ----------------------------------------------------------------------------- batches

class Batch(NamedTuple):
    """A teacher-forcing batch: sources and targets padded, the target shifted by one.

    Attributes:
        src: (N, S) int64, each source (reversed if asked) then pad.
        src_lengths: (N,) int64.
        tgt_in: (N, T) int64, [bos, y_1, ..., y_m] then pad (the decoder's inputs).
        tgt_out: (N, T) int64, [y_1, ..., y_m, eos] then pad (what it must predict).
        pad: the padding id; positions with tgt_out == pad are not scored.
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    pad: int


def source_batch(sources, reverse_source=False, pad=0):
    """Source id sequences as a padded batch, each reversed first if asked.

        src[n] = x_n (or x_n reversed: x_{n,T_n}, ..., x_{n,1}), then pad

    Args:
        sources: list of N (S_n,) id sequences, S_n >= 1.
        reverse_source: reverse each sentence (Sutskever et al. 2014); padding stays at the end.
        pad: the padding id.
    Returns:
        (src (N, S), src_lengths (N,)), int64 tensors.
    """
    if not isinstance(sources, (list, tuple)) or not sources:
        raise ValueError("sources must be a non-empty list of (S_n,) id sequences")
    for i, s in enumerate(sources):
        if len(s) == 0:
            raise ValueError(f"sources[{i}] is empty; every source needs at least one token")
    return pad_batch([np.asarray(s)[::-1] if reverse_source else s for s in sources], pad)


def target_batch(targets, bos, eos, pad=0):
    """Targets as the decoder's inputs and outputs of teacher forcing, padded at the end.

        tgt_in[n]  = [bos, y_1, ..., y_m] + pad...
        tgt_out[n] = [y_1, ..., y_m, eos] + pad...

    Args:
        targets: list of N (m_n,) id sequences, without bos and eos (m_n >= 0), none holding pad.
        bos, eos, pad: the special ids (Vocab.bos, Vocab.eos, Vocab.pad).
    Returns:
        (tgt_in, tgt_out): two (N, max m_n + 1) int64 tensors.
    """
    if not isinstance(targets, (list, tuple)) or not targets:
        got = "an empty list" if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise ValueError(f"targets must be a non-empty list of (m_n,) id sequences, got {got}")
    for name, value in [("bos", bos), ("eos", eos), ("pad", pad)]:
        if not is_int(value) or value < 0:
            raise ValueError(f"{name} must be an id, an int >= 0, got {value!r}")
    y, lengths = pad_batch(list(targets), pad)                                 # (N, m), (N,)
    bad = (torch.arange(y.shape[1])[None, :] < lengths[:, None]) & (y == pad)
    if bad.any():
        n, t = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"targets[{n}] holds the padding id {pad} at position {t}; targets must not "
                         "contain pad (its positions are not scored)")
    N = len(targets)
    tgt_in = torch.cat([torch.full((N, 1), bos), y], dim=1)                    # (N, m + 1)
    tgt_out = torch.cat([y, torch.full((N, 1), pad)], dim=1)                   # (N, m + 1)
    tgt_out[torch.arange(N), lengths] = eos
    return tgt_in, tgt_out


def make_batch(sources, targets, bos, eos, pad=0, reverse_source=False):
    """Padded teacher-forcing batch of (source, target) id sequences.

        tgt_in[n]  = [bos, y_1, ..., y_m] + pad...          (target_batch)
        tgt_out[n] = [y_1, ..., y_m, eos] + pad...

    Args:
        sources: list of N (S_n,) id sequences (S_n >= 1).
        targets: list of N (m_n,) id sequences, without bos and eos (m_n >= 0), none holding pad.
        bos, eos, pad: the special ids (Vocab.bos, Vocab.eos, Vocab.pad).
        reverse_source: see source_batch.
    Returns:
        Batch(src, src_lengths, tgt_in, tgt_out, pad).
    """
    if not isinstance(targets, (list, tuple)) or len(targets) != len(sources):
        got = len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise ValueError(f"targets must be a list with one target per source ({len(sources)}), got {got}")
    src, src_lengths = source_batch(sources, reverse_source, pad)
    tgt_in, tgt_out = target_batch(targets, bos, eos, pad)
    return Batch(src, src_lengths, tgt_in, tgt_out, int(pad))


def random_batch(sources, targets, batch_size, rng, bos, eos, pad=0, reverse_source=False):
    """make_batch of batch_size pairs drawn without replacement (with replacement if there are
    fewer pairs than batch_size): a `batches(rng)` for course_lib.training.train.

        i_1..i_B ~ rng.choice(len(sources), batch_size),   make_batch([sources[i]], [targets[i]], ...)
    """
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if len(sources) != len(targets) or not sources:
        raise ValueError(f"sources and targets must be non-empty lists of the same length, got "
                         f"{len(sources)} and {len(targets)}")
    idx = rng.choice(len(sources), batch_size, replace=batch_size > len(sources))
    return make_batch([sources[i] for i in idx], [targets[i] for i in idx], bos, eos, pad, reverse_source)


# ----------------------------------------------------------------------------- loss

def sequence_loss(logits, targets, pad_id):
    """Teacher-forced cross-entropy, averaged per target token; padding is not scored.

        loss = -(1 / #{(n, t): targets[n, t] != pad_id})
               sum_{n, t: targets[n, t] != pad_id} log softmax(logits[n, t])_{targets[n, t]}

    A per-token mean: a long sentence weighs more than a short one, by its number of tokens
    (torch.nn.functional.cross_entropy with ignore_index=pad_id). exp(loss) is the perplexity
    per target token. (course_lib.layers.temporal_softmax_loss instead sums over time and
    averages over the batch: a per-sequence mean.)

    Args:
        logits: (N, T, V) float tensor.
        targets: (N, T) int64 tensor, pad_id where nothing is scored.
        pad_id: the padding id.
    Returns:
        scalar tensor, nats per scored token.
    """
    if not (isinstance(logits, torch.Tensor) and isinstance(targets, torch.Tensor)):
        raise TypeError("logits and targets must be torch tensors")
    if logits.ndim != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (N, T, V) and targets (N, T) with the same N and T, got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")
    if targets.dtype != torch.int64:
        raise ValueError(f"targets must be an int64 tensor, got {targets.dtype}")
    V = logits.shape[-1]
    if not is_int(pad_id):
        raise ValueError(f"pad_id must be an int, got {pad_id!r}")
    scored = targets != pad_id
    if not scored.any():
        raise ValueError(f"targets has no scored position (every entry is pad_id = {pad_id})")
    bad = scored & ((targets < 0) | (targets >= V))
    if bad.any():
        n, t = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"targets must hold ids in [0, V) = [0, {V}) or pad_id, got "
                         f"{int(targets[n, t])} at index {(n, t)}")
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=pad_id)


def seq2seq_loss(model, batch):
    """sequence_loss of the teacher-forced model on a Batch: the loss_fn of
    course_lib.training.train(model, seq2seq_loss, batches, n_steps, ...)."""
    _check_model(model)
    if not isinstance(batch, Batch):
        raise TypeError(f"batch must be a course_lib.seq2seq.Batch (make_batch), got {type(batch).__name__}")
    _check_ids("batch.src", batch.src, model.src_vocab_size, batch.src_lengths, vocab="source")
    _check_ids("batch.tgt_in", batch.tgt_in, model.tgt_vocab_size)
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)              # (N, T, V)
    return sequence_loss(logits, batch.tgt_out, batch.pad)


# ----------------------------------------------------------------------------- decoding

@dataclass
class Hypothesis:
    """One output of a search.

    Attributes:
        tokens: the output ids, ending with eos when finished (bos not included).
        score: log p(tokens | source) = sum_t log p(y_t | y_<t, x), in nats.
        normalised: score / length_penalty(len(tokens), alpha), the ranking criterion of the
            search (= score for alpha = 0).
        finished: True if the output ends with eos; False if it stopped at max_len.
    """

    tokens: list
    score: float
    normalised: float
    finished: bool


def length_penalty(length, alpha):
    """The length normalisation of Wu et al. 2016 (GNMT):

        lp(|y|) = ((5 + |y|) / 6) ^ alpha,      normalised score = log p(y | x) / lp(|y|)

    |y| counts every output token, eos included. alpha = 0: lp = 1, the raw log-probability
    (which favours short outputs); larger alpha favours longer ones.
    """
    return ((5 + length) / 6) ** alpha


def _select_state(state, index):
    """Rows `index` of a recurrent state (L, N, H), or of both parts of an LSTM's (h, c)."""
    if isinstance(state, tuple):
        return tuple(s[:, index] for s in state)
    return state[:, index]


def _log_probs(model, y_prev, state, memory, src_mask):
    """One decoding step: (N,) previous tokens -> (log p (N, V) float64, new state)."""
    logits, state, _ = model.decode(y_prev[:, None], state, memory, src_mask)  # (N, 1, V)
    return torch.log_softmax(logits[:, 0].double(), dim=-1), state


def _hypothesis(tokens, score, eos, alpha):
    return Hypothesis(list(tokens), float(score), float(score / length_penalty(len(tokens), alpha)),
                      bool(tokens) and tokens[-1] == eos)


def _best(hypotheses, n_best):
    """The n_best by normalised score, best first (stable: ties keep the order found)."""
    return sorted(hypotheses, key=lambda h: -h.normalised)[:n_best]


def _check_step_inputs(step, state, context, bos, eos):
    """N, the number of outputs searched, from a search core's arguments (checked)."""
    if not callable(step):
        raise TypeError(f"step must be a callable step(y_prev, state, context) -> (log_p, state), "
                        f"got {type(step).__name__}")
    parts = state if isinstance(state, tuple) else (state,)
    if not parts or not all(isinstance(s, torch.Tensor) and s.ndim == 3 for s in parts):
        raise ValueError("state must be an (L, N, H) tensor or a tuple of them (an LSTM's (h, c))")
    N = parts[0].shape[1]
    if N == 0 or any(s.shape[1] != N for s in parts):
        raise ValueError(f"every part of state must hold the same N >= 1 rows on axis 1, got shapes "
                         f"{[tuple(s.shape) for s in parts]}")
    if not isinstance(context, tuple) or any(not isinstance(c, torch.Tensor) or c.shape[:1] != (N,)
                                             for c in context):
        raise ValueError(f"context must be a tuple of tensors with N = {N} rows on axis 0 (the state's)")
    for name, value in [("bos", bos), ("eos", eos)]:
        if not is_int(value) or value < 0:
            raise ValueError(f"{name} must be an id, an int >= 0, got {value!r}")
    return N


def _step(step, y, state, context, eos):
    """step(y, state, context), its log_p checked: (M, V) float64 with eos < V."""
    log_p, state = step(y, state, context)
    if not isinstance(log_p, torch.Tensor) or log_p.shape[:1] != y.shape or log_p.ndim != 2:
        got = tuple(log_p.shape) if isinstance(log_p, torch.Tensor) else type(log_p).__name__
        raise ValueError(f"step must return log_p of shape (M, V) with M = {len(y)}, got {got}")
    if eos >= log_p.shape[1]:
        raise ValueError(f"eos must be an id in [0, V) = [0, {log_p.shape[1]}), got {eos}")
    return log_p.double(), state


@torch.no_grad()
def search_greedy(step, state, context, max_len, bos, eos):
    """Greedy search with any decoder, given as one decoding step: the search of greedy_decode
    (and of course_lib.captioning), apart from the model.

        y_0 = bos;   log_p_t, state = step(y_{t-1}, state, context)
        y_t = argmax_v log_p_t[v],   until y_t = eos or t = max_len

    Args:
        step: step(y_prev, state, context) -> (log_p, state), one step of M outputs at once:
            y_prev (M,) int64 the previous tokens, log_p (M, V) their next-token log-probabilities.
        state: the decoder's state of the N outputs, an (L, N, H) tensor or a tuple of them
            (an LSTM's (h, c)).
        context: a tuple of (N, ...) tensors the step reads at every step (a source's memory and
            mask, an image's features), possibly empty.
        max_len: most output tokens (eos included), >= 1. bos, eos: the start and end ids.
    Returns:
        list of N Hypothesis (normalised = score); nothing follows an eos.
    """
    N = _check_step_inputs(step, state, context, bos, eos)
    _check_search_options(max_len)
    y = torch.full((N,), bos, dtype=torch.int64)
    scores = torch.zeros(N, dtype=torch.float64)
    alive = torch.ones(N, dtype=torch.bool)
    out = torch.full((N, max_len), eos, dtype=torch.int64)
    lengths = torch.full((N,), max_len, dtype=torch.int64)
    for t in range(max_len):
        log_p, state = _step(step, y, state, context, eos)                     # (N, V)
        best, y = log_p.max(dim=-1)                                            # (N,), (N,)
        scores += torch.where(alive, best, 0.0)
        out[alive, t] = y[alive]
        ended = alive & (y == eos)
        lengths[ended] = t + 1
        alive &= ~ended
        if not alive.any():
            break
    return [Hypothesis(out[n, :lengths[n]].tolist(), float(scores[n]), float(scores[n]),
                       bool(out[n, lengths[n] - 1] == eos)) for n in range(N)]


@torch.no_grad()
def search_beam(step, state, context, beam_size, max_len, bos, eos, n_best=1, length_norm=0.0):
    """Beam search with any decoder, given as one decoding step: the search of beam_search (and
    of course_lib.captioning), apart from the model. See beam_search for the algorithm.

    Row n K + k of the searched batch is hypothesis k of output n: the context is repeated K
    times once, and the state's rows follow their hypotheses at every step.

    Args:
        step, state, context, max_len, bos, eos: as search_greedy.
        beam_size: K >= 1. n_best: hypotheses returned per output, 1 <= n_best <= K.
        length_norm: alpha >= 0 of length_penalty.
    Returns:
        list of N lists of at most n_best Hypothesis, best normalised score first.
    """
    N = _check_step_inputs(step, state, context, bos, eos)
    _check_search_options(max_len, beam_size, n_best, length_norm)
    alpha, K = float(length_norm), beam_size
    rows = torch.arange(N).repeat_interleave(K)                                # row n K + k: output n
    context, state = tuple(c[rows] for c in context), _select_state(state, rows)
    scores = torch.full((N, K), float("-inf"), dtype=torch.float64)            # -inf: no hypothesis
    scores[:, 0] = 0.0
    tokens = torch.zeros((N, K, 0), dtype=torch.int64)
    y = torch.full((N * K,), bos, dtype=torch.int64)
    finished = [[] for _ in range(N)]
    kth = torch.full((N,), float("-inf"), dtype=torch.float64)                # n_best-th finished
    lp_max = length_penalty(max_len, alpha)
    for t in range(max_len):
        log_p, state = _step(step, y, state, context, eos)                     # (N K, V)
        V = log_p.shape[1]
        cand = (scores[:, :, None] + log_p.view(N, K, V)).view(N, K * V)       # (N, K V)
        # at most K candidates end in eos (one per live hypothesis), so the 2K best hold
        # the K best that do not
        top, idx = cand.topk(min(2 * K, K * V), dim=1)                         # (N, M), best first
        beam, tok = idx // V, idx % V
        real = torch.isfinite(top)
        ends = real & (tok == eos)
        for n, j in (ends[:, :K]).nonzero().tolist():                         # eos among the K best
            seq = tokens[n, beam[n, j]].tolist() + [eos]
            finished[n].append(_hypothesis(seq, top[n, j].item(), eos, alpha))
            if len(finished[n]) >= n_best:
                kth[n] = sorted((h.normalised for h in finished[n]), reverse=True)[n_best - 1]
        goes_on = real & (tok != eos)
        keep = torch.argsort((~goes_on).to(torch.int8), dim=1, stable=True)[:, :K]  # (N, K)
        scores = torch.where(goes_on.gather(1, keep), top.gather(1, keep), float("-inf"))
        beam, tok = beam.gather(1, keep), tok.gather(1, keep)                  # (N, K)
        tokens = torch.cat([tokens.gather(1, beam[:, :, None].expand(-1, -1, t)), tok[:, :, None]], dim=2)
        state = _select_state(state, (torch.arange(N)[:, None] * K + beam).view(-1))
        y = tok.view(-1)
        scores[scores[:, 0] / lp_max <= kth] = float("-inf")                  # early stop
        if not torch.isfinite(scores).any():
            break
    results = []
    for n, (row_scores, row_tokens) in enumerate(zip(scores.tolist(), tokens.tolist())):
        live = [_hypothesis(y, s, eos, alpha) for y, s in zip(row_tokens, row_scores) if math.isfinite(s)]
        results.append(_best(finished[n] + live, n_best))
    return results


def _model_step(model):
    """A Seq2Seq's decoding step for the search cores: context = (memory, src_mask)."""
    return lambda y, state, context: _log_probs(model, y, state, *context)


@torch.no_grad()
def greedy_decode(model, src, src_lengths, max_len, bos, eos):
    """The most likely next token at every step, for a whole batch at once.

        y_t = argmax_v p(v | y_<t, x),   until y_t = eos or t = max_len

    Args:
        model: a Seq2Seq (run in eval mode here).
        src: (N, S) int64, src_lengths: (N,) int64 in [1, S].
        max_len: most output tokens (eos included), >= 1.
        bos, eos: the target ids that start and end an output.
    Returns:
        list of N Hypothesis (normalised = score); nothing follows an eos.
    """
    src, src_lengths, bos, eos = _check_search(model, src, src_lengths, max_len, bos, eos)
    was_training = model.training
    model.eval()
    try:
        memory, state, src_mask = model.encode(src, src_lengths)
        return search_greedy(_model_step(model), state, (memory, src_mask), max_len, bos, eos)
    finally:
        model.train(was_training)


@torch.no_grad()
def beam_search(model, src, src_lengths, beam_size, max_len, bos, eos, n_best=1, length_norm=0.0):
    """Keep the beam_size best partial outputs of each source; extend, rank, prune, repeat.

        step t: every live hypothesis y_<t with score s extends by every v:
                    s' = s + log p(v | y_<t, x)               (K V candidates per source)
                rank the candidates by s'; among the K best, those ending in eos are finished
                and leave the beam; the K best that do not end in eos form the next beam
        stop:   at max_len (live hypotheses are kept as unfinished), or once no live hypothesis
                can beat the n_best-th finished one:
                    best live s / lp(max_len) <= n_best-th best normalised finished score
                (scores only fall as tokens are added, and s / lp(|y|) <= s / lp(max_len) for
                s <= 0, so this bound holds; it changes no result)
        rank:   all finished and unfinished hypotheses by score / lp(|y|), lp = length_penalty

    With beam_size = 1 and length_norm = 0 this is greedy_decode; with a beam as large as the
    search space it is exhaustive_decode. The sources are searched side by side: the batch
    holds N K hypotheses (search_beam, the search apart from the model).

    Args:
        model: a Seq2Seq (run in eval mode here).
        src: (N, S) int64, src_lengths: (N,) int64 in [1, S].
        beam_size: K >= 1. max_len: most output tokens (eos included), >= 1.
        bos, eos: target ids. n_best: hypotheses returned per source, 1 <= n_best <= K.
        length_norm: alpha >= 0 of length_penalty (Wu et al. 2016: ((5 + |y|) / 6) ^ alpha).
    Returns:
        list of N lists of at most n_best Hypothesis, best normalised score first.
    """
    src, src_lengths, bos, eos = _check_search(model, src, src_lengths, max_len, bos, eos, beam_size,
                                               n_best, length_norm)
    was_training = model.training
    model.eval()
    try:
        memory, state, src_mask = model.encode(src, src_lengths)
        return search_beam(_model_step(model), state, (memory, src_mask), beam_size, max_len, bos, eos,
                           n_best, length_norm)
    finally:
        model.train(was_training)


@torch.no_grad()
def exhaustive_decode(model, src, src_lengths, max_len, bos, eos, n_best=1, length_norm=0.0,
                      max_outputs=100_000):
    """Score every possible output and keep the best: the exact answer that beam search
    approximates, for tiny vocabularies and lengths only.

        outputs = {y : y ends with its only eos, |y| <= max_len}
                  U {y : no eos, |y| = max_len}                (cut off, unfinished)
        |outputs| = sum_{l=1..max_len} (V - 1)^(l - 1) + (V - 1)^max_len
        rank by score / length_penalty(|y|, length_norm)

    Each source is encoded alone (no padding) and its outputs are extended level by level,
    all prefixes of one length in one batch.

    Args:
        model, src, src_lengths, max_len, bos, eos, n_best, length_norm: as beam_search
            (n_best is not limited by a beam).
        max_outputs: refuse a search space larger than this.
    Returns:
        list of N lists of n_best Hypothesis, best normalised score first.
    """
    src, src_lengths, bos, eos = _check_search(model, src, src_lengths, max_len, bos, eos, n_best, n_best,
                                               length_norm)
    V = model.tgt_vocab_size
    size = sum((V - 1) ** (l - 1) for l in range(1, max_len + 1)) + (V - 1) ** max_len
    if size > max_outputs:
        raise ValueError(f"the search space holds {size:,} outputs (V = {V}, max_len = {max_len}), more "
                         f"than max_outputs = {max_outputs:,}; exhaustive search is for tiny models")
    alpha = float(length_norm)
    was_training = model.training
    model.eval()
    try:
        results = []
        for n in range(src.shape[0]):
            L = int(src_lengths[n])
            memory, state, src_mask = model.encode(src[n:n + 1, :L], src_lengths[n:n + 1])
            prefixes = torch.zeros((1, 0), dtype=torch.int64)                  # (P, t)
            scores = torch.zeros(1, dtype=torch.float64)
            y = torch.tensor([bos])
            found = []
            for _ in range(max_len):
                P = prefixes.shape[0]
                ones = torch.zeros(P, dtype=torch.int64)
                log_p, state = _log_probs(model, y, state, memory[ones], src_mask[ones])  # (P, V)
                for p in range(P):
                    found.append(_hypothesis(prefixes[p].tolist() + [eos], scores[p] + log_p[p, eos], eos,
                                             alpha))
                others = torch.tensor([v for v in range(V) if v != eos])
                parent = torch.arange(P).repeat_interleave(len(others))          # (P (V - 1),)
                y = others.repeat(P)
                scores = scores[parent] + log_p[parent, y]
                prefixes = torch.cat([prefixes[parent], y[:, None]], dim=1)
                state = _select_state(state, parent)
            found += [_hypothesis(prefixes[p].tolist(), scores[p], eos, alpha) for p in range(len(scores))]
            results.append(_best(found, n_best))
    finally:
        model.train(was_training)
    return results


@torch.no_grad()
def score(model, src, src_lengths, targets, bos):
    """The model's log-probability of given outputs, teacher-forced.

        score_n = sum_{t=1..|y_n|} log p(y_{n,t} | bos, y_{n,<t}, x_n)

    The tokens are scored exactly as given: to score a complete translation, end it with
    eos (the Hypothesis of a search already does). An empty output scores 0.

    Args:
        model: a Seq2Seq (run in eval mode here).
        src: (N, S) int64, src_lengths: (N,) int64 in [1, S].
        targets: list of N id sequences (in [0, V)).
        bos: the start id.
    Returns:
        (N,) float64 array of log-probabilities, in nats.
    """
    _check_model(model)
    src, src_lengths = _check_source(model, src, src_lengths)
    V = model.tgt_vocab_size
    bos = _check_symbol("bos", bos, V)
    if not isinstance(targets, (list, tuple)) or len(targets) != src.shape[0]:
        got = len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise ValueError(f"targets must be a list of N = {src.shape[0]} id sequences, got {got}")
    tgt, lengths = pad_batch([np.r_[bos, np.asarray(y, dtype=np.int64)] for y in targets], bos)
    _check_ids("targets", tgt, V)
    if tgt.shape[1] == 1:                                                      # every output empty
        return np.zeros(src.shape[0])
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(src, src_lengths, tgt[:, :-1])                        # (N, T, V)
    finally:
        model.train(was_training)
    log_p = torch.log_softmax(logits.double(), dim=-1).gather(2, tgt[:, 1:, None])[:, :, 0]  # (N, T)
    inside = torch.arange(tgt.shape[1] - 1)[None, :] < (lengths - 1)[:, None]
    return torch.where(inside, log_p, 0.0).sum(dim=1).numpy()


def translate(model, sentences, src_vocab, tgt_vocab, max_len, beam_size=1, length_norm=0.0,
              reverse_source=False, batch_size=500):
    """Token lists in, token lists out: encode with the vocabularies, search, decode.

        y = greedy_decode (beam_size = 1) or the best of beam_search;  tokens up to eos

    Args:
        model: a Seq2Seq built for the two vocabularies (sizes checked).
        sentences: list of source token lists (unknown tokens become <unk>).
        src_vocab, tgt_vocab: course_lib.data.Vocab of source and target.
        max_len: most output tokens (eos included).
        beam_size, length_norm: see beam_search.
        reverse_source: as the model was trained (make_batch).
        batch_size: sentences searched at once.
    Returns:
        list of target token lists (without eos).
    """
    _check_model(model)
    for side, vocab, size in [("source", src_vocab, model.src_vocab_size),
                              ("target", tgt_vocab, model.tgt_vocab_size)]:
        if len(vocab) != size:
            raise ValueError(f"the {side} vocabulary has {len(vocab)} tokens but the model's "
                             f"{'encoder' if side == 'source' else 'decoder'} has {size}: the model was "
                             "built for another vocabulary")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    out = []
    for a in range(0, len(sentences), batch_size):
        src, src_lengths = source_batch([src_vocab.encode(s) for s in sentences[a:a + batch_size]],
                                        reverse_source, src_vocab.pad)
        if beam_size == 1 and length_norm == 0:
            hyps = greedy_decode(model, src, src_lengths, max_len, tgt_vocab.bos, tgt_vocab.eos)
        else:
            hyps = [h[0] for h in beam_search(model, src, src_lengths, beam_size, max_len, tgt_vocab.bos,
                                              tgt_vocab.eos, length_norm=length_norm)]
        out += [tgt_vocab.decode(h.tokens) for h in hyps]
    return out
