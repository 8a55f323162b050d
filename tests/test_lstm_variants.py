"""course_lib.lstm_variants against torch.nn.LSTM, the paper's equations written out by
hand, the variants' defining constraints, and hand-counted parameters."""

import numpy as np
import pytest
import torch

from course_lib.lstm_variants import VARIANTS, VariantLSTM, VariantLSTMCell

# (N, T, D, H): distinct sizes, and 3H, 4H differ from every other size.
SHAPES = [(2, 5, 3, 4), (3, 4, 5, 2), (4, 2, 3, 5)]
N, T, D, H = SHAPES[0]
TOL = dict(rtol=1e-10, atol=1e-12)
sigmoid, tanh = torch.sigmoid, torch.tanh


def make_model(variant, D=D, H=H, seed=0):
    torch.manual_seed(seed)
    return VariantLSTM(D, H, variant).double()


def random_state(N=N, H=H, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(N, H, generator=g, dtype=torch.float64),
            torch.randn(N, H, generator=g, dtype=torch.float64))


def random_x(*shape, seed=2):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def block(cell, gate):
    """The parameters of one gate's block: (Wx (D, H), Wh (H, H), b (H,))."""
    k = cell.blocks.index(gate)
    cols = slice(k * cell.hidden_size, (k + 1) * cell.hidden_size)
    return cell.Wx[:, cols], cell.Wh[:, cols], cell.b[cols]


def pre(cell, gate, x, h_prev):
    """x Wx_gate + h_prev Wh_gate + b_gate."""
    Wx, Wh, b = block(cell, gate)
    return x @ Wx + h_prev @ Wh + b


