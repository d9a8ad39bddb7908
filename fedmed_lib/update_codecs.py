"""The messages of a compressed update: 8-bit levels and top-k entries, and their exact size.

One job: encode one array of a model update into fewer bytes, decode it, and count
the bytes on the wire. *Quantisation* (QSGD, Alistarh et al., "QSGD:
Communication-Efficient SGD via Gradient Quantization and Encoding", NeurIPS 2017)
sends each entry as a signed 8-bit integer ``q`` with one float64 scale per array,
``x ~ q * scale`` with ``scale = max|x| / 127``; rounding to the nearest level errs by
at most ``scale / 2``, stochastic rounding is unbiased (:class:`Quantized`).
*Top-k sparsification* sends only the ``k`` entries of largest magnitude, as (float64
value, int32 index) pairs (:class:`Sparse`). :func:`payload_bytes` counts exactly what
goes on the wire: the payload plus the scale or index overhead (the shapes are known
to both sides). A client that sends its updates this way, with error feedback, is
:class:`fedmed_lib.compression.CompressedClient`; everything here is importable from
:mod:`fedmed_lib.compression` too. Introduced in :ref:`ch-limited-resources`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import InputTypeError, check_fraction, check_int, check_real_array

LEVELS = 127
"""Largest magnitude of an int8 level (symmetric: -127..127)."""

SCALE_BYTES = 8
"""Bytes of the per-array scale (one float64)."""


@dataclass(frozen=True)
class Quantized:
    """An array sent as int8 levels and one float64 scale: ``x ~ q * scale``.

    Introduced in :ref:`ch-limited-resources`.
    """

    q: NDArray[np.int8]
    scale: float

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: one per entry plus the scale."""
        return int(self.q.nbytes) + SCALE_BYTES


@dataclass(frozen=True)
class Sparse:
    """An array sent as its ``k`` kept entries: float64 values and int32 flat indices.

    Introduced in :ref:`ch-limited-resources`.
    """

    values: NDArray[np.float64]
    indices: NDArray[np.int32]
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: 8 per value plus 4 per index."""
        return int(self.values.nbytes + self.indices.nbytes)


Message = Quantized | Sparse | np.ndarray
Compressor = Callable[[np.ndarray], Quantized | Sparse]


def _check_array(x: object, *, name: str) -> NDArray[np.float64]:
    """Check a non-empty, finite, real array (no complex, boolean, string or object data)."""
    a = check_real_array(x, name=name)
    if a.size == 0:
        raise ValueError(f"{name} is empty: nothing to compress")
    return a


def _check_rng(rng: object, *, name: str = "rng") -> None:
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(
            f"{name} must be a numpy Generator, e.g. np.random.default_rng(seed) with a "
            f"non-negative integer seed, got {type(rng).__name__}"
        )


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
        If ``x`` is empty or contains NaN/Inf;
        :class:`~fedmed_lib._validate.InputTypeError` (also a ``TypeError``) if it is
        complex, boolean, string or object data, or ``rng`` is neither ``None`` nor a
        numpy ``Generator`` (pass ``np.random.default_rng(seed)``).
    """
    a = _check_array(x, name="x")
    if rng is not None:
        _check_rng(rng)
    peak = float(np.max(np.abs(a)))
    scale = peak / LEVELS
    if scale == 0.0:  # all zeros, or so tiny that the scale underflows: send zeros
        return Quantized(np.zeros(a.shape, dtype=np.int8), 0.0)
    r = a / scale
    if rng is None:
        levels = np.rint(r)
    else:
        low = np.floor(r)
        levels = low + (rng.random(r.shape) < (r - low))
    return Quantized(np.clip(levels, -LEVELS, LEVELS).astype(np.int8), scale)


def _check_quantized(msg: object) -> Quantized:
    if not isinstance(msg, Quantized):
        raise InputTypeError(f"msg must be a Quantized message, got {type(msg).__name__}")
    if not isinstance(msg.q, np.ndarray) or msg.q.dtype != np.int8:
        raise InputTypeError(
            f"msg.q must be an int8 array, got {getattr(msg.q, 'dtype', type(msg.q).__name__)}"
        )
    if msg.q.size and np.abs(msg.q.astype(np.int16)).max() > LEVELS:
        raise ValueError(f"msg.q has a level outside -{LEVELS}..{LEVELS}")
    scale = float(check_real_array(msg.scale, name="msg.scale", ndim=0))
    if scale < 0:
        raise ValueError(f"msg.scale must be >= 0, got {scale}")
    return msg


