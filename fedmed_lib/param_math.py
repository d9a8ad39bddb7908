"""Arithmetic on model parameters (lists of arrays): sums, flattening, norms and clipping.

One job: compute with ``Params`` the way every strategy needs, checked and without
overflow. :func:`add` and :func:`subtract` give the server's step
``theta + server_lr * update`` and a client's update (:ref:`ch-fedavg`);
:func:`flatten` and :func:`unflatten` turn the arrays into one vector and back
(:ref:`ch-gradient-descent`); :func:`global_norm` is the Euclidean norm of all arrays
together, and :func:`clip_update` the clipping ``update * min(1, C / ||update||)``
that DP-FedAvg (McMahan et al., 2018) and the norm-bounded robust rules share
(:ref:`ch-differential-privacy`). Norms are computed with a power-of-two scaling, so
an update with entries ``1e200`` has a finite ``(s, r)`` and is still clipped to norm
``C``. The aggregation rules over the clients' results are in
:mod:`fedmed_lib.aggregate`, which also makes these importable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    check_clipping_norm,
    check_list,
    check_number,
    check_params,
    check_real_array,
)
from fedmed_lib.types import Params

# --- arithmetic on parameters ----------------------------------------------------------


def _arrays(params: Sequence[np.ndarray], name: str) -> list[NDArray[np.float64]]:
    check_list(params, what=f"{name} must be a list of numpy arrays")
    return [check_real_array(p, name=f"{name}[{i}]") for i, p in enumerate(params)]


def add(params: Sequence[np.ndarray], other: Sequence[np.ndarray], scale: float = 1.0) -> Params:
    """Return ``params + scale * other`` array by array.

    The server's step ``theta + server_lr * mean update``. Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If the two lists differ in length or shapes, or hold NaN/Inf; ``scale`` must be
        a finite real number.
    """
    s = check_number(scale, name="scale")
    a, b = _arrays(params, "params"), _arrays(other, "other")
    if len(a) != len(b):
        raise ValueError(f"params has {len(a)} arrays, other has {len(b)}")
    for i, (p, o) in enumerate(zip(a, b, strict=True)):
        if p.shape != o.shape:
            raise ValueError(f"array {i}: params has shape {p.shape}, other has {o.shape}")
    return add_checked(a, b, s)


def add_checked(params: Sequence[np.ndarray], other: Sequence[np.ndarray], scale: float) -> Params:
    """Compute :func:`add` on arrays that are already checked (no copies, no checks).

    Introduced in :ref:`ch-fedavg`.
    """
    return [np.asarray(p + scale * o) for p, o in zip(params, other, strict=True)]


def subtract(params: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> Params:
    """Return ``params - other`` array by array (e.g. a client's model update).

    Introduced in :ref:`ch-fedavg`.
    """
    return add(params, other, -1.0)


def flatten(params: Sequence[np.ndarray]) -> NDArray[np.float64]:
    """Concatenate all arrays into one vector. Introduced in :ref:`ch-gradient-descent`."""
    arrays = _arrays(params, "params")
    if not arrays:
        return np.zeros(0)
    return np.concatenate([np.ravel(p) for p in arrays])


def unflatten(vector: np.ndarray, like: Sequence[np.ndarray]) -> Params:
    """Split a vector back into arrays shaped like ``like`` (inverse of :func:`flatten`).

    Introduced in :ref:`ch-gradient-descent`.

    Raises
    ------
    ValueError
        If the vector is not 1-D or its length differs from the total size of ``like``.
    """
    v = check_real_array(vector, name="vector", ndim=1)
    check_list(like, what="like must be a list of numpy arrays")
    need = sum(int(np.size(p)) for p in like)
    if need != v.size:
        raise ValueError(f"vector has {v.size} entries, the arrays need {need}")
    out, i = [], 0
    for p in like:
        size = int(np.size(p))
        out.append(v[i : i + size].reshape(np.shape(p)))
        i += size
    return out


def global_norm(params: Sequence[np.ndarray]) -> float:
    """Euclidean norm of all arrays taken together (used for clipping).

    Computed as ``s * sqrt(sum (x / s)^2)`` with ``s`` a power of two near the
    largest ``|x|`` (:func:`scaled_norm`): exact to the last bit like the plain formula, without
    overflowing for entries of ``1e200`` (it is ``inf`` only if the norm itself
    exceeds the largest float). Introduced in :ref:`ch-differential-privacy`.
    """
    s, r = scaled_norm(params)
    return float(s * r)


def scaled_norm(params: Sequence[np.ndarray]) -> tuple[float, float]:
    """Return ``(s, r)`` with ``||params|| = s * r``, ``s`` a power of two, ``r`` finite.

    ``s`` is the power of two of :func:`~fedmed_lib.aggregate.pow2_scale` of the
    largest ``|x|``, so every ``|x / s| < 2`` and ``r <= 2 sqrt(size)``.
    The norm of an update with entries ``1e200`` overflows; ``s`` and ``r`` do not,
    so clipping can use ``r`` (see :func:`clip_update`).
    Introduced in :ref:`ch-differential-privacy`.
    """
    return scaled_norm_checked(_arrays(params, "params"))


def scaled_norm_checked(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    """Compute :func:`scaled_norm` on float arrays that are already checked.

    Introduced in :ref:`ch-differential-privacy`.
    """
    sizes = [a for a in arrays if a.size]
    if not sizes:
        return 1.0, 0.0
    top = max(max(float(np.max(a)), -float(np.min(a))) for a in sizes)
    if top == 0.0:
        return 1.0, 0.0
    s = math.ldexp(1.0, math.frexp(top)[1] - 1)  # as aggregate.pow2_scale: s <= top < 2 s
    r = float(np.sqrt(sum(float(np.sum(np.square(a / s))) for a in arrays)))
    return s, r


# --- clipping: the norm bound of DP-FedAvg and of norm-bounded robust rules -----------


def clip_and_flag(update: Sequence[np.ndarray], clipping_norm: float) -> tuple[Params, bool]:
    """Clip an update as :func:`clip_update` does and say whether it was scaled down.

    Introduced in :ref:`ch-differential-privacy`.

    Returns
    -------
    clipped, was_clipped
        ``update * min(1, C / ||update||)`` and ``||update|| > C``.
    """
    c = check_clipping_norm(clipping_norm)
    return clip_checked(check_params(update, name="update"), c)


def clip_checked(arrays: Params, clipping_norm: float) -> tuple[Params, bool]:
    """Compute :func:`clip_and_flag` on checked float arrays and a checked norm.

    ``||update|| = s * r`` (:func:`scaled_norm_checked`); the update
    is kept if ``r <= C / s`` and otherwise becomes ``(update / s) * (C / r)``, which is
    ``update * C / ||update||`` to the last bit, and never overflows. Introduced in
    :ref:`ch-differential-privacy`.
    """
    s, r = scaled_norm_checked(arrays)
    if r <= clipping_norm / s:  # ||update|| <= C, without computing s * r (may overflow)
        return list(arrays), False
    factor = clipping_norm / r
    return [(a / s) * factor for a in arrays], True


def clip_update(update: Sequence[np.ndarray], clipping_norm: float) -> Params:
    """Scale an update down so that its global L2 norm is at most ``clipping_norm``.

    Returns ``update * min(1, C / ||update||)``, the norm taken over all arrays
    together. Updates already inside the ball are returned unchanged (never
    scaled up); the input is not modified. The norm is computed with a power-of-two
    scaling (:func:`scaled_norm`), so an update with entries
    ``1e200``, whose norm overflows, is still scaled to norm ``C``. Introduced in
    :ref:`ch-differential-privacy`.

    Parameters
    ----------
    update
        A model update (list of arrays), e.g. ``theta_local - theta_global``.
    clipping_norm
        The bound ``C > 0``.

    Raises
    ------
    ValueError
        If ``clipping_norm`` is not positive, or the update is empty, not a list of
        real arrays, or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> clip_update([np.array([3.0, 4.0])], 1.0)[0]
    array([0.6, 0.8])
    """
    return clip_and_flag(update, clipping_norm)[0]
