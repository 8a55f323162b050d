"""Image captioning in torch: a small convolutional encoder turns an image into a feature vector,
an LSTM decoder writes its caption one word at a time; the image conditions the decoder through
its initial state, through its input at every step, or both. Teacher forcing for training,
greedy and beam search (those of course_lib.seq2seq) for captioning, BLEU and exact match for
evaluation, and the decoder's loss and gradients again with the NumPy layers of the course.

Shape legend:
    N  batch (images)                 images (N, 8, W) float    pixel rows x columns, in [0, 1]
    W  image width (8 per digit)      x (N, 1, 8, W)            images as the encoder reads them
    F  feature size                   features (N, F)           the encoder's output
    T  caption steps                  tgt_in (N, T) int         [<bos>, w_1, ..., w_{T-1}]
    E  word embedding size            tgt_out (N, T) int        [w_1, ..., w_{T-1}, <eos>], pad after
    H  hidden size                    h0, c0 (1, N, H)          the decoder's initial state
    V  vocabulary (with <pad>, <bos>, logits (N, T, V)          unnormalised log p(w_t | w_<t, image)
       <eos>, <unk>)                  D  the LSTM's input size: E, or E + F with the image as input
    K  beam size

The model factorises the probability of a caption w = (w_1, ..., w_|w|), which ends with <eos>:

    f   = CNN(image)                                        (N, F)
    h_0 = tanh(f W_init + b_init)   ("init", "both");  0 ("input");     c_0 = 0
    x_t = W_emb[w_{t-1}]            ("init");  [W_emb[w_{t-1}] ; f]  ("input", "both");  w_0 = <bos>
    h_t, c_t = LSTM(x_t, h_{t-1}, c_{t-1})
    p(w_t | w_<t, image) = softmax(h_t W_out + b_out)
    log p(w | image)     = sum_t log p(w_t | w_<t, image)

"init" is the image as the decoder's starting point (Vinyals et al. 2015 feed it once, as the
input before <bos>; CS231n sets h_0 from it), "input" shows it again at every step (Mao et al.
2015, m-RNN; Donahue et al. 2015, LRCN). c_0 = 0 always, as in course_lib.lstm.lstm_forward, so
that the NumPy layers compute the same decoder (decoder_to_numpy, numpy_caption_loss).
"""

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from course_lib.bleu import corpus_bleu
from course_lib.data import Vocab
from course_lib.layers import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from course_lib.lstm import lstm_backward, lstm_forward
from course_lib.seq2seq import search_beam, search_greedy, sequence_loss, target_batch
from course_lib.training import evaluating, torch_to_numpy
from course_lib.validation import check_positive_ints, check_shape, is_int

__all__ = [
    "CONDITIONINGS",
    "CNNEncoder",
    "CaptionDecoder",
    "Captioner",
    "build_captioner",
    "CaptionBatch",
    "caption_batch",
    "random_caption_batch",
    "caption_loss",
    "greedy_caption",
    "beam_caption",
    "caption_images",
    "caption_scores",
    "decoder_to_numpy",
    "numpy_caption_loss",
]

CONDITIONINGS = ("init", "input", "both")
ROWS = 8                                     # every image has 8 pixel rows (scikit-learn's digits)


def _check_conditioning(conditioning):
    if conditioning not in CONDITIONINGS:
        raise ValueError(f'conditioning must be "init", "input" or "both", got {conditioning!r}')


# ----------------------------------------------------------------------------- the model