def dequantize(msg: Quantized) -> NDArray[np.float64]:
    """Rebuild the array ``q * scale`` from a :class:`Quantized` message.

    Introduced in :ref:`ch-limited-resources`.

    Raises
    ------
    ValueError
        If ``msg`` is not a :class:`Quantized` with int8 levels in ``-127..127`` and a
        finite scale ``>= 0``.
    """
    _check_quantized(msg)
    return msg.q.astype(np.float64) * float(msg.scale)


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
        If ``x`` is empty, not finite or not real, or ``k`` is not an integer in
        ``[1, x.size]`` (``1.5`` and ``True`` are refused).
    """
    a = _check_array(x, name="x")
    k = check_int(k, name="k")
    if not 1 <= k <= a.size:
        raise ValueError(f"k must lie in [1, {a.size}] for an array of {a.size} entries, got {k}")
    flat = a.ravel()
    order = np.argsort(-np.abs(flat), kind="stable")
    idx = np.sort(order[:k])
    return Sparse(flat[idx].copy(), idx.astype(np.int32), tuple(a.shape))


def _check_sparse(msg: object) -> Sparse:
    if not isinstance(msg, Sparse):
        raise InputTypeError(f"msg must be a Sparse message, got {type(msg).__name__}")
    shape = msg.shape
    if not isinstance(shape, tuple):
        raise InputTypeError(f"msg.shape must be a tuple of sizes, got {type(shape).__name__}")
    sizes = [check_int(d, name="msg.shape", minimum=0) for d in shape]
    size = int(np.prod(sizes))
    values = check_real_array(msg.values, name="msg.values", ndim=1)
    idx = msg.indices
    if not isinstance(idx, np.ndarray) or idx.dtype == np.bool_ or not np.issubdtype(
        idx.dtype, np.integer
    ):
        raise InputTypeError("msg.indices must be an integer array")
    if idx.shape != values.shape:
        raise ValueError(
            f"msg has {values.size} values but {idx.size} indices (shape {idx.shape})"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(f"msg.indices must lie in [0, {size}) for shape {tuple(sizes)}")
    if np.unique(idx).size != idx.size:
        raise ValueError("msg.indices has repeated entries")
    return msg


def densify(msg: Sparse) -> NDArray[np.float64]:
    """Rebuild the dense array from a :class:`Sparse` message (zeros elsewhere).

    Introduced in :ref:`ch-limited-resources`.

    Raises
    ------
    ValueError
        If ``msg`` is not a :class:`Sparse` whose values are finite and whose indices
        are distinct integers within its shape.
    """
    _check_sparse(msg)
    out = np.zeros(int(np.prod(msg.shape)), dtype=np.float64)
    out[msg.indices] = msg.values
    return out.reshape(msg.shape)


def decode(msg: Message) -> NDArray[np.float64]:
    """Turn any message (:class:`Quantized`, :class:`Sparse` or a raw array) back into an array.

    Introduced in :ref:`ch-limited-resources`.

    Raises
    ------
    ValueError
        If the message is malformed, or a raw array is not a finite real array.
    """
    if isinstance(msg, Quantized):
        return dequantize(msg)
    if isinstance(msg, Sparse):
        return densify(msg)
    if not isinstance(msg, np.ndarray):
        raise InputTypeError(
            f"msg must be a Quantized, a Sparse or a numpy array, got {type(msg).__name__}"
        )
    return check_real_array(msg, name="msg")


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

    Raises
    ------
    ValueError
        If a message is malformed or is not a :class:`Quantized`, a :class:`Sparse` or a
        finite real numpy array (naming its position in the list).
    """
    if isinstance(msgs, Quantized):
        return _check_quantized(msgs).nbytes
    if isinstance(msgs, Sparse):
        return _check_sparse(msgs).nbytes
    if isinstance(msgs, np.ndarray):
        check_real_array(msgs, name="msg")
        return int(msgs.nbytes)
    if isinstance(msgs, str | bytes) or not isinstance(msgs, Sequence):
        raise InputTypeError(
            "msgs must be a message (Quantized, Sparse or a numpy array) or a list of them, "
            f"got {type(msgs).__name__}"
        )
    total = 0
    for i, m in enumerate(msgs):
        if not isinstance(m, Quantized | Sparse | np.ndarray):
            raise InputTypeError(
                f"msgs[{i}] must be a Quantized, a Sparse or a numpy array, got {type(m).__name__}"
            )
        total += payload_bytes(m)
    return total


def topk_compressor(fraction: float) -> Compressor:
    """Return a compressor that keeps ``ceil(fraction * size)`` entries of each array.

    Introduced in :ref:`ch-limited-resources`.

    Raises
    ------
    ValueError
        If ``fraction`` is not a number in ``(0, 1]``.
    """
    fraction = check_fraction(fraction, name="fraction")

    def compress(x: np.ndarray) -> Sparse:
        size = int(np.size(x))
        return topk_sparsify(x, max(1, int(np.ceil(fraction * size))))

    return compress
