"""Typical wrong submissions of a5_captioning_pixelrnn, and the test cells each one must fail.

MUTANTS[name] = ({notebook: {answer cell grade_id: [(old, new), ...]}}, {failing test ids})

Every other autograded test cell must keep its full marks: a mistake costs only its part.
No graded function calls another: part 3 captions with a step function and part 6 samples
with a conditional that the test passes in.
"""

A5 = "a5_captioning_pixelrnn.ipynb"
PART = {
    "loss": {"test_captioning_loss_visible", "test_captioning_loss_hidden"},
    "states": {"test_decoder_states_visible", "test_decoder_states_hidden"},
    "greedy": {"test_greedy_caption_visible", "test_greedy_caption_hidden"},
    "mask": {"test_causal_mask_visible", "test_causal_mask_hidden"},
    "nll": {"test_pixel_nll_visible", "test_pixel_nll_hidden"},
    "sample": {"test_sample_pixels_visible", "test_sample_pixels_hidden"},
}

LOSS_WITHOUT_MASK = ("    loss = -np.sum(mask * log_p[n, t, captions_out]) / N",
                     "    loss = -np.sum(log_p[n, t, captions_out]) / N")
GRADIENT_WITHOUT_MASK = ("    dscores *= mask[:, :, None] / N", "    dscores /= N")
TYPE_A_SEES_ITSELF = ('    m[c, c] = 1.0 if kind == "B" else 0.0', "    m[c, c] = 1.0")

