"""Update compression: 8-bit quantisation, top-k sparsification, exact byte counts.

A hospital on a slow link uploads its model update every round. Two ways to
send fewer bytes are implemented here. *Quantisation* (QSGD, Alistarh et al.,
"QSGD: Communication-Efficient SGD via Gradient Quantization and Encoding",
NeurIPS 2017) sends each entry as a signed 8-bit integer ``q`` with one
float64 scale per array, ``x ~ q * scale`` with ``scale = max|x| / 127``; rounding
to the nearest level errs by at most ``scale / 2``, stochastic rounding is
unbiased. *Top-k sparsification* sends only the ``k`` entries of largest
magnitude, as (float64 value, int32 index) pairs. *Error feedback* keeps what
compression dropped and adds it to the next round's update, so nothing is lost
for good. :func:`payload_bytes` counts exactly what goes on the wire: the
payload plus the scale or index overhead (the shapes are known to both sides).
Introduced in :ref:`ch-limited-resources`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import Params, client_label
from fedmed_lib.algorithms import ClientFn

LEVELS = 127
"""Largest magnitude of an int8 level (symmetric: -127..127)."""

SCALE_BYTES = 8
"""Bytes of the per-array scale (one float64)."""


@dataclass(frozen=True)
class Quantized:
    """An array sent as int8 levels and one float64 scale: ``x ~ q * scale``."""

    q: NDArray[np.int8]
    scale: float

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: one per entry plus the scale."""
        return int(self.q.nbytes) + SCALE_BYTES


