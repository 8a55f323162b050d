"""Typical wrong submissions of a4_seq2seq, and the test cells each one must fail.

MUTANTS[name] = ({notebook: {answer cell grade_id: [(old, new), ...]}}, {failing test ids})

Every other autograded test cell must keep its full marks: a mistake costs only its part.
No graded function calls another: parts 3 and 4 decode with a step function that the test
passes in, so a mistake in decoder_step (part 2) never reaches them.
"""

A4 = "a4_seq2seq.ipynb"
PART = {
    "loss": {"test_masked_cross_entropy_visible", "test_masked_cross_entropy_hidden"},
    "step": {"test_decoder_step_visible", "test_decoder_step_hidden"},
    "greedy": {"test_greedy_decode_visible", "test_greedy_decode_hidden"},
    "beam": {"test_beam_search_visible", "test_beam_search_hidden"},
    "attention": {"test_attention_step_visible", "test_attention_step_hidden"},
    "bleu": {"test_corpus_bleu_visible", "test_corpus_bleu_hidden"},
}

LOSS_WITHOUT_MASK = ("    return -(picked * mask).sum() / mask.sum()", "    return -picked.mean()")
ATTENTION_WITHOUT_MASK = ('    scores = scores.masked_fill(~src_mask, float("-inf"))', "")