MUTANTS = {
    # --- part 1: the captioning loss
    "loss-forgets-the-mask": (                  # padded steps scored like words, in the loss and the gradient
        {A5: {"captioning_loss": [LOSS_WITHOUT_MASK, GRADIENT_WITHOUT_MASK]}},
        PART["loss"],
    ),
    "loss-gradient-forgets-the-mask": (         # the loss is right, dscores is not
        {A5: {"captioning_loss": [GRADIENT_WITHOUT_MASK]}},
        PART["loss"],
    ),
    "loss-mean-over-tokens": (                  # a mean per real token instead of time-sums averaged over the batch
        {A5: {"captioning_loss": [("    loss = -np.sum(mask * log_p[n, t, captions_out]) / N",
                                   "    loss = -np.sum(mask * log_p[n, t, captions_out]) / mask.sum()"),
                                  ("    dscores *= mask[:, :, None] / N", "    dscores *= mask[:, :, None] / mask.sum()")]}},
        PART["loss"],
    ),
    "loss-targets-not-shifted": (               # each step scored on the word it reads
        {A5: {"captioning_loss": [("captions_in, captions_out = captions[:, :-1], captions[:, 1:]",
                                   "captions_in, captions_out = captions[:, :-1], captions[:, :-1]")]}},
        PART["loss"],
    ),
    "loss-unstable-softmax": (                  # exp of scores in the hundreds overflows
        {A5: {"captioning_loss": [("    shifted = scores - scores.max(axis=2, keepdims=True)",
                                   "    shifted = scores")]}},
        PART["loss"],
    ),
    "loss-calls-reference": (
        {A5: {"captioning_loss": [("    N = scores.shape[0]\n",
                                   "    N = scores.shape[0]\n"
                                   "    from course_lib.layers import temporal_softmax_loss\n"
                                   "    loss, dscores = temporal_softmax_loss(scores, captions_out, mask)\n")]}},
        PART["loss"],
    ),
    # --- part 2: conditioning
    "states-transposed-projection": (           # (N, F) @ (H, F): a shape error
        {A5: {"decoder_states": [('np.tanh(features @ params["W_init"]', 'np.tanh(features @ params["W_init"].T')]}},
        PART["states"],
    ),
    "states-without-projection-bias": (
        {A5: {"decoder_states": [(' + params["b_init"]', "")]}},
        PART["states"],
    ),
    "states-without-tanh": (                    # h0 outside the range of an LSTM state
        {A5: {"decoder_states": [('np.tanh(features @ params["W_init"] + params["b_init"])',
                                  '(features @ params["W_init"] + params["b_init"])')]}},
        PART["states"],
    ),
    "states-features-first": (                  # [features, embedding]: Wx's rows read the wrong inputs
        {A5: {"decoder_states": [("np.concatenate([x, every_step], axis=2)", "np.concatenate([every_step, x], axis=2)")]}},
        PART["states"],
    ),
    "states-image-at-the-first-step-only": (
        {A5: {"decoder_states": [("        every_step = np.repeat(features[:, None, :], T, axis=1)",
                                  "        every_step = np.zeros((N, T, features.shape[1]))\n"
                                  "        every_step[:, 0] = features")]}},
        PART["states"],
    ),
    "states-input-also-projects-h0": (          # "input" starts from the projected features too
        {A5: {"decoder_states": [('    if conditioning in ("init", "both"):', "    if True:")]}},
        PART["states"],
    ),
    # --- part 3: greedy captioning
    "greedy-does-not-stop-at-eos": (            # words after eos written in
        {A5: {"greedy_caption": [("        captions[~done, t] = tokens[~done]", "        captions[:, t] = tokens")]}},
        PART["greedy"],
    ),
    "greedy-stops-the-batch-at-the-first-eos": (
        {A5: {"greedy_caption": [("        if done.all():", "        if done.any():")]}},
        PART["greedy"],
    ),
    "greedy-never-stops-stepping": (            # right captions, but max_len calls every time
        {A5: {"greedy_caption": [("        if done.all():\n            break\n", "")]}},
        PART["greedy"],
    ),
    "greedy-feeds-bos-every-step": (            # its own words never fed back
        {A5: {"greedy_caption": [("        tokens = np.argmax(log_probs, axis=1)                   # (N,): the most "
                                  "likely next words\n"
                                  "        captions[~done, t] = tokens[~done]                      # an ended caption "
                                  "takes nothing more\n"
                                  "        done |= tokens == eos",
                                  "        best = np.argmax(log_probs, axis=1)\n"
                                  "        captions[~done, t] = best[~done]\n"
                                  "        done |= best == eos")]}},
        PART["greedy"],
    ),
    # --- part 4: the causal mask
    "mask-type-a-sees-itself": (                # the centre kept in both types
        {A5: {"causal_mask": [TYPE_A_SEES_ITSELF]}},
        PART["mask"],
    ),
    "mask-types-swapped": (
        {A5: {"causal_mask": [('    m[c, c] = 1.0 if kind == "B" else 0.0', '    m[c, c] = 1.0 if kind == "A" else 0.0')]}},
        PART["mask"],
    ),
    "mask-transposed": (                        # columns instead of rows: sees pixels below
        {A5: {"causal_mask": [("    return m", "    return m.T")]}},
        PART["mask"],
    ),
    "mask-whole-centre-row": (                  # sees the pixels right of the centre
        {A5: {"causal_mask": [("    m[c, :c] = 1", "    m[c, :] = 1")]}},
        PART["mask"],
    ),
    "mask-calls-reference": (
        {A5: {"causal_mask": [("    m = np.zeros((size, size))",
                               "    from course_lib.pixel_rnn import causal_mask as reference\n"
                               "    return reference(kind, size)\n"
                               "    m = np.zeros((size, size))")]}},
        PART["mask"],
    ),
    # --- part 5: nats and bits
    "nll-log-of-sigmoid": (                     # -inf once sigmoid rounds to 0 or 1
        {A5: {"pixel_nll": [("    per_pixel = np.logaddexp(0.0, logits) - x * logits",
                             "    p = 1 / (1 + np.exp(-logits))\n"
                             "    per_pixel = -(x * np.log(p) + (1 - x) * np.log(1 - p))")]}},
        PART["nll"],
    ),
    "nll-softplus-overflows": (                 # log(1 + exp(800)) = inf
        {A5: {"pixel_nll": [("np.logaddexp(0.0, logits)", "np.log(1 + np.exp(logits))")]}},
        PART["nll"],
    ),
    "nll-bits-without-ln-2": (                  # nats per pixel called bits
        {A5: {"pixel_nll": [("nats.mean() / (R * C * np.log(2))", "nats.mean() / (R * C)")]}},
        PART["nll"],
    ),
    "nll-mean-over-pixels": (                   # nats per pixel instead of per image
        {A5: {"pixel_nll": [("per_pixel.sum(axis=(1, 2))", "per_pixel.mean(axis=(1, 2))")]}},
        PART["nll"],
    ),
    "nll-calls-reference": (
        {A5: {"pixel_nll": [("    return nats, float(",
                             "    from course_lib.pixel_rnn import bits_per_dim\n"
                             "    return nats, bits_per_dim(float(nats.mean()), R * C)\n"
                             "    return nats, float(")]}},
        PART["nll"],
    ),
    # --- part 6: sampling
    "sample-feeds-probabilities": (             # p_i fed back instead of the sample x_i
        {A5: {"sample_pixels": [("        x[:, i] = uniforms[:, i] < p                            # the sample, fed "
                                 "back at the next call\n"
                                 "    return x.astype(np.int64)",
                                 "        x[:, i] = p\n"
                                 "    return (uniforms < x).astype(np.int64)")]}},
        PART["sample"],
    ),
    "sample-wrong-order": (                     # the last pixel first
        {A5: {"sample_pixels": [("    for i in range(P):", "    for i in reversed(range(P)):")]}},
        PART["sample"],
    ),
    "sample-inverted-comparison": (             # x_i = 1 with probability 1 - p_i
        {A5: {"sample_pixels": [("uniforms[:, i] < p", "uniforms[:, i] > p")]}},
        PART["sample"],
    ),
    "sample-without-feedback": (                # every conditional given the blank image
        {A5: {"sample_pixels": [("        p = np.asarray(conditional(x, i), dtype=np.float64)",
                                 "        p = np.asarray(conditional(np.zeros((n, P)), i), dtype=np.float64)")]}},
        PART["sample"],
    ),
    # --- two mistakes in two parts: each costs its own part, and nothing else
    "loss-without-mask-and-type-a-sees-itself": (
        {A5: {"captioning_loss": [LOSS_WITHOUT_MASK, GRADIENT_WITHOUT_MASK], "causal_mask": [TYPE_A_SEES_ITSELF]}},
        PART["loss"] | PART["mask"],
    ),
}