class CNNEncoder(nn.Module):
    """Two strided convolutions, then one affine layer: an image -> F features.

        a_1 = relu(conv_3x3,stride 2(x))              (N, C_1, 4, W/2)    padding 1
        a_2 = relu(conv_3x3,stride 2(a_1))            (N, C_2, 2, W/4)
        f   = flatten(a_2) W_f + b_f                  (N, C_2 * 2 * W/4) -> (N, F)

    A stride of 2 halves the image as max pooling would, at a third of the cost on a CPU (the
    all-convolutional net of Springenberg et al. 2015). The affine layer sees every position
    of a_2, so f still knows where in the image each stroke was: the decoder must say the
    digits from left to right. f is left linear; the decoder applies its own nonlinearity.
    The weights start as He et al. (2015) advise for ReLU layers; with PyTorch's default,
    smaller ones, the features of different images barely differ at first.

    Args:
        feature_size: F. image_width: W, a multiple of 4 (8 per digit slot).
        channels: (C_1, C_2), the numbers of filters of the two convolutions.
    """

    def __init__(self, feature_size=64, image_width=32, channels=(8, 16)):
        super().__init__()
        check_positive_ints(feature_size=feature_size, image_width=image_width)
        if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
            raise ValueError(f"channels must be a pair (C_1, C_2), got {channels!r}")
        check_positive_ints(C_1=channels[0], C_2=channels[1])
        if image_width % 4:
            raise ValueError(f"image_width must be a multiple of 4 (two strides of 2), got {image_width}")
        self.feature_size, self.image_width = feature_size, image_width
        C1, C2 = channels
        self.conv1 = nn.Conv2d(1, C1, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(C1, C2, 3, stride=2, padding=1)
        self.fc = nn.Linear(C2 * (ROWS // 4) * (image_width // 4), feature_size)
        for layer in (self.conv1, self.conv2, self.fc):                       # He et al. 2015
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        """x: (N, 1, 8, W) -> features (N, F)."""
        a = torch.relu(self.conv1(x))                                          # (N, C1, 4, W/2)
        a = torch.relu(self.conv2(a))                                          # (N, C2, 2, W/4)
        return self.fc(a.flatten(1))                                           # (N, F)


class CaptionDecoder(nn.Module):
    """An LSTM language model of captions, conditioned on image features.

        h_0 = tanh(f W_init + b_init)  ("init", "both"), 0 ("input");   c_0 = 0
        e   = W_emb[tgt_in]                                 (N, T, E)
        x   = e ("init"),  [e ; f at every step] ("input", "both")      (N, T, D)
        h, state = LSTM(x, state)                           (N, T, H)
        logits = h W_out + b_out                            (N, T, V)

    In torch's storage: W_emb = embed.weight (V, E), W_init = init.weight.T (F, H),
    b_init = init.bias, W_out = out.weight.T (H, V), b_out = out.bias; the LSTM's are mapped
    by course_lib.training.torch_to_numpy.

    Args:
        vocab_size: V. feature_size: F. embedding_size: E. hidden_size: H.
        conditioning: "init", "input" or "both".
    """

    def __init__(self, vocab_size, feature_size, embedding_size, hidden_size, conditioning="init"):
        super().__init__()
        check_positive_ints(vocab_size=vocab_size, feature_size=feature_size, embedding_size=embedding_size,
                     hidden_size=hidden_size)
        _check_conditioning(conditioning)
        self.vocab_size, self.feature_size, self.hidden_size = vocab_size, feature_size, hidden_size
        self.conditioning = conditioning
        self.embed = nn.Embedding(vocab_size, embedding_size)
        if conditioning in ("init", "both"):
            self.init = nn.Linear(feature_size, hidden_size)
        D = embedding_size + (feature_size if conditioning in ("input", "both") else 0)
        self.rnn = nn.LSTM(D, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, features):
        """features (N, F) -> (h0, c0), each (1, N, H)."""
        N = features.shape[0]
        c0 = features.new_zeros(1, N, self.hidden_size)
        if self.conditioning == "input":
            return c0.clone(), c0
        return torch.tanh(self.init(features))[None], c0                      # (1, N, H)

    def forward(self, tgt_in, state, features):
        """tgt_in: (N, T) int64, state (h, c), features (N, F) -> (logits (N, T, V), state)."""
        x = self.embed(tgt_in)                                                 # (N, T, E)
        if self.conditioning in ("input", "both"):
            x = torch.cat([x, features[:, None, :].expand(-1, x.shape[1], -1)], dim=2)  # (N, T, E + F)
        h, state = self.rnn(x, state)                                          # (N, T, H)
        return self.out(h), state


class Captioner(nn.Module):
    """A CNNEncoder and a CaptionDecoder of the same feature size.

        features = encoder(images);   logits, _ = decoder(tgt_in, decoder.initial_state(features), features)

    Args:
        encoder: a CNNEncoder. decoder: a CaptionDecoder with decoder.feature_size = encoder's F.
    Attributes:
        vocab_size (V), conditioning, image_width (W).
    """

    def __init__(self, encoder, decoder):
        super().__init__()
        if not isinstance(encoder, CNNEncoder):
            raise TypeError(f"encoder must be a CNNEncoder, got {type(encoder).__name__}")
        if not isinstance(decoder, CaptionDecoder):
            raise TypeError(f"decoder must be a CaptionDecoder, got {type(decoder).__name__}")
        if encoder.feature_size != decoder.feature_size:
            raise ValueError(f"the decoder reads the encoder's features: encoder F = {encoder.feature_size}, "
                             f"decoder F = {decoder.feature_size}")
        self.encoder, self.decoder = encoder, decoder

    @property
    def vocab_size(self):
        return self.decoder.vocab_size

    @property
    def conditioning(self):
        return self.decoder.conditioning

    @property
    def image_width(self):
        return self.encoder.image_width

    def encode(self, images):
        """images (N, 8, W) or (N, 1, 8, W), array or tensor -> features (N, F)."""
        return self.encoder(_image_tensor(self, images))

    def forward(self, images, tgt_in):
        """Teacher-forced: (images (N, 8, W), tgt_in (N, T)) -> logits (N, T, V)."""
        features = self.encode(images)
        _check_ids("tgt_in", tgt_in, self.vocab_size, len(features))
        logits, _ = self.decoder(tgt_in, self.decoder.initial_state(features), features)
        return logits


def build_captioner(vocab_size, *, conditioning="init", feature_size=64, embedding_size=16, hidden_size=64,
                    image_width=32, channels=(8, 16)):
    """A Captioner: CNNEncoder(feature_size, image_width, channels) and
    CaptionDecoder(vocab_size, feature_size, embedding_size, hidden_size, conditioning)."""
    encoder = CNNEncoder(feature_size, image_width, channels)
    return Captioner(encoder, CaptionDecoder(vocab_size, feature_size, embedding_size, hidden_size, conditioning))


# ----------------------------------------------------------------------------- validation

def _check_model(model):
    if not isinstance(model, Captioner):
        raise TypeError(f"model must be a course_lib.captioning.Captioner, got {type(model).__name__}")


def _image_tensor(model, images):
    """images (N, 8, W) or (N, 1, 8, W), NumPy or torch -> (N, 1, 8, W) in the model's dtype."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.ndim == 3:
        x = x[:, None]
    W = model.image_width
    if x.ndim != 4 or x.shape[1:] != (1, ROWS, W) or x.shape[0] == 0:
        raise ValueError(f"images must have shape (N, 8, W) = (N, 8, {W}) or (N, 1, 8, {W}) with N >= 1, "
                         f"got {tuple(images.shape) if hasattr(images, 'shape') else type(images).__name__}")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int64, torch.int32)):
        raise ValueError(f"images must hold real numbers, got {x.dtype}")
    if not torch.isfinite(x.double()).all():
        raise ValueError("images must be finite; they hold NaN or inf")
    return x.to(next(model.parameters()).dtype)


def _check_ids(name, ids, V, N):
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.int64 or ids.ndim != 2 or ids.shape[0] != N:
        got = f"{tuple(ids.shape)} {ids.dtype}" if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"{name} must be an (N, T) int64 tensor with N = {N}, got {got}")
    bad = (ids < 0) | (ids >= V)
    if bad.any():
        raise ValueError(f"{name} holds the id {int(ids[bad][0])}, but the model's vocabulary has {V} "
                         f"symbols (ids 0..{V - 1}): was the model built for this vocabulary?")


def _check_symbol(name, value, V):
    if not is_int(value) or not 0 <= value < V:
        raise ValueError(f"{name} must be an id in [0, V) = [0, {V}), got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- batches and loss

class CaptionBatch(NamedTuple):
    """A teacher-forcing batch of images and their captions.

    Attributes:
        images: (N, 8, W) float32 tensor.
        tgt_in: (N, T) int64, [bos, w_1, ..., w_m] then pad (the decoder's inputs).
        tgt_out: (N, T) int64, [w_1, ..., w_m, eos] then pad (what it must predict).
        pad: the padding id; positions with tgt_out == pad are not scored.
    """

    images: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    pad: int


def caption_batch(images, captions, vocab):
    """Images and their captions (word lists) as a padded teacher-forcing batch.

        tgt_in[n] = [bos, w_1, ..., w_m] + pad...,   tgt_out[n] = [w_1, ..., w_m, eos] + pad...

    Args:
        images: (N, 8, W) array of pixels in [0, 1] (course_lib.data.digit_captions).
        captions: list of N word lists, without end symbol.
        vocab: the course_lib.data.Vocab of the words.
    Returns:
        CaptionBatch(images, tgt_in, tgt_out, pad).
    """
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a course_lib.data.Vocab, got {type(vocab).__name__}")
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != ROWS or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, 8, W) with N >= 1, got {images.shape}")
    if not isinstance(captions, (list, tuple)) or len(captions) != len(images):
        got = len(captions) if isinstance(captions, (list, tuple)) else type(captions).__name__
        raise ValueError(f"captions must be a list of one word list per image ({len(images)}), got {got}")
    tgt_in, tgt_out = target_batch([vocab.encode(c) for c in captions], vocab.bos, vocab.eos, vocab.pad)
    return CaptionBatch(torch.as_tensor(images, dtype=torch.float32), tgt_in, tgt_out, vocab.pad)


def random_caption_batch(images, captions, vocab, batch_size, rng):
    """caption_batch of batch_size images drawn without replacement: a `batches(rng)` for
    course_lib.training.train.

        i_1..i_B = rng.choice(len(images), batch_size, replace=False)
    """
    if not is_int(batch_size) or not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size must be an int in [1, N] = [1, {len(images)}], got {batch_size!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    idx = rng.choice(len(images), batch_size, replace=False)
    return caption_batch(np.asarray(images)[idx], [captions[i] for i in idx], vocab)


def caption_loss(model, batch):
    """Teacher-forced cross-entropy per caption token (course_lib.seq2seq.sequence_loss): the
    loss_fn of course_lib.training.train(model, caption_loss, batches, n_steps, ...).

        loss = -(1 / #scored) sum_{n, t: tgt_out[n, t] != pad} log p(tgt_out[n, t] | tgt_in[n, :t+1], image_n)
    """
    _check_model(model)
    if not isinstance(batch, CaptionBatch):
        raise TypeError(f"batch must be a CaptionBatch (caption_batch), got {type(batch).__name__}")
    return sequence_loss(model(batch.images, batch.tgt_in), batch.tgt_out, batch.pad)


# ----------------------------------------------------------------------------- captioning

def _search_inputs(model, images, max_len, bos, eos):
    """(step, state, context, bos, eos) for the search cores of course_lib.seq2seq."""
    _check_model(model)
    V = model.vocab_size
    bos, eos = _check_symbol("bos", bos, V), _check_symbol("eos", eos, V)
    if not is_int(max_len) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
    features = model.encode(images)                                            # (N, F)

    def step(y_prev, state, context):
        logits, state = model.decoder(y_prev[:, None], state, *context)        # (M, 1, V)
        return torch.log_softmax(logits[:, 0].double(), dim=-1), state

    return step, model.decoder.initial_state(features), (features,), bos, eos


@torch.no_grad()
def greedy_caption(model, images, max_len, bos, eos):
    """The most likely next word at every step (course_lib.seq2seq.search_greedy).

        w_t = argmax_v p(v | w_<t, image),   until w_t = eos or t = max_len

    Args:
        model: a Captioner (run in eval mode here).
        images: (N, 8, W) or (N, 1, 8, W). max_len: most words (eos included), >= 1.
        bos, eos: the ids that start and end a caption.
    Returns:
        list of N Hypothesis (tokens end with eos when finished).
    """
    with evaluating(model):
        step, state, context, bos, eos = _search_inputs(model, images, max_len, bos, eos)
        return search_greedy(step, state, context, max_len, bos, eos)


@torch.no_grad()
def beam_caption(model, images, beam_size, max_len, bos, eos, n_best=1, length_norm=0.0):
    """Beam search over captions (course_lib.seq2seq.search_beam; see seq2seq.beam_search).

        keep the K best partial captions by log p(w_<t | image); finished ones leave the beam

    Args:
        model, images, max_len, bos, eos: as greedy_caption.
        beam_size: K >= 1. n_best: captions returned per image, 1 <= n_best <= K.
        length_norm: alpha >= 0 of seq2seq.length_penalty.
    Returns:
        list of N lists of at most n_best Hypothesis, best first.
    """
    with evaluating(model):
        step, state, context, bos, eos = _search_inputs(model, images, max_len, bos, eos)
        return search_beam(step, state, context, beam_size, max_len, bos, eos, n_best, length_norm)


def caption_images(model, images, vocab, beam_size=1, max_len=10, batch_size=500):
    """Images in, word lists out: greedy (beam_size = 1) or beam search, decoded up to eos.

    Args:
        model: a Captioner built for vocab (sizes checked).
        images: (N, 8, W). vocab: course_lib.data.Vocab.
        beam_size: K; 1 is greedy_caption. max_len: most words (eos included).
        batch_size: images searched at once.
    Returns:
        list of N captions (word lists, without eos).
    """
    _check_model(model)
    if not isinstance(vocab, Vocab) or len(vocab) != model.vocab_size:
        got = f"{len(vocab)} tokens" if isinstance(vocab, Vocab) else type(vocab).__name__
        raise ValueError(f"vocab must be the course_lib.data.Vocab of the model's {model.vocab_size} "
                         f"symbols, got {got}")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    out = []
    for a in range(0, len(images), batch_size):
        part = images[a:a + batch_size]
        if beam_size == 1:
            hyps = greedy_caption(model, part, max_len, vocab.bos, vocab.eos)
        else:
            hyps = [h[0] for h in beam_caption(model, part, beam_size, max_len, vocab.bos, vocab.eos)]
        out += [vocab.decode(h.tokens) for h in hyps]
    return out


def caption_scores(hypotheses, captions, max_n=4):
    """BLEU-1..max_n (course_lib.bleu.corpus_bleu, one reference per image) and exact match.

        BLEU-n = corpus_bleu(hypotheses, [[c] for c in captions], max_n=n)    (p_1..p_n, uniform weights)
        exact  = #{i : hypotheses[i] == captions[i]} / N

    Args:
        hypotheses: list of N word lists (the model's captions). captions: list of N reference
            word lists. max_n: the largest BLEU order.
    Returns:
        dict {"BLEU-1": ..., ..., "BLEU-{max_n}": ..., "exact": ...}, floats in [0, 1].
    """
    if not isinstance(captions, (list, tuple)) or not isinstance(hypotheses, (list, tuple)):
        raise ValueError("hypotheses and captions must be lists of word lists")
    if len(hypotheses) != len(captions) or not captions:
        raise ValueError(f"need one caption per hypothesis and at least one: {len(hypotheses)} hypotheses, "
                         f"{len(captions)} captions")
    references = [[list(c)] for c in captions]
    scores = {f"BLEU-{n}": corpus_bleu(hypotheses, references, max_n=n) for n in range(1, max_n + 1)}
    scores["exact"] = float(np.mean([list(h) == list(c) for h, c in zip(hypotheses, captions)]))
    return scores


# ----------------------------------------------------------------------------- the NumPy path

def decoder_to_numpy(model):
    """The decoder's parameters in the layout of the course's NumPy layers, as float64 copies.

        W_embed = embed.weight (V, E)            Wx, Wh, b: torch_to_numpy(rnn)  (D, 4H), (H, 4H), (4H,)
        W_init = init.weight.T (F, H)            b_init = init.bias (H,)          ("init", "both")
        W_out = out.weight.T (H, V)              b_out = out.bias (V,)

    Args:
        model: a Captioner, or its CaptionDecoder.
    Returns:
        dict of float64 arrays with the keys above (no W_init, b_init for "input").
    """
    decoder = model.decoder if isinstance(model, Captioner) else model
    if not isinstance(decoder, CaptionDecoder):
        raise TypeError(f"model must be a Captioner or a CaptionDecoder, got {type(model).__name__}")

    def array(p):
        return p.detach().to("cpu", torch.float64).numpy().copy()

    params = {"W_embed": array(decoder.embed.weight), **torch_to_numpy(decoder.rnn)[0][0],
              "W_out": array(decoder.out.weight).T, "b_out": array(decoder.out.bias)}
    if decoder.conditioning in ("init", "both"):
        params["W_init"], params["b_init"] = array(decoder.init.weight).T, array(decoder.init.bias)
    return params


def numpy_caption_loss(params, features, tgt_in, tgt_out, pad, conditioning):
    """The decoder's loss and every gradient with the NumPy layers (CS231n's CaptioningRNN).

    Forward:
        h0     = tanh(features W_init + b_init)  ("init", "both");  0 ("input")     (N, H)
        e      = word_embedding_forward(tgt_in, W_embed)                          (N, T, E)
        x      = e ("init");  [e ; features at every step] ("input", "both")      (N, T, D)
        h      = lstm_forward(x, h0, Wx, Wh, b)                   (c0 = 0)        (N, T, H)
        scores = temporal_affine_forward(h, W_out, b_out)                         (N, T, V)
        loss   = temporal_softmax_loss(scores, tgt_out, mask = tgt_out != pad)
               = -(1/N) sum_{n,t} mask[n, t] log p(tgt_out[n, t])   summed over time, mean over images
    Backward, from the bottom up:
        dscores -> temporal_affine_backward -> dh, dW_out, db_out
        dh -> lstm_backward -> dx, dh0, dWx, dWh, db
        dx = [de ; dx_f]:  dW_embed = word_embedding_backward(de),  dfeatures = sum_t dx_f[:, t]
        da0 = dh0 (1 - h0^2):  dW_init = features^T da0,  db_init = sum_n da0,  dfeatures += da0 W_init^T

    The loss is per image, not per token: torch's caption_loss times (#scored tokens / N).

    Args:
        params: dict from decoder_to_numpy: W_embed (V, E), Wx (D, 4H), Wh (H, 4H), b (4H,),
            W_out (H, V), b_out (V,), and W_init (F, H), b_init (H,) unless "input".
        features: (N, F) image features (the encoder's output).
        tgt_in, tgt_out: (N, T) int ids (CaptionBatch). pad: the id not scored.
        conditioning: "init", "input" or "both".
    Returns:
        (loss, grads): a float, and a dict with one gradient per key of params, plus "features".
    """
    _check_conditioning(conditioning)
    keys = ["W_embed", "Wx", "Wh", "b", "W_out", "b_out"]
    uses_init, uses_input = conditioning in ("init", "both"), conditioning in ("input", "both")
    keys += ["W_init", "b_init"] if uses_init else []
    if not isinstance(params, dict) or sorted(params) != sorted(keys):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with the keys {sorted(keys)} (conditioning {conditioning!r}), "
                         f"got {got}")
    dims = {}
    features = check_shape("features", features, ("N", "F"), dims)
    tgt_in = check_shape("tgt_in", np.asarray(tgt_in), ("N", "T"), dims, kind="int")
    tgt_out = check_shape("tgt_out", np.asarray(tgt_out), ("N", "T"), dims, kind="int")
    W_embed = check_shape("W_embed", params["W_embed"], ("V", "E"), dims)
    dims["D"] = dims["E"] + (dims["F"] if uses_input else 0)
    p = {k: check_shape(k, params[k], spec, dims) for k, spec in [
        ("Wh", ("H", "4H")), ("Wx", ("D", "4H")), ("b", ("4H",)), ("W_out", ("H", "V")), ("b_out", ("V",))]}
    if uses_init:
        p.update({k: check_shape(k, params[k], spec, dims) for k, spec in [("W_init", ("F", "H")),
                                                                          ("b_init", ("H",))]})
    if not is_int(pad):
        raise ValueError(f"pad must be an int id, got {pad!r}")
    N, T, E = dims["N"], dims["T"], dims["E"]

    h0 = np.tanh(features @ p["W_init"] + p["b_init"]) if uses_init else np.zeros((N, dims["H"]))  # (N, H)
    e, embed_cache = word_embedding_forward(tgt_in, W_embed)                   # (N, T, E)
    x = np.concatenate([e, np.broadcast_to(features[:, None], (N, T, dims["F"]))], axis=2) if uses_input else e
    h, lstm_cache = lstm_forward(x, h0, p["Wx"], p["Wh"], p["b"])              # (N, T, H)
    scores, affine_cache = temporal_affine_forward(h, p["W_out"], p["b_out"])  # (N, T, V)
    loss, dscores = temporal_softmax_loss(scores, tgt_out, tgt_out != pad)

    grads = {}
    dh, grads["W_out"], grads["b_out"] = temporal_affine_backward(dscores, affine_cache)
    dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = lstm_backward(dh, lstm_cache)   # dx (N, T, D)
    grads["W_embed"] = word_embedding_backward(dx[:, :, :E], embed_cache)
    grads["features"] = dx[:, :, E:].sum(axis=1) if uses_input else np.zeros_like(features)  # (N, F)
    if uses_init:
        da0 = dh0 * (1 - h0 ** 2)                                              # h0 = tanh(a0)
        grads["W_init"], grads["b_init"] = features.T @ da0, da0.sum(axis=0)
        grads["features"] += da0 @ p["W_init"].T
    return loss, grads
