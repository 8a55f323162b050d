"""course_lib.captioning against oracles: torch autograd for the NumPy path (loss and every
gradient on the same weights), the decoder run with swapped images or states for what each
conditioning sees, greedy search on each image alone, brute-force enumeration of every caption
for beam search, torch's cross_entropy written out for the loss, and hand-counted BLEU."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.bleu import corpus_bleu
from course_lib.captioning import (
    CONDITIONINGS,
    CaptionBatch,
    Captioner,
    beam_caption,
    build_captioner,
    caption_batch,
    caption_images,
    caption_loss,
    caption_scores,
    decoder_to_numpy,
    greedy_caption,
    numpy_caption_loss,
    random_caption_batch,
)
from course_lib.data import DIGIT_WORDS, Vocab, digit_captions
from course_lib.training import train

# distinct sizes: a transposed weight cannot broadcast silently
N, T, V, F_, E, H, W = 3, 6, 9, 5, 4, 7, 12
PAD, BOS, EOS = 0, 1, 2


def tiny_model(conditioning, seed=0, V=V, scale=1.0):
    """A float64 captioner whose decoder weights are drawn afresh, N(0, (0.5 scale)^2), embeddings
    N(0, (2 scale)^2) (the encoder keeps its He initialisation, features of order 1): outputs
    depend on the image and end at various lengths."""
    torch.manual_seed(seed)
    model = build_captioner(V, conditioning=conditioning, feature_size=F_, embedding_size=E, hidden_size=H,
                            image_width=W, channels=(2, 3)).double()
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            p.normal_(0, (2.0 if "embed" in name else 0.5) * scale)
    return model.eval()


def random_images(rng, n=N):
    """Noise of a different brightness per image: images that differ more than noise alone."""
    return rng.uniform(0, 1, (n, 8, W)) * rng.uniform(0, 4, (n, 1, 1))


def random_targets(rng, n=N, t=T, V=V):
    """(tgt_in, tgt_out) of captions of lengths 0..t-1 drawn from the ordinary ids."""
    lengths = rng.integers(0, t, n)
    lengths[0] = t - 1                                    # one caption fills the batch
    captions = [rng.integers(4, V, m) for m in lengths]
    tgt_in = np.full((n, t), PAD)
    tgt_out = np.full((n, t), PAD)
    for i, c in enumerate(captions):
        tgt_in[i, :len(c) + 1] = np.r_[BOS, c]
        tgt_out[i, :len(c) + 1] = np.r_[c, EOS]
    return torch.from_numpy(tgt_in), torch.from_numpy(tgt_out)


def decoder_logits(model, features, tgt_in, state=None):
    d = model.decoder
    return d(tgt_in, d.initial_state(features) if state is None else state, features)[0]


# ----------------------------------------------------------------------------- the NumPy path

@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_numpy_loss_and_every_gradient_equal_torch_autograd(rng, conditioning):
    model = tiny_model(conditioning)
    features = torch.tensor(rng.standard_normal((N, F_)), requires_grad=True)
    tgt_in, tgt_out = random_targets(rng)
    logits = decoder_logits(model, features, tgt_in)                            # (N, T, V)
    # the oracle: CS231n's contract, the masked cross-entropy summed over time, mean over images
    loss = F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=PAD, reduction="sum") / N
    loss.backward()

    params = decoder_to_numpy(model)
    got, grads = numpy_caption_loss(params, features.detach().numpy(), tgt_in.numpy(), tgt_out.numpy(), PAD,
                                    conditioning)
    np.testing.assert_allclose(got, loss.item(), rtol=1e-12)
    d = model.decoder
    expected = {"W_embed": d.embed.weight.grad, "Wx": d.rnn.weight_ih_l0.grad.T, "Wh": d.rnn.weight_hh_l0.grad.T,
                "b": d.rnn.bias_ih_l0.grad, "W_out": d.out.weight.grad.T, "b_out": d.out.bias.grad,
                "features": features.grad}
    np.testing.assert_allclose(d.rnn.bias_ih_l0.grad, d.rnn.bias_hh_l0.grad, rtol=1e-12)  # only their sum enters
    if conditioning != "input":
        expected.update(W_init=d.init.weight.grad.T, b_init=d.init.bias.grad)
    assert sorted(grads) == sorted(expected)
    for name, g in expected.items():
        assert grads[name].shape == params.get(name, features.detach().numpy()).shape, name
        np.testing.assert_allclose(grads[name], g.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_numpy_loss_is_the_torch_loss_per_image(rng):
    """caption_loss is per token; the NumPy loss per image: they differ by #tokens / N exactly."""
    model = tiny_model("both")
    images = random_images(rng)
    tgt_in, tgt_out = random_targets(rng)
    batch = CaptionBatch(torch.from_numpy(images), tgt_in, tgt_out, PAD)
    with torch.no_grad():
        per_token = caption_loss(model, batch).item()
        features = model.encode(images).numpy()
    per_image, _ = numpy_caption_loss(decoder_to_numpy(model), features, tgt_in, tgt_out, PAD, "both")
    np.testing.assert_allclose(per_image, per_token * (tgt_out != PAD).sum().item() / N, rtol=1e-12)


