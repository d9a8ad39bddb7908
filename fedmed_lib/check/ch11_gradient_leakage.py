"""Self-checks for :ref:`ch-gradient-leakage`: recover a record from a dense layer's gradient.

The learner writes ``my_recover_input(grad_W, grad_b)`` that returns the input ``x`` of
a dense layer ``z = W x + b`` (``grad_W`` has one row per output unit) from the
gradient of one record's loss, ``x_j = grad_W[i, j] / grad_b[i]`` (Geiping et al.,
NeurIPS 2020). The check runs it on small random layers and names the typical
mistake without printing the expected record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Symptom, as_array, call, diagnose, selfcheck


def _cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]:
    """Small single-record gradients ``(grad_W, grad_b, x, description)``."""
    rng = np.random.default_rng(1111)
    cases = []
    # A plain layer: 3 outputs, 5 inputs, every bias gradient non-zero.
    x = rng.uniform(0.5, 2.0, size=5) * rng.choice([-1.0, 1.0], size=5)
    rho = np.array([0.7, -0.2, 1.3])
    cases.append((np.outer(rho, x), rho, x, "a layer with 3 outputs and 5 inputs"))
    # Output unit 0 carries no gradient (an inactive ReLU unit): row 0 is all zeros.
    x = rng.uniform(0.5, 2.0, size=4) * rng.choice([-1.0, 1.0], size=4)
    rho = np.array([0.0, -0.8, 0.4])
    cases.append((np.outer(rho, x), rho, x, "a layer whose first unit is inactive"))
    return cases


def _scaled(out: np.ndarray, x: np.ndarray) -> bool:
    ratio = out / x
    return bool(np.allclose(ratio, ratio[0], rtol=1e-9))


def _mixed_units(out: np.ndarray, x: np.ndarray, gb: np.ndarray) -> bool:
    """Whether the scale is ``grad_b[a] / grad_b[b]``: a row and a bias of two units."""
    r = out[0] / x[0]
    return any(a != b and gb[b] != 0 and np.isclose(r, gb[a] / gb[b], rtol=1e-9)
               for a in range(gb.size) for b in range(gb.size))


_MISTAKES = (
    Symptom(lambda out, x, gb: out.shape != x.shape,
            lambda out, x, gb: f"you returned shape {out.shape}, but the record has one "
            "entry per input.",
            "take a row grad_W[i] (one entry per input), not a column grad_W[:, j]."),
    Symptom(lambda out, x, gb: not np.all(np.isfinite(out)),
            "your record contains NaN or Inf.",
            "grad_b[i] = 0 for an inactive unit: choose a row i with grad_b[i] != 0 "
            "(for example the one with the largest |grad_b[i]|)."),
    Mistake(lambda x, gb: 1.0 / x,
            "you divided the wrong way round.",
            "write the gradients of one output unit i with the chain rule, as in the "
            "theorem 'The gradient of a dense layer contains its input': which quotient "
            "of the two leaves only the input?"),
    Mistake(lambda x, gb: -x,
            "every entry has the wrong sign.",
            "divide by grad_b[i] itself, not by its absolute value or its negative."),
    Symptom(lambda out, x, gb: _scaled(out, x) and _mixed_units(out, x, gb),
            "your record is proportional to the right one, but scaled.",
            "the weight row and the bias entry must come from the same output unit i."),
    Symptom(lambda out, x, gb: _scaled(out, x),
            "your record is proportional to the right one, but scaled.",
            "compare a row of grad_W with the input in the chapter's theorem: which "
            "factor is left over, and did you remove it?"),
)


def _error(err: Exception, name: str) -> tuple[str, str]:
    if isinstance(err, ZeroDivisionError):
        return (f"On {name} your function divided by zero.",
                "pick an output unit i whose bias gradient grad_b[i] is not zero.")
    return (f"On {name} your function raised {type(err).__name__}: {err}.",
            "grad_W has shape (n_outputs, n_inputs) and grad_b has shape (n_outputs,).")


@selfcheck
def check_recover_input(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Feedback:
    """Check a learner's ``my_recover_input(grad_W, grad_b) -> x``.

    Detects: dividing the wrong way (``grad_b / grad_W``), taking a column instead of
    a row (wrong shape), a row whose bias gradient is zero (NaN), a weight row and a
    bias entry from different units, and a flipped sign. Introduced in
    :ref:`ch-gradient-leakage`.
    """
    for gW, gb, x, name in _cases():
        out = call(fn, gW, gb, hint="", explain=functools.partial(_error, name=name), stub=(
            "Your function is not written yet (it raises NotImplementedError).",
            "replace the raise by your code: the chapter's theorem says what a row of "
            "grad_W and an entry of grad_b hold."))
        got = as_array(out, "return the record, one entry per input.")
        with np.errstate(divide="ignore", invalid="ignore"):
            diagnose(got.reshape(-1) if got.ndim > 1 else got, x, _MISTAKES, (x, gb),
                     prefix=f"On {name} ", rtol=1e-9, atol=1e-12,
                     generic=("your record is not the input of the layer.",
                              "reread the chapter's theorem: what does a row of grad_W "
                              "hold, and what does the matching entry of grad_b hold?"))
    return correct(
        "You recover the record exactly, including when a unit carries no gradient."
    )
