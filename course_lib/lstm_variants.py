"""The LSTM variants of Greff et al. (2015), "LSTM: A Search Space Odyssey", in torch: one
configurable cell and a batch-first sequence wrapper.

Shape legend:
    N  batch            x  (N, T, D)   inputs          Wx (D, kH)    input-to-blocks
    T  time steps       h  (N, T, H)   hidden states   Wh (H, kH)    hidden-to-blocks
    D  input size       c  (N, H)      cell state      b  (kH,)      block biases
    H  hidden size      q  (N, 3H)     gate values     p_i, p_f, p_o (H,) peepholes
    k  blocks with parameters among [i | f | g | o]:   R  (3H, 3H)   gate recurrence (FGR)
       4, or 3 when a gate is removed

The vanilla LSTM of the paper (V) has peephole connections. In the course's symbols and
row vectors (the paper's block input z is our g, its block output y our h):

    a = x Wx + h_prev Wh + b                  a = [a_i | a_f | a_g | a_o]      (N, 4H)
    i = sigmoid(a_i + p_i * c_prev)           input gate   (peephole on c_{t-1})
    f = sigmoid(a_f + p_f * c_prev)           forget gate  (peephole on c_{t-1})
    g = tanh(a_g)                             block input, the candidate
    c = f * c_prev + i * g                    (* is the elementwise product)
    o = sigmoid(a_o + p_o * c)                output gate  (peephole on the NEW cell c_t)
    h = o * tanh(c)

The peephole weights p_i, p_f, p_o are vectors: the paper's peephole matrices are diagonal,
so each cell sees only its own state. torch.nn.LSTM has no peepholes: it is the NP variant.

Each variant changes V in exactly one way:

    NIG   no input gate                  i = 1
    NFG   no forget gate                 f = 1
    NOG   no output gate                 o = 1
    NIAF  no input activation function   g = a_g            (no tanh on the block input)
    NOAF  no output activation function  h = o * c          (no tanh on the cell)
    NP    no peepholes                   p_i, p_f, p_o removed (torch.nn.LSTM)
    CIFG  coupled input and forget gate  f = 1 - i          (no forget-gate parameters)
    FGR   full gate recurrence           every gate also sees the previous step's gates:
                                         [a_i | a_f | a_o] += q_prev R,
                                         q_prev = [i_prev | f_prev | o_prev]   (N, 3H),
                                         R (3H, 3H): the paper's nine matrices R_ii ... R_oo

A removed gate has no weights, bias or peephole. The stacked blocks keep the order
[i | f | g | o] of PyTorch and course_lib.lstm minus the removed ones (NIG: [f | g | o],
NFG and CIFG: [i | g | o], NOG: [i | f | g]). Each step returns q = [i | f | o] (constant
gates included), which FGR feeds back; q_{-1} = 0.

Parameters (with one bias per block, as in the paper; torch.nn.LSTM has two, so it counts
4H more than NP):

    V, NIAF, NOAF        4H (D + H + 1) + 3H
    NP                   4H (D + H + 1)
    NIG, NFG, NOG, CIFG  3H (D + H + 1) + 2H
    FGR                  4H (D + H + 1) + 3H + 9H^2

Initialisation as in PyTorch: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)], drawn
from torch's global generator (seed it with torch.manual_seed).
"""

import math

import torch
from torch import nn

from course_lib.training import torch_to_numpy

__all__ = ["VARIANTS", "VariantLSTMCell", "VariantLSTM"]

VARIANTS = {
    "V": "vanilla LSTM with peepholes",
    "NIG": "no input gate (i = 1)",
    "NFG": "no forget gate (f = 1)",
    "NOG": "no output gate (o = 1)",
    "NIAF": "no input activation function (g = a_g)",
    "NOAF": "no output activation function (h = o * c)",
    "NP": "no peepholes (torch.nn.LSTM)",
    "CIFG": "coupled input and forget gate (f = 1 - i)",
    "FGR": "full gate recurrence (gates see the previous gates)",
}


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