def test_numpy_path_rejects_wrong_parameters(rng):
    params = decoder_to_numpy(tiny_model("init"))
    features = rng.standard_normal((N, F_))
    tgt_in, tgt_out = random_targets(rng)
    with pytest.raises(ValueError, match=r"params must be a dict with the keys .*conditioning 'input'"):
        numpy_caption_loss(params, features, tgt_in, tgt_out, PAD, "input")  # "input" has no W_init
    with pytest.raises(ValueError, match=r"Wx must have shape \(D, 4H\) = \(9, 28\), got \(4, 28\)"):
        numpy_caption_loss(params, features, tgt_in, tgt_out, PAD, "both")   # D = E + F: features as input
    bad = dict(params, Wx=params["Wx"].T)
    with pytest.raises(ValueError, match=r"Wx must have shape \(D, 4H\) = \(4, 28\), got \(28, 4\)"):
        numpy_caption_loss(bad, features, tgt_in, tgt_out, PAD, "init")
    with pytest.raises(ValueError, match=r"features must have shape \(N, F\)"):
        numpy_caption_loss(params, features[0], tgt_in, tgt_out, PAD, "init")
    with pytest.raises(ValueError, match='conditioning must be "init", "input" or "both"'):
        numpy_caption_loss(params, features, tgt_in, tgt_out, PAD, "h0")


# ----------------------------------------------------------------------------- the three conditionings

def test_init_sees_the_image_only_through_the_initial_state(rng):
    model = tiny_model("init")
    tgt_in, _ = random_targets(rng)
    with torch.no_grad():
        f_a, f_b = torch.tensor(rng.standard_normal((2, N, F_)))
        state_a = model.decoder.initial_state(f_a)
        same_state = decoder_logits(model, f_b, tgt_in, state=state_a)          # image b, image a's state
        own = decoder_logits(model, f_a, tgt_in)
        other = decoder_logits(model, f_b, tgt_in)
    np.testing.assert_array_equal(same_state.numpy(), own.numpy())             # the features themselves: unused
    assert (other[:, 0] - own[:, 0]).abs().min() > 1e-6                        # step 0 depends on the image


def test_input_sees_the_image_at_every_step_and_starts_from_zero(rng):
    model = tiny_model("input")
    tgt_in, _ = random_targets(rng)
    f_a, f_b = torch.tensor(rng.standard_normal((2, N, F_)))
    h0, c0 = model.decoder.initial_state(f_a)
    assert not h0.any() and not c0.any()
    with torch.no_grad():
        a, b = decoder_logits(model, f_a, tgt_in), decoder_logits(model, f_b, tgt_in)
    assert (a - b).abs().amax(dim=2).min() > 1e-6                               # every image, every step
    # by gradients: the image reaches step t's logits through step t's own input, not only through
    # earlier steps (the recurrent weights are zeroed, so nothing is carried from step to step)
    with torch.no_grad():
        model.decoder.rnn.weight_hh_l0.zero_()
    f = f_a.clone().requires_grad_(True)
    logits = decoder_logits(model, f, tgt_in)
    for t in range(T):
        (g,) = torch.autograd.grad(logits[:, t].sum(), f, retain_graph=True)
        assert g.abs().sum(dim=1).min() > 1e-6, t


