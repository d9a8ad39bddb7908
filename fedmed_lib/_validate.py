"""Input checks shared by the whole library.

Every public function that receives client data, client updates or configuration
validates it here, so that bad input fails early with an error that says *which*
client sent *what* (or which parameter is wrong), before the global model is
touched. One place decides what a number, a count, a seed and an array are:

* a **number** is a real ``int`` or ``float`` (or a numpy scalar of that kind);
  ``True``, ``None``, strings and complex numbers are not numbers;
* a **count** (``num_rounds``, ``local_epochs``, ``batch_size``, ``num_clients``, ...)
  is an integer, never ``2.5`` and never ``True``;
* a **seed** is a non-negative integer; ``None`` is refused everywhere, because the
  book's runs are reproducible;
* an **array** of parameters or data is real-valued: complex, boolean, string and
  object arrays are refused rather than silently converted.

Errors of the wrong *type* raise :class:`InputTypeError`, which is both a
``TypeError`` and a ``ValueError``, so code that catches either sees it.

One job: these definitions, and the checks of what a client sends (an update and its
``num_examples``) and of how a client function is called. The checks of a client's
*data* (``X`` and ``y``, labels, per-patient columns and scores, the list of clients)
are in :mod:`fedmed_lib._validate_data`. Introduced in :ref:`ch-fedsgd`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fedmed_lib.types import Params


class InputTypeError(TypeError, ValueError):
    """Input of the wrong type (a string, ``None``, ``True`` or a complex number, say).

    A subclass of both ``TypeError`` and ``ValueError``: callers that catch the
    library's ``ValueError`` for bad input also catch this one.
    """


def client_label(client: int | str) -> str:
    """Return the name used for a client in error messages."""
    return f"client {client!r}" if isinstance(client, str) else f"client {client}"


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_list(value: object, *, what: str) -> Sequence[Any]:
    """Refuse ``None``, strings, arrays and non-sequences where a list is expected.

    ``what`` says what was expected ("clients must be a list of (X, y) pairs"); the
    error adds what was received.
    """
    if value is None or isinstance(value, str | bytes | np.ndarray) or not isinstance(
        value, Sequence
    ):
        raise InputTypeError(f"{what}, got {_describe(value)}")
    return value


def check_number(value: object, *, name: str) -> float:
    """Check that ``value`` is a finite real number (not bool, None, str or complex)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a real number, got {_describe(value)}")
    x = float(value)
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