MUTANTS = {
    # --- part 1: the loss
    "loss-forgets-the-mask": (                  # padding scored like a real token
        {A4: {"masked_cross_entropy": [LOSS_WITHOUT_MASK]}},
        PART["loss"],
    ),
    "loss-divides-by-all-positions": (          # masked sum / (N T)
        {A4: {"masked_cross_entropy": [("/ mask.sum()", "/ mask.numel()")]}},
        PART["loss"],
    ),
    "loss-per-sentence": (                      # masked sum / N: a per-sequence mean
        {A4: {"masked_cross_entropy": [("/ mask.sum()", "/ mask.shape[0]")]}},
        PART["loss"],
    ),
    "loss-softmax-over-time": (
        {A4: {"masked_cross_entropy": [("torch.log_softmax(logits, dim=-1)", "torch.log_softmax(logits, dim=1)")]}},
        PART["loss"],
    ),
    "loss-log-of-softmax": (                    # -inf for a target of probability 0 in float64
        {A4: {"masked_cross_entropy": [("torch.log_softmax(logits, dim=-1)",
                                        "torch.log(torch.softmax(logits, dim=-1))")]}},
        PART["loss"],
    ),
    "loss-pad-hard-coded-as-0": (
        {A4: {"masked_cross_entropy": [("mask = targets != pad_id", "mask = targets != 0")]}},
        PART["loss"],
    ),
    "loss-not-differentiable": (                # a float: autograd cannot train with it
        {A4: {"masked_cross_entropy": [("    return -(picked * mask).sum() / mask.sum()",
                                        "    return torch.tensor((-(picked * mask).sum() / mask.sum()).item())")]}},
        PART["loss"],
    ),
    "loss-calls-reference": (
        {A4: {"masked_cross_entropy": [("    log_p = torch.log_softmax(logits, dim=-1)",
                                        "    from course_lib.seq2seq import sequence_loss\n"
                                        "    return sequence_loss(logits, targets, pad_id)\n"
                                        "    log_p = torch.log_softmax(logits, dim=-1)")]}},
        PART["loss"],
    ),
    # --- part 2: the decoder step
    "step-z-swapped": (
        {A4: {"decoder_step": [("h = (1 - z) * n + z * h_prev", "h = z * n + (1 - z) * h_prev")]}},
        PART["step"],
    ),
    "step-reset-before": (                      # Cho et al.'s candidate instead of PyTorch's
        {A4: {"decoder_step": [("n = torch.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])",
                                "n = torch.tanh(ax[:, 2 * H:] + (r * h_prev) @ params[\"Wh\"][:, 2 * H:] "
                                "+ params[\"bh\"][2 * H:])")]}},
        PART["step"],
    ),
    "step-logits-from-h_prev": (
        {A4: {"decoder_step": [("logits = h @ params[\"W_out\"]", "logits = h_prev @ params[\"W_out\"]")]}},
        PART["step"],
    ),
    "step-without-output-bias": (
        {A4: {"decoder_step": [(" + params[\"b_out\"]", "")]}},
        PART["step"],
    ),
    "step-embedding-columns": (                 # W_emb[:, y_prev] is (V, N): a shape error
        {A4: {"decoder_step": [("e = params[\"W_emb\"][y_prev]", "e = params[\"W_emb\"][:, y_prev]")]}},
        PART["step"],
    ),
    "step-in-numpy": (                          # right values, but nothing to train
        {A4: {"decoder_step": [("    return logits, h",
                                "    return torch.from_numpy(logits.detach().numpy()), h")]}},
        PART["step"],
    ),
    # --- part 3: greedy decoding
    "greedy-does-not-stop-at-eos": (
        {A4: {"greedy_decode": [("            if not done[n]:", "            if True:")]}},
        PART["greedy"],
    ),
    "greedy-stops-the-batch-at-the-first-eos": (
        {A4: {"greedy_decode": [("        if all(done):", "        if any(done):")]}},
        PART["greedy"],
    ),
    "greedy-drops-eos": (
        {A4: {"greedy_decode": [("                outputs[n].append(int(y[n]))",
                                 "                outputs[n] += [] if int(y[n]) == eos else [int(y[n])]")]}},
        PART["greedy"],
    ),
    "greedy-scores-after-eos": (                # right tokens, but the score goes on
        {A4: {"greedy_decode": [("            if not done[n]:                                     "
                                 "# a finished sentence takes nothing more\n"
                                 "                outputs[n].append(int(y[n]))\n"
                                 "                scores[n] += float(log_p[n, y[n]])",
                                 "            scores[n] += float(log_p[n, y[n]])\n"
                                 "            if not done[n]:\n"
                                 "                outputs[n].append(int(y[n]))")]}},
        PART["greedy"],
    ),
    # --- part 4: beam search
    "beam-extends-finished-hypotheses": (       # hypotheses ending with eos stay in the beam
        {A4: {"beam_search": [("live = [(s, b, v) for s, b, v in ranked if v != eos][:beam_size]",
                               "live = ranked[:beam_size]")]}},
        PART["beam"],
    ),
    "beam-shrinks-as-hypotheses-finish": (
        {A4: {"beam_search": [("live = [(s, b, v) for s, b, v in ranked if v != eos][:beam_size]",
                               "live = [(s, b, v) for s, b, v in ranked[:beam_size] if v != eos]")]}},
        PART["beam"],
    ),
    "beam-ranks-by-the-last-token-only": (      # the parent's score forgotten
        {A4: {"beam_search": [("candidates = (scores[:, None] + log_p).tolist()", "candidates = log_p.tolist()")]}},
        PART["beam"],
    ),
    "beam-states-not-reordered": (              # the new states stay in the old beam's order
        {A4: {"beam_search": [("states = new_states[[b for _, b, _ in live]]",
                               "states = new_states[[min(b, len(new_states) - 1) for b in range(len(live))]]")]}},
        PART["beam"],
    ),
    "beam-stops-at-the-first-finished": (
        {A4: {"beam_search": [("        if not beam:\n", "        if not beam or finished:\n")]}},
        PART["beam"],
    ),
    # --- part 5: attention
    "attention-forgets-the-mask": (
        {A4: {"attention_step": [ATTENTION_WITHOUT_MASK]}},
        PART["attention"],
    ),
    "attention-softmax-over-the-batch": (
        {A4: {"attention_step": [("weights = torch.softmax(scores, dim=1)", "weights = torch.softmax(scores, dim=0)")]}},
        PART["attention"],
    ),
    "attention-mask-after-the-softmax": (       # padding zeroed, the rest not renormalised
        {A4: {"attention_step": [ATTENTION_WITHOUT_MASK,
                                 ("weights = torch.softmax(scores, dim=1)",
                                  "weights = torch.softmax(scores, dim=1) * src_mask")]}},
        PART["attention"],
    ),
    "attention-calls-reference": (
        {A4: {"attention_step": [("    scores = (memory @ query",
                                  "    from course_lib.seq2seq import attention\n"
                                  "    context, weights = attention(query[:, None], memory, src_mask)\n"
                                  "    return context[:, 0], weights[:, 0]\n"
                                  "    scores = (memory @ query")]}},
        PART["attention"],
    ),
    # --- part 6: BLEU
    "bleu-without-brevity-penalty": (
        {A4: {"corpus_bleu": [("bp = 1.0 if c > r else math.exp(1 - r / c)", "bp = 1.0")]}},
        PART["bleu"],
    ),
    "bleu-unclipped-counts": (
        {A4: {"corpus_bleu": [("sum(min(k, most[g]) for g, k in counts.items())",
                               "sum(k for g, k in counts.items() if g in most)")]}},
        PART["bleu"],
    ),
    "bleu-shortest-reference": (
        {A4: {"corpus_bleu": [("r += min((len(ref) for ref in refs), key=lambda length: (abs(length - len(hyp)), length))",
                               "r += min(len(ref) for ref in refs)")]}},
        PART["bleu"],
    ),
    "bleu-arithmetic-mean": (
        {A4: {"corpus_bleu": [("    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n\n",
                               "    log_precision = math.log(sum(m / t for m, t in zip(matches, totals)) / max_n)\n")]}},
        PART["bleu"],
    ),
    "bleu-calls-reference": (
        {A4: {"corpus_bleu": [("    def grams(tokens, n):",
                               "    import course_lib.bleu\n"
                               "    return course_lib.bleu.corpus_bleu(hypotheses, references, max_n)\n"
                               "    def grams(tokens, n):")]}},
        PART["bleu"],
    ),
    # --- two mistakes in two parts: each costs its own part, and nothing else
    "loss-without-mask-and-attention-without-mask": (
        {A4: {"masked_cross_entropy": [LOSS_WITHOUT_MASK], "attention_step": [ATTENTION_WITHOUT_MASK]}},
        PART["loss"] | PART["attention"],
    ),
}