def test_both_sees_the_image_in_the_state_and_at_every_step(rng):
    model = tiny_model("both")
    tgt_in, _ = random_targets(rng)
    with torch.no_grad():
        f_a, f_b = torch.tensor(rng.standard_normal((2, N, F_)))
        own = decoder_logits(model, f_a, tgt_in)
        other_features = decoder_logits(model, f_b, tgt_in, state=model.decoder.initial_state(f_a))
        other_state = decoder_logits(model, f_a, tgt_in, state=model.decoder.initial_state(f_b))
    assert (own - other_features).abs().amax(dim=2).min() > 1e-6
    assert (own[:, 0] - other_state[:, 0]).abs().min() > 1e-6


def test_parameter_counts_follow_the_conditioning():
    sizes = {}
    for c in CONDITIONINGS:
        m = build_captioner(V, conditioning=c, feature_size=F_, embedding_size=E, hidden_size=H, image_width=W)
        sizes[c] = sum(p.numel() for p in m.decoder.parameters())
    lstm_in = 4 * H * F_                                                        # the features' columns of Wx
    assert sizes["both"] - sizes["init"] == lstm_in
    assert sizes["both"] - sizes["input"] == F_ * H + H                         # W_init, b_init


# ----------------------------------------------------------------------------- search

@pytest.mark.parametrize("conditioning,eos_bias", [("init", 2.0), ("input", 2.0), ("both", 0.0)])
def test_greedy_is_beam_one_and_each_image_alone(rng, conditioning, eos_bias):
    model = tiny_model(conditioning, scale=1.5)
    with torch.no_grad():
        model.decoder.out.bias[EOS] += eos_bias      # so that the captions end at different steps (asserted)
    images = random_images(rng, 6)
    greedy = greedy_caption(model, images, 5, BOS, EOS)
    beam = [b[0] for b in beam_caption(model, images, 1, 5, BOS, EOS)]
    assert [h.tokens for h in greedy] == [h.tokens for h in beam]
    np.testing.assert_allclose([h.score for h in greedy], [h.score for h in beam], rtol=1e-12)
    alone = [greedy_caption(model, images[i:i + 1], 5, BOS, EOS)[0] for i in range(6)]
    assert [h.tokens for h in greedy] == [h.tokens for h in alone]
    assert len({len(h.tokens) for h in greedy}) > 1                            # rows end at different steps


def every_caption(V, max_len):
    """Every output of at most max_len tokens: ending with its only eos, or cut off at max_len."""
    words = [v for v in range(V) if v != EOS]
    out = [list(p) + [EOS] for l in range(max_len) for p in itertools.product(words, repeat=l)]
    return out + [list(p) for p in itertools.product(words, repeat=max_len)]


def teacher_forced_scores(model, image, outputs):
    """log p(y | image) of every output, from one teacher-forced pass over all of them."""
    L = max(len(y) for y in outputs)
    tgt_in = torch.tensor([[BOS] + y[:-1] + [PAD] * (L - len(y)) for y in outputs])
    tgt_out = torch.tensor([y + [PAD] * (L - len(y)) for y in outputs])
    with torch.no_grad():
        logits = model(np.repeat(image[None], len(outputs), axis=0), tgt_in)
    log_p = torch.log_softmax(logits, -1).gather(2, tgt_out[:, :, None])[:, :, 0]
    return torch.where(torch.arange(L)[None] < torch.tensor([len(y) for y in outputs])[:, None], log_p, 0).sum(1)


