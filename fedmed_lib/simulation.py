"""The round loop of a simulated federation, returning a :class:`History`.

One function, :func:`run_simulation`, runs the five steps of the server-client
loop (McMahan et al., 2017) for ``num_rounds`` rounds in a single process:
the server samples clients (``strategy.configure_fit``), sends them the global
model, each client trains on its own data (``client_fn``), the server aggregates
the updates (``strategy.aggregate_fit``) and evaluates. Nothing is printed:
the History holds every number and :mod:`fedmed_lib.plotting` draws it. The
generators of a run are derived from its seed in :mod:`fedmed_lib.seeds` (importable
from here). Introduced in :ref:`ch-fedavg`.

Who sent what is never lost: each client's reply becomes a
:class:`~fedmed_lib.types.FitResult` carrying the client's id, so an error names
the real client (client 7, not "the third sampled client"), and
``aggregate_fit`` returns ``(parameters, metrics)`` as in Flower; the metrics of
every round (updates dropped as malformed, clipped, or selected by Krum) are kept
in ``History.fit_metrics``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_callable,
    check_int,
    check_params,
    check_positive_int,
    check_seed,
    client_label,
)
from fedmed_lib.seeds import _client_rng as _client_rng
from fedmed_lib.seeds import round_rngs as round_rngs
from fedmed_lib.seeds import sampler_rng as sampler_rng
from fedmed_lib.seeds import server_rng as server_rng
from fedmed_lib.types import ClientFn, FitResult, Metrics, Params, Results

__all__ = [  # round_rngs, sampler_rng and server_rng are re-exported from fedmed_lib.seeds
    "EvalFn",
    "FitResult",
    "History",
    "StopFn",
    "Strategy",
    "check_strategy",
    "checked_aggregate_fit",
    "round_rngs",
    "run_simulation",
    "sampler_rng",
    "server_rng",
    "update_nbytes",
]


class Strategy(Protocol):
    """What the round loop needs from a strategy (Flower's words)."""

    def configure_fit(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> list[int]:
        """Return the indices of the clients that train this round."""
        ...

    def aggregate_fit(
        self,
        server_round: int,
        results: Results,
        current: Sequence[np.ndarray],
    ) -> tuple[Params, Metrics]:
        """Return the new global parameters and the round's metrics."""
        ...


def check_strategy(strategy: object) -> Any:
    """Check that ``strategy`` has ``configure_fit`` and ``aggregate_fit`` methods.

    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    InputTypeError
        If it has not (e.g. a class instead of an instance, or ``None``).
    """
    for method in ("configure_fit", "aggregate_fit"):
        if isinstance(strategy, type) or not callable(getattr(strategy, method, None)):
            raise InputTypeError(
                f"strategy must be a strategy object with a {method} method (e.g. FedAvg()), "
                f"got {_describe(strategy)}"
            )
    return strategy


def checked_aggregate_fit(
    strategy: Strategy,
    server_round: int,
    results: Results,
    current: Sequence[np.ndarray],
) -> tuple[Params, Metrics]:
    """Call ``strategy.aggregate_fit`` and check that it kept the contract.

    The contract: return ``(parameters, metrics)`` with ``parameters`` a list of
    finite arrays of the shapes of ``current`` and ``metrics`` a dict.
    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    InputTypeError
        If the strategy returns anything else (e.g. only the parameters).
    ValueError
        If the new parameters have other shapes than ``current`` or are not finite.
    """
    out = strategy.aggregate_fit(server_round, results, current)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise InputTypeError(
            "strategy.aggregate_fit must return (parameters, metrics), as Flower's "
            f"strategies do, got {_describe(out)}"
        )
    new = check_params(out[0], name="the parameters returned by aggregate_fit")
    if len(new) != len(current) or any(
        a.shape != np.shape(c) for a, c in zip(new, current, strict=False)
    ):
        raise ValueError(
            "aggregate_fit returned parameters of shapes "
            f"{[a.shape for a in new]}, the global model has {[np.shape(c) for c in current]}"
        )
    return new, dict(out[1])


EvalFn = Callable[[Params], dict[str, float]]
StopFn = Callable[["History"], bool]


@dataclass
class History:
    """What a simulation returns: metrics per round and the final parameters.

    Introduced in :ref:`ch-fedavg`.

    Attributes
    ----------
    metrics
        ``name -> list of values``, one value per evaluation; round 0 is the
        initial model.
    rounds
        The ``server_round`` of each evaluation.
    params
        The final global parameters.
    clients_per_round
        The sampled clients of each round.
    bytes_up
        Bytes uploaded by clients in each round (float64 updates).
    params_per_round
        The global parameters after each round (round 0 first), filled only when
        :func:`run_simulation` is called with ``keep_params=True``.
    fit_metrics
        One dict per round: the metrics that ``strategy.aggregate_fit`` returned
        (``num_updates``, and, depending on the strategy, ``num_dropped`` /
        ``dropped_clients``, ``num_clipped`` / ``clipped_clients``,
        ``krum_selected``, ...; clients are named by their ids).
    """

    metrics: dict[str, list[float]] = field(default_factory=dict)
    rounds: list[int] = field(default_factory=list)
    params: Params = field(default_factory=list)
    clients_per_round: list[list[int]] = field(default_factory=list)
    bytes_up: list[int] = field(default_factory=list)
    params_per_round: list[Params] = field(default_factory=list)
    fit_metrics: list[Metrics] = field(default_factory=list)

    def add_metrics(self, server_round: int, values: dict[str, float]) -> None:
        """Record the metrics of one evaluation.

        Raises
        ------
        InputTypeError
            If ``values`` is not a dict of real numbers (what ``eval_fn`` must return).
        """
        if not isinstance(values, dict):
            raise InputTypeError(
                f"eval_fn must return a dict of metrics, got {_describe(values)}"
            )
        for k, v in values.items():
            a = np.asarray(v) if not isinstance(v, str | bytes) else np.asarray(None)
            if a.ndim != 0 or a.dtype.kind not in "iuf":
                raise InputTypeError(f"metric {k!r} must be a real number, got {_describe(v)}")
        self.rounds.append(server_round)
        for k, v in values.items():
            self.metrics.setdefault(k, []).append(float(v))

    def record_round(
        self,
        clients: Sequence[int],
        results: Sequence[FitResult] | None,
        metrics: Metrics,
        params: Sequence[np.ndarray] | None = None,
        *,
        bytes_up: int | None = None,
    ) -> None:
        """Record one round of training: who trained, the bytes they sent, the rule's metrics.

        Every simulator fills its History through this method, so that the bytes
        uploaded are counted in one place: the sum of the ``nbytes`` of every array
        of every client's update (float64 in this book). A simulator that never
        builds the updates (:class:`fedmed_lib.vectorized.VectorizedFedAvg`) passes
        ``results=None`` and ``bytes_up``, computed with :func:`update_nbytes`.
        ``params``, if given, are the global parameters after the round (kept in
        :attr:`params_per_round`). Introduced in :ref:`ch-fedavg`.
        """
        if results is not None:
            bytes_up = sum(update_nbytes(r.params) for r in results)
        if bytes_up is None:
            raise ValueError("record_round needs the clients' results or bytes_up")
        self.clients_per_round.append(list(clients))
        self.bytes_up.append(int(bytes_up))
        self.fit_metrics.append(dict(metrics))
        if params is not None:
            self.params_per_round.append([np.array(p, copy=True) for p in params])

    def rounds_to_reach(
        self, name: str, target: float, *, higher_is_better: bool = True
    ) -> int | None:
        """First round at which metric ``name`` reaches ``target`` (``None`` if never).

        With ``higher_is_better=False`` (a loss), "reaches" means ``value <= target``.
        """
        for r, v in zip(self.rounds, self.metrics.get(name, []), strict=False):
            if (v >= target) if higher_is_better else (v <= target):
                return r
        return None

    def final(self, name: str) -> float:
        """Last recorded value of a metric."""
        return self.metrics[name][-1]

    def as_dict(self) -> dict[str, Any]:
        """Return the history as a plain dict (for tables)."""
        return {"round": list(self.rounds), **{k: list(v) for k, v in self.metrics.items()}}


def _check_sampled(chosen: object, num_clients: int, server_round: int) -> list[int]:
    if not isinstance(chosen, Sequence) or isinstance(chosen, str | bytes):
        raise InputTypeError(
            f"configure_fit must return a list of client ids, got {_describe(chosen)}"
        )
    out: list[int] = []
    for c in chosen:
        if isinstance(c, bool | np.bool_) or not isinstance(c, numbers.Integral):
            raise InputTypeError(
                f"the strategy sampled {_describe(c)}, which is not a client id (an integer)"
            )
        if not 0 <= int(c) < num_clients:
            raise ValueError(
                f"the strategy sampled client {int(c)}, but clients are 0..{num_clients - 1}"
            )
        if int(c) in out:
            raise ValueError(f"the strategy sampled client {int(c)} twice")
        out.append(int(c))
    if not out:
        raise ValueError(f"the strategy sampled no client in round {server_round}")
    return out


def _fit_result(cid: int, reply: object) -> FitResult:
    if not isinstance(reply, tuple | list) or len(reply) != 2:
        raise InputTypeError(
            f"{client_label(cid)}: client_fn must return (update, num_examples), "
            f"got {_describe(reply)}"
        )
    return FitResult(cid, reply[0], reply[1])


def update_nbytes(params: Sequence[np.ndarray], num_clients: int = 1) -> int:
    """Bytes that ``num_clients`` clients upload when each sends arrays shaped like ``params``.

    The sum of ``nbytes`` over the arrays (8 bytes per float64 number), times
    ``num_clients``. Introduced in :ref:`ch-fedavg`.
    """
    return num_clients * sum(int(np.asarray(a).nbytes) for a in params)


def run_simulation(
    *,
    client_fn: ClientFn,
    num_clients: int,
    initial_parameters: Sequence[np.ndarray],
    strategy: Strategy,
    num_rounds: int,
    seed: int = 0,
    eval_fn: EvalFn | None = None,
    eval_every: int = 1,
    keep_params: bool = False,
    stop_fn: StopFn | None = None,
) -> History:
    """Run ``num_rounds`` rounds of federated training in one process.

    Parameters
    ----------
    client_fn
        ``f(client_id, params, server_round, rng) -> (update, num_examples)``, e.g.
        from :func:`fedmed_lib.local_training.numpy_client_fn`. Each reply is handed to
        the strategy as a :class:`~fedmed_lib.types.FitResult` with the client's id.
    num_clients
        Number of clients in the federation (an integer ``>= 1``).
    initial_parameters
        The server's initial model (step 1 of the loop).
    strategy
        Client sampling and aggregation, e.g. :class:`fedmed_lib.algorithms.FedAvg`;
        its ``aggregate_fit`` returns ``(parameters, metrics)``.
    num_rounds
        Communication rounds (an integer ``>= 0``).
    seed
        A non-negative integer (``None`` is refused: runs are reproducible). Seeds
        client sampling (:func:`~fedmed_lib.seeds.sampler_rng`) and each client's
        minibatch shuffling: every client gets its own generator for each round
        (:func:`~fedmed_lib.seeds.round_rngs`), so results do not depend on the order
        in which clients run.
    eval_fn
        ``f(params) -> {"accuracy": ..., ...}``, called at round 0 and every
        ``eval_every`` rounds.
    eval_every
        Evaluate every this many rounds (an integer ``>= 1``), and after the last.
    keep_params
        Keep the global parameters of every round in ``History.params_per_round``.
    stop_fn
        ``f(history) -> bool``, called after each evaluation; the simulation stops
        early when it returns ``True`` (e.g. once a target accuracy is reached, to
        count communication rounds in :ref:`ch-fedavg`).

    Returns
    -------
    History
        Metrics, sampled clients, bytes and the aggregation metrics of every round
        (``History.fit_metrics``), and the final parameters.

    Raises
    ------
    ValueError
        If ``num_clients``, ``num_rounds`` or ``eval_every`` is out of range, the
        initial parameters contain NaN/Inf, the strategy samples a client that does
        not exist, or a client's update is malformed (the message names the client
        by its id).
    InputTypeError
        If an argument has the wrong type (``num_rounds=2.5``, ``seed=None``, a
        ``client_fn`` that is not a function, ...), naming it.
    """
    check_callable(client_fn, name="client_fn")
    n_clients = check_positive_int(num_clients, name="num_clients")
    n_rounds = check_int(num_rounds, name="num_rounds", minimum=0)
    seed_ = check_seed(seed)
    every = check_positive_int(eval_every, name="eval_every")
    check_strategy(strategy)
    if eval_fn is not None:
        check_callable(eval_fn, name="eval_fn")
    if stop_fn is not None:
        check_callable(stop_fn, name="stop_fn")
        if eval_fn is None:
            raise ValueError("stop_fn needs eval_fn: it looks at the evaluated metrics")
    params = check_params(initial_parameters, name="initial_parameters")
    history = History()
    sampler = sampler_rng(seed_)
    if eval_fn is not None:
        history.add_metrics(0, eval_fn([p.copy() for p in params]))
    if keep_params:
        history.params_per_round.append([p.copy() for p in params])
    for server_round in range(1, n_rounds + 1):
        chosen = _check_sampled(
            strategy.configure_fit(server_round, n_clients, sampler), n_clients, server_round
        )
        results = []
        for cid in chosen:  # each client's generator is round_rngs(...)[cid]
            rng = _client_rng(seed_, server_round, cid)
            reply = client_fn(cid, [p.copy() for p in params], server_round, rng)
            results.append(_fit_result(cid, reply))
        params, metrics = checked_aggregate_fit(strategy, server_round, results, params)
        history.record_round(chosen, results, metrics, params if keep_params else None)
        if eval_fn is not None and (server_round % every == 0 or server_round == n_rounds):
            history.add_metrics(server_round, eval_fn([p.copy() for p in params]))
            if stop_fn is not None and stop_fn(history):
                break
    history.params = params
    return history