class VariantLSTMCell(nn.Module):
    """One step of the LSTM variant `variant` (see the module docstring for the equations).

    Args:
        input_size: D.
        hidden_size: H.
        variant: one of VARIANTS: "V", "NIG", "NFG", "NOG", "NIAF", "NOAF", "NP", "CIFG", "FGR".

    Attributes:
        blocks: the parameterised blocks in stacking order, e.g. "ifgo" or "igo".
        Wx: (D, kH), Wh: (H, kH), b: (kH,) stacked in the order of `blocks`.
        peephole: ParameterDict gate -> (H,) for the gates i, f, o that exist (empty for NP).
        R: (3H, 3H) gate recurrence, rows [i_prev | f_prev | o_prev], columns [i | f | o]
            (FGR only; None otherwise).
    """

    def __init__(self, input_size, hidden_size, variant="V"):
        super().__init__()
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        self.input_size, self.hidden_size, self.variant = input_size, hidden_size, variant
        removed = {"NIG": "i", "NFG": "f", "CIFG": "f", "NOG": "o"}.get(variant, "")
        self.blocks = "".join(gate for gate in "ifgo" if gate != removed)
        D, H, k = input_size, hidden_size, len(self.blocks)
        self.Wx = nn.Parameter(torch.empty(D, k * H))
        self.Wh = nn.Parameter(torch.empty(H, k * H))
        self.b = nn.Parameter(torch.empty(k * H))
        peepholes = [] if variant == "NP" else [gate for gate in "ifo" if gate in self.blocks]
        self.peephole = nn.ParameterDict({gate: nn.Parameter(torch.empty(H)) for gate in peepholes})
        self.register_parameter(
            "R", nn.Parameter(torch.empty(3 * H, 3 * H)) if variant == "FGR" else None)
        self.reset_parameters()

    def reset_parameters(self):
        """Every parameter uniform in [-1/sqrt(H), 1/sqrt(H)], as torch.nn.LSTM."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def initial_state(self, N, dtype=None, device=None):
        """(h, c, q) = zeros (N, H), (N, H), (N, 3H)."""
        H = self.hidden_size
        dtype = dtype or self.Wx.dtype
        zeros = [torch.zeros(N, n, dtype=dtype, device=device) for n in (H, H, 3 * H)]
        return tuple(zeros)

    def _peep(self, gate, c):
        """p_gate * c, or 0 without a peephole."""
        return self.peephole[gate] * c if gate in self.peephole else 0

    def forward(self, x, state=None):
        """One step.

        Args:
            x: (N, D) input at this step.
            state: (h_prev (N, H), c_prev (N, H), q_prev (N, 3H)), or (h_prev, c_prev) with
                q_prev = 0, or None for all zeros.
        Returns:
            (h (N, H), c (N, H), q (N, 3H)), q = [i | f | o] the gate values of this step; the
            tuple is the state for the next step.
        """
        H = self.hidden_size
        if state is None:
            state = self.initial_state(x.shape[0], x.dtype, x.device)
        h_prev, c_prev, *rest = state
        q_prev = rest[0] if rest else torch.zeros(x.shape[0], 3 * H, dtype=x.dtype, device=x.device)

        a = x @ self.Wx + h_prev @ self.Wh + self.b                      # (N, kH)
        a = dict(zip(self.blocks, a.split(H, dim=1)))                    # gate -> (N, H)
        if self.R is not None:                                           # FGR
            for gate, r in zip("ifo", (q_prev @ self.R).split(H, dim=1)):
                a[gate] = a[gate] + r
        one = torch.ones_like(c_prev)

        i = torch.sigmoid(a["i"] + self._peep("i", c_prev)) if "i" in a else one
        if self.variant == "CIFG":
            f = 1 - i
        else:
            f = torch.sigmoid(a["f"] + self._peep("f", c_prev)) if "f" in a else one
        g = a["g"] if self.variant == "NIAF" else torch.tanh(a["g"])
        c = f * c_prev + i * g
        o = torch.sigmoid(a["o"] + self._peep("o", c)) if "o" in a else one
        h = o * (c if self.variant == "NOAF" else torch.tanh(c))
        return h, c, torch.cat([i, f, o], dim=1)                         # q: (N, 3H)

    @torch.no_grad()
    def load_torch_lstm(self, lstm):
        """Copy the weights of a one-layer torch.nn.LSTM or an nn.LSTMCell into this cell, with
        course_lib.training.torch_to_numpy:

            Wx = weight_ih.T,   Wh = weight_hh.T,   b = bias_ih + bias_hh

        Only variants with all four blocks [i | f | g | o] can take them (V, NP, NIAF, NOAF,
        FGR). Peepholes and R are left as they are: an NP cell then computes exactly what
        the torch module computes; a V or FGR cell does so once its peepholes (and R) are 0.

        Returns:
            self.
        """
        if self.blocks != "ifgo":
            raise ValueError(f"variant {self.variant} has the blocks [{' | '.join(self.blocks)}]; "
                             "only variants with all four [i | f | g | o] can load torch weights")
        if not isinstance(lstm, (nn.LSTM, nn.LSTMCell)):
            raise TypeError(f"lstm must be a torch.nn.LSTM or nn.LSTMCell, got {type(lstm).__name__}")
        params = torch_to_numpy(lstm)                        # params[layer][direction]
        if len(params) != 1 or len(params[0]) != 1:
            raise ValueError(f"only a one-layer, unidirectional torch.nn.LSTM maps onto one cell, "
                             f"got {len(params)} layers with {len(params[0])} direction(s)")
        p = params[0][0]
        if p["Wx"].shape != tuple(self.Wx.shape) or p["Wh"].shape != tuple(self.Wh.shape):
            raise ValueError(f"torch weights of shapes {p['Wx'].shape} and {p['Wh'].shape} (transposed) "
                             f"do not fit Wx {tuple(self.Wx.shape)} and Wh {tuple(self.Wh.shape)}")
        for name in ("Wx", "Wh", "b"):
            getattr(self, name).copy_(torch.from_numpy(p[name]))     # in this cell's dtype
        return self

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, variant={self.variant!r} "
                f"({VARIANTS[self.variant]})")


class VariantLSTM(nn.Module):
    """A VariantLSTMCell run over batch-first sequences: x (N, T, D) -> h (N, T, H).

        state_{-1} = state (or zeros)
        h_t, c_t, q_t = cell(x_t, state_{t-1})          for t = 0, ..., T-1

    Args:
        input_size, hidden_size, variant: as VariantLSTMCell.
    """

    def __init__(self, input_size, hidden_size, variant="V"):
        super().__init__()
        self.cell = VariantLSTMCell(input_size, hidden_size, variant)

    @property
    def variant(self):
        return self.cell.variant

    def forward(self, x, state=None):
        """Run the cell over every step.

        Args:
            x: (N, T, D) input sequences.
            state: as VariantLSTMCell.forward, or None for zeros.
        Returns:
            h: (N, T, H) hidden states of every step, and the final state (h, c, q).
        Raises:
            ValueError if x is not (N, T, D) with D = input_size.
        """
        if x.dim() != 3 or x.shape[2] != self.cell.input_size:
            raise ValueError(f"x must have shape (N, T, D) = (N, T, {self.cell.input_size}), "
                             f"got {tuple(x.shape)}")
        if x.shape[1] == 0:
            raise ValueError("x must have at least one time step, got T = 0")
        outputs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            outputs.append(state[0])
        return torch.stack(outputs, dim=1), state                        # (N, T, H)

    def load_torch_lstm(self, lstm):
        """Copy a one-layer torch.nn.LSTM into the cell; see VariantLSTMCell.load_torch_lstm."""
        self.cell.load_torch_lstm(lstm)
        return self