@dataclass(frozen=True)
class Sparse:
    """An array sent as its ``k`` kept entries: float64 values and int32 flat indices."""

    values: NDArray[np.float64]
    indices: NDArray[np.int32]
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: 8 per value plus 4 per index."""
        return int(self.values.nbytes + self.indices.nbytes)


Message = Quantized | Sparse | np.ndarray
Compressor = Callable[[np.ndarray], Quantized | Sparse]


def _check_array(x: np.ndarray, *, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        raise ValueError(f"{name} is empty: nothing to compress")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf")
    return a


def quantize_8bit(x: np.ndarray, *, rng: np.random.Generator | None = None) -> Quantized:
    """Quantise ``x`` to signed 8-bit levels with one scale ``max|x| / 127``.

    Introduced in :ref:`ch-limited-resources`.

    Parameters
    ----------
    x
        The array to send (any shape).
    rng
        ``None`` rounds to the nearest level (error at most ``scale / 2``); a
        generator rounds stochastically, up with probability equal to the
        fractional part, which makes :func:`dequantize` unbiased (QSGD).

    Returns
    -------
    Quantized
        The int8 levels (same shape as ``x``) and the scale.

    Raises
    ------
    ValueError
        If ``x`` is empty or contains NaN/Inf.
    """
    a = _check_array(x, name="x")
    peak = float(np.max(np.abs(a)))
    if peak == 0.0:
        return Quantized(np.zeros(a.shape, dtype=np.int8), 0.0)
    scale = peak / LEVELS
    r = a / scale
    if rng is None:
        levels = np.rint(r)
    else:
        low = np.floor(r)
        levels = low + (rng.random(r.shape) < (r - low))
    return Quantized(np.clip(levels, -LEVELS, LEVELS).astype(np.int8), scale)


def dequantize(msg: Quantized) -> NDArray[np.float64]:
    """Rebuild the array ``q * scale`` from a :class:`Quantized` message.

    Introduced in :ref:`ch-limited-resources`.
    """
    return msg.q.astype(np.float64) * msg.scale


def topk_sparsify(x: np.ndarray, k: int) -> Sparse:
    """Keep the ``k`` entries of largest magnitude (ties: the lower flat index first).

    Introduced in :ref:`ch-limited-resources`.

    Parameters
    ----------
    x
        The array to send (any shape).
    k
        Number of entries to keep, ``1 <= k <= x.size``.

    Returns
    -------
    Sparse
        The kept values with their signs, their flat indices (sorted) and ``x``'s shape.

    Raises
    ------
    ValueError
        If ``x`` is empty or not finite, or ``k`` is not an integer in ``[1, x.size]``.
    """
    a = _check_array(x, name="x")
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= a.size:
        raise ValueError(f"k must lie in [1, {a.size}] for an array of {a.size} entries, got {k}")
    flat = a.ravel()
    order = np.argsort(-np.abs(flat), kind="stable")
    idx = np.sort(order[:k])
    return Sparse(flat[idx].copy(), idx.astype(np.int32), tuple(a.shape))


def densify(msg: Sparse) -> NDArray[np.float64]:
    """Rebuild the dense array from a :class:`Sparse` message (zeros elsewhere).

    Introduced in :ref:`ch-limited-resources`.
    """
    out = np.zeros(int(np.prod(msg.shape)), dtype=np.float64)
    out[msg.indices] = msg.values
    return out.reshape(msg.shape)


def decode(msg: Message) -> NDArray[np.float64]:
    """Turn any message (:class:`Quantized`, :class:`Sparse` or a raw array) back into an array."""
    if isinstance(msg, Quantized):
        return dequantize(msg)
    if isinstance(msg, Sparse):
        return densify(msg)
    return np.asarray(msg, dtype=np.float64)


def payload_bytes(msgs: Message | Sequence[Message]) -> int:
    """Count the bytes on the wire of one message or a list of messages.

    A raw array costs its ``nbytes`` (8 per entry for float64), a
    :class:`Quantized` one byte per entry plus 8 for the scale, a :class:`Sparse`
    12 bytes per kept entry. Introduced in :ref:`ch-limited-resources`.

    Examples
    --------
    >>> import numpy as np
    >>> payload_bytes([np.zeros(10), quantize_8bit(np.ones(10)), topk_sparsify(np.ones(10), 2)])
    122
    """
    if isinstance(msgs, Quantized | Sparse | np.ndarray):
        return int(msgs.nbytes)
    return sum(payload_bytes(m) for m in msgs)


def topk_compressor(fraction: float) -> Compressor:
    """Return a compressor that keeps ``ceil(fraction * size)`` entries of each array.

    Introduced in :ref:`ch-limited-resources`.
    """
    if not np.isfinite(fraction) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")

    def compress(x: np.ndarray) -> Sparse:
        size = int(np.size(x))
        return topk_sparsify(x, max(1, int(np.ceil(fraction * size))))

    return compress


@dataclass
class CompressedClient:
    """Wrap a client function so that its update travels compressed.

    Calling the wrapper runs the client, compresses each array of its update
    (plus the residual kept from earlier rounds when ``error_feedback`` is on),
    records the exact bytes sent, and returns the *decoded* update, which is what
    the server receives. Use it as ``client_fn`` of
    :func:`fedmed_lib.simulation.run_simulation`. Introduced in
    :ref:`ch-limited-resources`.

    Attributes
    ----------
    client_fn
        The wrapped client function.
    compressor
        E.g. :func:`quantize_8bit` or ``topk_compressor(0.1)``.
    error_feedback
        Keep ``update - decoded`` per client and add it to its next update.
    bytes_per_round
        ``server_round -> total bytes uploaded`` (filled as clients run).
    """

    client_fn: ClientFn
    compressor: Compressor
    error_feedback: bool = False
    bytes_per_round: dict[int, int] = field(default_factory=dict)
    residuals: dict[int, Params] = field(default_factory=dict)

    def __call__(
        self, cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        """Train client ``cid``, compress its update and return the decoded update."""
        update, n = self.client_fn(cid, params, server_round, rng)
        if len(update) != len(params):
            raise ValueError(
                f"{client_label(cid)}: update has {len(update)} arrays, "
                f"the global model has {len(params)}"
            )
        residual = self.residuals.get(cid)
        decoded: Params = []
        new_residual: Params = []
        sent = 0
        for i, u in enumerate(update):
            a = np.asarray(u, dtype=np.float64)
            if a.shape != np.shape(params[i]):
                raise ValueError(
                    f"{client_label(cid)}: array {i} has shape {a.shape}, "
                    f"expected {np.shape(params[i])}"
                )
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{client_label(cid)}: array {i} contains NaN or Inf")
            if self.error_feedback and residual is not None:
                a = a + residual[i]
            msg = self.compressor(a)
            d = decode(msg)
            sent += payload_bytes(msg)
            decoded.append(d)
            new_residual.append(a - d)
        if self.error_feedback:
            self.residuals[cid] = new_residual
        self.bytes_per_round[server_round] = self.bytes_per_round.get(server_round, 0) + sent
        return decoded, n

    @property
    def total_bytes(self) -> int:
        """All bytes uploaded so far."""
        return sum(self.bytes_per_round.values())