def check_real_setting(value: object, *, name: str, what: str) -> float:
    """Return a setting as a float; a wrong type raises :class:`InputTypeError` in Flower's words.

    The message reads like Flower's DP wrapper: "The clipping norm (clipping_norm)
    should be a real number, got ...". Range checks are the caller's.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise InputTypeError(
            f"The {what} ({name}) should be a real number, got {_describe(value)}."
        )
    return float(value)


def check_clipping_norm(clipping_norm: object) -> float:
    """Check a clipping bound ``C``: a finite real number ``> 0`` (Flower's message)."""
    c = check_real_setting(clipping_norm, name="clipping_norm", what="clipping norm")
    if not np.isfinite(c) or c <= 0:
        raise ValueError("The clipping norm should be a positive value.")
    return c


def check_positive_int(value: object, *, name: str) -> int:
    """Check a count that must be at least 1 (``local_epochs``, ``num_clients``, ...)."""
    return check_int(value, name=name, minimum=1)


def check_int(value: object, *, name: str, minimum: int | None = None) -> int:
    """Check that ``value`` is an integer (not bool, not ``2.5``), at least ``minimum``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {_describe(value)}")
    n = int(value)
    if minimum is not None and n < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {n}")
    return n


def check_seed(seed: object, *, name: str = "seed") -> int:
    """Check that a seed is a non-negative integer; ``None`` is refused (runs are reproducible)."""
    if seed is None:
        raise InputTypeError(
            f"{name} must be a non-negative integer, got None (the book's runs are reproducible: "
            "pass a seed)"
        )
    return check_int(seed, name=name, minimum=0)


def check_real_array(
    value: object, *, name: str, ndim: int | None = None, allow_empty: bool = True
) -> NDArray[np.float64]:
    """Return ``value`` as a finite float64 array, refusing complex, bool, string and object data.

    Raises
    ------
    InputTypeError
        If ``value`` is ``None``, a string, or an array of complex, boolean, string or
        object values.
    ValueError
        If it is ragged, has the wrong number of dimensions, is empty (with
        ``allow_empty=False``) or contains NaN or Inf.
    """
    if value is None or isinstance(value, str | bytes):
        raise InputTypeError(f"{name} must be a numeric array, got {_describe(value)}")
    try:
        a = np.asarray(value)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{name} is not a rectangular numeric array ({err})") from err
    kind = a.dtype.kind
    if kind not in "fiu":
        if kind == "b":
            raise InputTypeError(f"{name} must be numeric, got a boolean array")
        if kind == "c":
            raise InputTypeError(f"{name} must be real, got a complex array")
        raise InputTypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not allow_empty and a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(a).all():  # one pass in the common case; say which on failure
        if np.isnan(a).any():
            raise ValueError(f"{name} contains NaN")
        raise ValueError(f"{name} contains Inf")
    return a


def check_params(params: Sequence[np.ndarray], *, name: str = "params") -> Params:
    """Check that ``params`` is a non-empty list of finite real arrays and return a copy."""
    if isinstance(params, np.ndarray):
        raise InputTypeError(f"{name} must be a list of numpy arrays, got a single array")
    if params is None or isinstance(params, str | bytes) or not isinstance(params, Sequence):
        raise InputTypeError(f"{name} must be a list of numpy arrays, got {_describe(params)}")
    if len(params) == 0:
        raise ValueError(f"{name} is empty: expected at least one array")
    return [check_real_array(p, name=f"{name}[{i}]").copy() for i, p in enumerate(params)]


def check_update(
    update: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    *,
    client: int | str,
) -> Params:
    """Check one client's update against the shapes of the global model.

    Raises
    ------
    ValueError
        If the update has the wrong number of arrays, a wrong shape, or NaN/Inf,
        naming the client and the problem.
    InputTypeError
        If the update is not a list of arrays, or an array is complex, boolean,
        string or object-valued (naming the client).
    """
    who = client_label(client)
    if isinstance(update, np.ndarray):
        raise InputTypeError(f"{who}: update must be a list of arrays, got a single array")
    if update is None or isinstance(update, str | bytes) or not isinstance(update, Sequence):
        raise InputTypeError(f"{who}: update must be a list of arrays, got {_describe(update)}")
    if len(update) != len(reference):
        raise ValueError(
            f"{who}: update has {len(update)} arrays, the global model has {len(reference)}"
        )
    out: Params = []
    for i, (u, r) in enumerate(zip(update, reference, strict=True)):
        a = check_real_array(u, name=f"{who}: array {i}")
        if a.shape != np.shape(r):
            raise ValueError(f"{who}: array {i} has shape {a.shape}, expected {np.shape(r)}")
        out.append(a)
    return out


def check_num_examples(num_examples: object, *, client: int | str) -> int:
    """Check that a client's ``num_examples`` is a positive integer."""
    who = client_label(client)
    if isinstance(num_examples, bool | np.bool_) or not isinstance(num_examples, numbers.Integral):
        raise InputTypeError(
            f"{who}: num_examples must be an integer, got {_describe(num_examples)}"
        )
    if num_examples <= 0:
        raise ValueError(f"{who}: num_examples must be positive, got {num_examples}")
    return int(num_examples)


def check_positive(value: object, *, name: str) -> float:
    """Check that a hyper-parameter is a finite positive number."""
    x = check_number(value, name=name)
    if x <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return x


def check_nonnegative(value: object, *, name: str) -> float:
    """Check that a hyper-parameter is a finite number ``>= 0``."""
    x = check_number(value, name=name)
    if x < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return x


def check_fraction(value: object, *, name: str) -> float:
    """Check that ``value`` lies in (0, 1]."""
    x = check_number(value, name=name)
    if not 0 < x <= 1:
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
    return x


def check_optional_int(value: object, *, name: str, minimum: int | None = None) -> int | None:
    """Check an integer that may also be ``None`` (``batch_size=None`` means full batch)."""
    if value is None:
        return None
    return check_int(value, name=name, minimum=minimum)


def check_rng(rng: object, *, name: str = "rng") -> np.random.Generator:
    """Check that ``rng`` is a ``numpy.random.Generator`` (not a seed, not ``None``)."""
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(
            f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {_describe(rng)}"
        )
    return rng


def check_client_id(cid: object, *, name: str = "client id") -> int | str:
    """Check that ``cid`` can name a client: an integer (not bool) or a string."""
    if isinstance(cid, str):
        return cid
    if isinstance(cid, bool | np.bool_) or not isinstance(cid, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer or a string, got {_describe(cid)}")
    return int(cid)


def check_client_index(cid: object, num_clients: int) -> int:
    """Check that ``cid`` is the index of one of ``num_clients`` clients (``0..num_clients-1``)."""
    if isinstance(cid, bool | np.bool_) or not isinstance(cid, numbers.Integral):
        raise InputTypeError(
            f"client id must be an integer in 0..{num_clients - 1}, got {_describe(cid)}"
        )
    if not 0 <= int(cid) < num_clients:
        raise ValueError(f"client {int(cid)} does not exist: clients are 0..{num_clients - 1}")
    return int(cid)


def check_client_call(
    cid: object, params: object, server_round: object, rng: object, *, num_clients: int
) -> tuple[int, str, np.random.Generator, Params]:
    """Check the arguments a client function receives from the round loop.

    ``cid`` must be one of ``0..num_clients-1``, ``server_round`` an integer ``>= 0``,
    ``rng`` a ``numpy.random.Generator`` and ``params`` a non-empty list of finite
    arrays. Returns ``(k, label, rng, params)``, ``label`` being the client's name in
    error messages (``"client 3"``) and ``params`` a checked copy.
    """
    k = check_client_index(cid, num_clients)
    who = client_label(k)
    check_int(server_round, name=f"{who}: server_round", minimum=0)
    gen = check_rng(rng, name=f"{who}: rng")
    received = check_params(params, name=f"{who}: params")  # type: ignore[arg-type]
    return k, who, gen, received


def check_callable(value: object, *, name: str) -> None:
    """Check that ``value`` can be called (a function such as ``client_fn`` or ``eval_fn``)."""
    if not callable(value):
        raise InputTypeError(f"{name} must be a function, got {_describe(value)}")


def check_learner_fn(fn: object) -> None:
    """Refuse a self-check called on something that is not a function.

    The common slip is calling the function instead of passing it
    (``check_clip(clip(update, 1.0))``). Raises :class:`InputTypeError` naming ``fn``.
    """
    if not callable(fn):
        raise InputTypeError(
            "fn must be your function itself (pass its name, without calling it), got "
            f"{_describe(fn)}"
        )
