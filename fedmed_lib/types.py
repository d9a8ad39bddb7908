"""The types the whole library shares: parameters, a client's result, client and rule functions.

One place defines what every module passes around, with Flower's names where
Flower has one (Flower's ``NDArrays`` is our :data:`Params`; its ``FitRes``
arriving with its ``ClientProxy`` is our :class:`FitResult`). Modules import
these names from here and never write them out again. Introduced in
:ref:`ch-fedavg` (the round loop of McMahan et al., AISTATS 2017, whose pieces
these types name).

The client contract
-------------------
A client's result is either a plain ``(params, num_examples)`` pair (the chapters'
from-scratch code and Flower's ``aggregate`` use pairs; an error then names the
client by its *position* in the list) or a :class:`FitResult`, which also carries
the client's id ``cid`` (an error then names the client by its id). A strategy's
``aggregate_fit`` returns ``(params, metrics)``: the new model and a
:data:`Metrics` dict that says what the rule dropped, clipped or selected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AggregateFn",
    "Array",
    "ClientFn",
    "FitResult",
    "Metrics",
    "Params",
    "Result",
    "Results",
]

Array = NDArray[np.float64]
"""A float64 numpy array (data, a parameter vector, a gradient)."""

Params = list[NDArray[np.float64]]
"""Model parameters: a list of numpy arrays (Flower calls this ``NDArrays``)."""

Metrics = dict[str, Any]
"""What a strategy reports about one round of aggregation (Flower: ``dict[str, Scalar]``)."""


@dataclass(frozen=True, eq=False)
class FitResult:
    """One client's reply to a training round: who sent it, what, and on how much data.

    The book's version of Flower's ``(ClientProxy, FitRes)``. Introduced in
    :ref:`ch-fedavg`.

    A FitResult unpacks like the pair ``(params, num_examples)`` (``params, n =
    result``), so aggregation code written for pairs, such as the chapters'
    from-scratch rules or Flower's ``aggregate``, accepts FitResults unchanged. Nothing
    but ``cid`` is checked when it is built: a malformed update must reach the
    server, which rejects (or drops) it and names the client.

    Attributes
    ----------
    cid
        The client's id (its index in the federation, or a name).
    params
        The client's update: a list of arrays.
    num_examples
        The number of training examples behind the update (the weight of FedAvg).

    Raises
    ------
    InputTypeError
        If ``cid`` is not an integer or a string.
    """

    cid: int | str
    params: Sequence[np.ndarray]
    num_examples: int

    def __post_init__(self) -> None:
        """Check that the client id is an integer or a string."""
        from fedmed_lib._validate import check_client_id  # _validate imports this module

        check_client_id(self.cid, name="FitResult.cid")

    def __iter__(self) -> Iterator[Any]:
        """Unpack like the pair ``(params, num_examples)``."""
        yield self.params
        yield self.num_examples


Result = FitResult | tuple[Sequence[np.ndarray], int]
"""One client's result: a :class:`FitResult` or a plain ``(params, num_examples)`` pair."""

Results = Sequence[Result]
"""The results of one round, one per client."""

ClientFn = Callable[[int, Params, int, np.random.Generator], tuple[Params, int]]
"""``f(cid, params, server_round, rng) -> (update, num_examples)``: one client's training."""

AggregateFn = Callable[..., Params]
"""``f(results, reference=None) -> params``: an aggregation rule of :mod:`fedmed_lib.aggregate`."""