@pytest.mark.parametrize("conditioning,alpha", [("init", 0.0), ("input", 0.0), ("both", 0.7)])
def test_beam_as_large_as_the_search_space_is_brute_force(rng, conditioning, alpha):
    V_tiny, L = 5, 3
    model = tiny_model(conditioning, seed=1, V=V_tiny, scale=2.0)
    images = random_images(rng, 2)
    K = V_tiny ** L
    beams = beam_caption(model, images, K, L, BOS, EOS, n_best=10, length_norm=alpha)
    outputs = every_caption(V_tiny, L)
    assert len(outputs) == sum(4 ** l for l in range(L)) + 4 ** L
    for image, beam in zip(images, beams):
        scores = teacher_forced_scores(model, image, outputs).numpy()
        normalised = scores / ((5 + np.array([len(y) for y in outputs])) / 6) ** alpha
        best = np.argsort(-normalised, kind="stable")[:10]
        assert [h.tokens for h in beam] == [outputs[i] for i in best]
        np.testing.assert_allclose([h.score for h in beam], scores[best], rtol=1e-10)


def test_decoding_stops_at_eos(rng):
    model = tiny_model("both", scale=1.5)
    images = random_images(rng, 8)
    for hyps in (greedy_caption(model, images, 4, BOS, EOS),
                 [b[0] for b in beam_caption(model, images, 3, 4, BOS, EOS)]):
        for h in hyps:
            assert EOS not in h.tokens[:-1] and len(h.tokens) <= 4
            assert h.finished == (h.tokens[-1] == EOS)
            assert h.finished or len(h.tokens) == 4
    with torch.no_grad():
        model.decoder.out.bias[EOS] = 100.0                                    # eos certain at once
    for h in greedy_caption(model, images, 4, BOS, EOS) + [b[0] for b in beam_caption(model, images, 3, 4, BOS, EOS)]:
        assert h.tokens == [EOS] and h.finished and abs(h.score) < 1e-12
    vocab = Vocab([f"w{i}" for i in range(V - 4)])
    assert caption_images(model, images, vocab) == [[]] * 8                     # no eos in the words


def test_search_arguments_are_checked(rng):
    model = tiny_model("init")
    with pytest.raises(ValueError, match=r"images must have shape \(N, 8, W\) = \(N, 8, 12\)"):
        greedy_caption(model, rng.uniform(size=(2, 8, 16)), 5, BOS, EOS)
    with pytest.raises(ValueError, match=r"eos must be an id in \[0, V\) = \[0, 9\), got 9"):
        greedy_caption(model, random_images(rng), 5, BOS, V)
    with pytest.raises(ValueError, match=r"n_best must be an int in \[1, beam_size\] = \[1, 2\], got 3"):
        beam_caption(model, random_images(rng), 2, 5, BOS, EOS, n_best=3)
    with pytest.raises(ValueError, match="vocab must be the course_lib.data.Vocab of the model's 9 symbols"):
        caption_images(model, random_images(rng), Vocab(DIGIT_WORDS))
    with pytest.raises(TypeError, match="model must be a course_lib.captioning.Captioner"):
        greedy_caption(model.decoder, random_images(rng), 5, BOS, EOS)


# ----------------------------------------------------------------------------- batches and loss

def test_caption_batch_shifts_the_captions():
    vocab = Vocab(DIGIT_WORDS)
    images, captions, _ = digit_captions(3, "train", seed=4)
    b = caption_batch(images, captions, vocab)
    for n, c in enumerate(captions):
        ids = [vocab.index[w] for w in c]
        T_b = b.tgt_in.shape[1]
        assert b.tgt_in[n].tolist() == [vocab.bos] + ids + [vocab.pad] * (T_b - 1 - len(ids))
        assert b.tgt_out[n].tolist() == ids + [vocab.eos] + [vocab.pad] * (T_b - 1 - len(ids))
    assert b.images.dtype == torch.float32 and b.images.shape == (3, 8, 32)
    with pytest.raises(ValueError, match=r"captions must be a list of one word list per image \(3\), got 2"):
        caption_batch(images, captions[:2], vocab)