def unpack(state):
    """(h, c, q) -> (h, c, (i, f, o))."""
    h, c, q = state
    return h, c, tuple(q.split(q.shape[1] // 3, dim=1))


def assert_close(a, b, **kw):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **(kw or TOL))


# ----------------------------------------------------------------------------- NP = torch.nn.LSTM

@pytest.mark.parametrize("N, T, D, H", SHAPES)
def test_np_with_copied_weights_equals_torch_nn_lstm(N, T, D, H):
    torch.manual_seed(10 + N)
    lstm = torch.nn.LSTM(D, H, batch_first=True).double()
    model = make_model("NP", D, H).load_torch_lstm(lstm)
    x = random_x(N, T, D).requires_grad_()
    h0, c0 = random_state(N, H)
    out, (h, c, _) = model(x, (h0, c0))
    out_t, (h_t, c_t) = lstm(x, (h0[None], c0[None]))
    assert out.shape == (N, T, H)
    assert_close(out, out_t)
    assert_close(h, h_t[0])
    assert_close(c, c_t[0])
    dx, = torch.autograd.grad(out.sum(), x)
    dx_t, = torch.autograd.grad(out_t.sum(), x)
    assert_close(dx, dx_t)


def test_np_cell_with_copied_weights_equals_torch_lstm_cell():
    torch.manual_seed(3)
    torch_cell = torch.nn.LSTMCell(D, H).double()
    cell = VariantLSTMCell(D, H, "NP").double().load_torch_lstm(torch_cell)
    x, state = random_x(N, D), random_state()
    h, c, _ = cell(x, state)
    h_t, c_t = torch_cell(x, state)
    assert_close(h, h_t)
    assert_close(c, c_t)


def test_v_with_zero_peepholes_equals_np():
    torch.manual_seed(4)
    lstm = torch.nn.LSTM(D, H, batch_first=True).double()
    v, np_ = make_model("V").load_torch_lstm(lstm), make_model("NP", seed=1).load_torch_lstm(lstm)
    x, state = random_x(N, T, D), random_state()
    out_np, _ = np_(x, state)
    assert torch.max(torch.abs(v(x, state)[0] - out_np)) > 1e-3    # the peepholes matter
    with torch.no_grad():
        for p in v.cell.peephole.values():
            p.zero_()
    assert_close(v(x, state)[0], out_np)


# ----------------------------------------------------------------------------- the paper's equations

def test_v_step_follows_the_peephole_equations():
    """i and f peep at c_{t-1}, o at the new c_t; the peepholes are diagonal (vectors)."""
    cell = make_model("V").cell
    x, (h_prev, c_prev) = random_x(N, D), random_state()
    h, c, q = cell(x, (h_prev, c_prev))
    p = cell.peephole
    i = sigmoid(pre(cell, "i", x, h_prev) + p["i"] * c_prev)
    f = sigmoid(pre(cell, "f", x, h_prev) + p["f"] * c_prev)
    g = tanh(pre(cell, "g", x, h_prev))
    c_hand = f * c_prev + i * g
    o = sigmoid(pre(cell, "o", x, h_prev) + p["o"] * c_hand)
    assert_close(c, c_hand)
    assert_close(h, o * tanh(c_hand))
    assert_close(q, torch.cat([i, f, o], dim=1))
    assert p["i"].shape == p["f"].shape == p["o"].shape == (H,)


def test_niaf_removes_the_input_activation():
    cell = make_model("NIAF").cell
    x, (h_prev, c_prev) = random_x(N, D), random_state()
    h, c, (i, f, o) = unpack(cell(x, (h_prev, c_prev)))
    g = pre(cell, "g", x, h_prev)                                # no tanh
    assert_close(c, f * c_prev + i * g)
    assert_close(h, o * tanh(c))


def test_noaf_removes_the_output_activation():
    cell = make_model("NOAF").cell
    x, (h_prev, c_prev) = random_x(N, D), random_state()
    h, c, (i, f, o) = unpack(cell(x, (h_prev, c_prev)))
    assert_close(c, f * c_prev + i * tanh(pre(cell, "g", x, h_prev)))
    assert_close(h, o * c)                                       # no tanh


def test_cifg_couples_the_forget_gate_to_the_input_gate():
    model = make_model("CIFG")
    cell = model.cell
    assert cell.blocks == "igo" and set(cell.peephole) == {"i", "o"}
    x, (h_prev, c_prev) = random_x(N, D), random_state()
    h, c, (i, f, o) = unpack(cell(x, (h_prev, c_prev)))
    i_hand = sigmoid(pre(cell, "i", x, h_prev) + cell.peephole["i"] * c_prev)
    assert_close(i, i_hand)
    assert_close(c, (1 - i_hand) * c_prev + i_hand * tanh(pre(cell, "g", x, h_prev)))
    state = (h_prev, c_prev)
    for t in range(T):                                           # f = 1 - i at every step
        state = cell(random_x(N, D, seed=t), state)
        i, f, _ = unpack(state)[2]
        torch.testing.assert_close(f, 1 - i, rtol=0, atol=0)


@pytest.mark.parametrize("variant, gate", [("NIG", "i"), ("NFG", "f"), ("NOG", "o")])
def test_a_removed_gate_is_v_with_that_gate_held_open(variant, gate):
    """By construction: V with the gate's weights and peephole 0 and its bias 1e4 has that
    gate == 1.0 exactly; the variant with V's other parameters must compute the same."""
    v, model = make_model("V"), make_model(variant, seed=1)
    assert model.cell.blocks == "ifgo".replace(gate, "")
    assert set(model.cell.peephole) == set("ifo") - {gate}
    with torch.no_grad():
        for other in model.cell.blocks:
            for p, p_v in zip(block(model.cell, other), block(v.cell, other)):
                p.copy_(p_v)
        for other, p in model.cell.peephole.items():
            p.copy_(v.cell.peephole[other])
        Wx, Wh, b = block(v.cell, gate)
        Wx.zero_()
        Wh.zero_()
        v.cell.peephole[gate].zero_()
        b.fill_(1e4)                                             # sigmoid(1e4) == 1.0
    x, state = random_x(N, T, D), random_state()
    out_v, (h_v, c_v, q_v) = v(x, state)
    out, (h, c, q) = model(x, state)
    k = "ifo".index(gate)
    assert torch.all(q_v[:, k * H:(k + 1) * H] == 1) and torch.all(q[:, k * H:(k + 1) * H] == 1)
    assert_close(out, out_v)
    assert_close(c, c_v)


# ----------------------------------------------------------------------------- FGR

def test_fgr_with_zero_gate_recurrence_equals_v():
    v, fgr = make_model("V"), make_model("FGR", seed=1)
    missing, unexpected = fgr.load_state_dict(v.state_dict(), strict=False)
    assert missing == ["cell.R"] and unexpected == []
    x, state = random_x(N, T, D), random_state()
    out_v, _ = v(x, state)
    out, _ = fgr(x, state)
    assert torch.max(torch.abs(out[:, 1:] - out_v[:, 1:])) > 1e-3  # R acts from step 1 on
    assert_close(out[:, 0], out_v[:, 0])                           # q_{-1} = 0
    with torch.no_grad():
        fgr.cell.R.zero_()
    assert_close(fgr(x, state)[0], out_v)


def test_fgr_gates_receive_the_previous_gates():
    """i_t = sigmoid(x Wx_i + h Wh_i + b_i + p_i c_{t-1} + i_{t-1} R_ii + f_{t-1} R_fi
    + o_{t-1} R_oi), and likewise for f and o (R_ab: from gate a to gate b)."""
    cell = make_model("FGR").cell
    h1, c1, q1 = cell(random_x(N, D, seed=5), random_state())
    x = random_x(N, D, seed=6)
    h, c, (i, f, o) = unpack(cell(x, (h1, c1, q1)))
    prev = dict(zip("ifo", q1.split(H, dim=1)))
    R = {(a, b): cell.R[k * H:(k + 1) * H, l * H:(l + 1) * H]
         for k, a in enumerate("ifo") for l, b in enumerate("ifo")}
    rec = {b: sum(prev[a] @ R[a, b] for a in "ifo") for b in "ifo"}
    p = cell.peephole
    i_hand = sigmoid(pre(cell, "i", x, h1) + p["i"] * c1 + rec["i"])
    f_hand = sigmoid(pre(cell, "f", x, h1) + p["f"] * c1 + rec["f"])
    c_hand = f_hand * c1 + i_hand * tanh(pre(cell, "g", x, h1))
    o_hand = sigmoid(pre(cell, "o", x, h1) + p["o"] * c_hand + rec["o"])
    for a, b in [(i, i_hand), (f, f_hand), (o, o_hand), (c, c_hand), (h, o_hand * tanh(c_hand))]:
        assert_close(a, b)


# ----------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("D, H", [(3, 4), (7, 2)])
def test_parameter_counts_match_the_hand_formulas(D, H):
    full = 4 * H * (D + H + 1)                     # 4 blocks: Wx, Wh, one bias each
    three = 3 * H * (D + H + 1)                    # a gate removed
    expected = {
        "V": full + 3 * H, "NIAF": full + 3 * H, "NOAF": full + 3 * H,
        "NP": full,
        "NIG": three + 2 * H, "NFG": three + 2 * H, "NOG": three + 2 * H, "CIFG": three + 2 * H,
        "FGR": full + 3 * H + 9 * H * H,
    }
    assert set(expected) == set(VARIANTS)
    for variant, n in expected.items():
        model = VariantLSTM(D, H, variant)
        assert sum(p.numel() for p in model.parameters()) == n, variant
    lstm = torch.nn.LSTM(D, H)                     # two biases: 4H more than NP
    assert sum(p.numel() for p in lstm.parameters()) == expected["NP"] + 4 * H


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_parameter_reaches_the_output(variant):
    """No dead parameter: each one gets a nonzero gradient from a loss on all outputs."""
    model = make_model(variant)
    out, _ = model(random_x(N, T, D), random_state())
    (out * random_x(N, T, H, seed=7)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.all(p.grad != 0), name


def test_initialisation_is_uniform_in_the_torch_range():
    bound = 1 / np.sqrt(H)
    model = make_model("FGR")
    for name, p in model.named_parameters():
        assert torch.all(p.abs() <= bound), name
    torch.manual_seed(0)
    a = VariantLSTM(D, H, "V").cell.Wx.detach().clone()
    torch.manual_seed(0)
    assert torch.equal(a, VariantLSTM(D, H, "V").cell.Wx)     # reproducible from the seed


# ----------------------------------------------------------------------------- validation

def test_bad_arguments_give_messages():
    with pytest.raises(ValueError, match=r"variant must be one of \['V', 'NIG'.*got 'GRU'"):
        VariantLSTMCell(D, H, "GRU")
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        VariantLSTM(D, 0)
    with pytest.raises(ValueError, match="input_size must be a positive int, got 2.5"):
        VariantLSTM(2.5, H)
    model = make_model("V")
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, D\) = \(N, T, 3\), got \(2, 5, 4\)"):
        model(random_x(N, T, H))
    with pytest.raises(ValueError, match=r"x must have at least one time step"):
        model(random_x(N, 0, D))
    with pytest.raises(ValueError, match=r"variant NIG has the blocks \[f \| g \| o\]"):
        make_model("NIG").load_torch_lstm(torch.nn.LSTM(D, H))
    with pytest.raises(ValueError, match="only a one-layer, unidirectional .* got 2 layers with 1 direction"):
        make_model("NP").load_torch_lstm(torch.nn.LSTM(D, H, num_layers=2))
    with pytest.raises(ValueError, match="only a one-layer, unidirectional .* got 1 layers with 2 direction"):
        make_model("NP").load_torch_lstm(torch.nn.LSTM(D, H, bidirectional=True))
    with pytest.raises(TypeError, match="lstm must be a torch.nn.LSTM or nn.LSTMCell, got GRU"):
        make_model("NP").load_torch_lstm(torch.nn.GRU(D, H))
    with pytest.raises(ValueError, match=r"do not fit Wx \(3, 16\)"):
        make_model("NP").load_torch_lstm(torch.nn.LSTM(D + 1, H))