def test_loss_is_the_mean_over_real_tokens_and_ignores_padding(rng):
    model = tiny_model("both")
    images = random_images(rng)
    tgt_in, tgt_out = random_targets(rng)
    batch = CaptionBatch(torch.from_numpy(images), tgt_in, tgt_out, PAD)
    with torch.no_grad():
        loss = caption_loss(model, batch).item()
        logits = model(images, tgt_in)
    terms = [-torch.log_softmax(logits[n, t], -1)[tgt_out[n, t]].item()
             for n in range(N) for t in range(T) if tgt_out[n, t] != PAD]
    assert loss == pytest.approx(np.mean(terms), rel=1e-12)
    # what stands after each caption's eos is never read into a scored prediction
    padded = tgt_out == PAD
    noisy_in = torch.where(padded, torch.from_numpy(rng.integers(0, V, (N, T))), tgt_in)
    with torch.no_grad():
        noisy = caption_loss(model, CaptionBatch(batch.images, noisy_in, tgt_out, PAD)).item()
    assert noisy == loss


def test_random_batches_train_a_small_model():
    """A model learns the captions of 16 training images: every piece feeds train()."""
    vocab = Vocab(DIGIT_WORDS)
    images, captions, _ = digit_captions(16, "train", max_digits=2, seed=0)
    torch.manual_seed(0)
    model = build_captioner(len(vocab), conditioning="both", feature_size=16, embedding_size=8, hidden_size=16,
                            image_width=16)
    history = train(model, caption_loss, lambda r: random_caption_batch(images, captions, vocab, 16, r), 40,
                    lr=3e-2, progress=False)
    assert history.loss[-5:].mean() < 0.4 * history.loss[:5].mean()


# ----------------------------------------------------------------------------- evaluation

def test_caption_scores_by_hand():
    hyps = [["one", "two"], ["three"]]
    refs = [["one", "two"], ["three", "four"]]
    s = caption_scores(hyps, refs)
    bp = math.exp(1 - 4 / 3)                      # c = 3 words, r = 4: the brevity penalty
    assert s["exact"] == 0.5
    assert s["BLEU-1"] == pytest.approx(bp * 1.0)                 # p1 = 3/3
    assert s["BLEU-2"] == pytest.approx(bp * math.sqrt(1 * 1))    # p2 = 1/1 (one bigram, matched)
    assert s["BLEU-3"] == 0.0                                     # no trigram in any hypothesis
    with pytest.raises(ValueError, match="need one caption per hypothesis"):
        caption_scores(hyps, refs[:1])


def test_caption_scores_are_corpus_bleu(rng):
    words = list(DIGIT_WORDS)
    refs = [[words[k] for k in rng.integers(0, 10, rng.integers(1, 5))] for _ in range(40)]
    hyps = [r[:] if rng.random() < 0.4 else [words[k] for k in rng.integers(0, 10, rng.integers(1, 5))]
            for r in refs]
    s = caption_scores(hyps, refs)
    for n in range(1, 5):
        assert s[f"BLEU-{n}"] == corpus_bleu(hyps, [[r] for r in refs], max_n=n)
    assert s["exact"] == sum(h == r for h, r in zip(hyps, refs)) / 40


def test_builder_checks_its_arguments():
    with pytest.raises(ValueError, match='conditioning must be "init", "input" or "both", got \'h0\''):
        build_captioner(14, conditioning="h0")
    with pytest.raises(ValueError, match="image_width must be a multiple of 4"):
        build_captioner(14, image_width=30)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        build_captioner(14, hidden_size=0)
    m = build_captioner(14)
    assert isinstance(m, Captioner) and m.encode(np.zeros((2, 8, 32))).shape == (2, 64)
