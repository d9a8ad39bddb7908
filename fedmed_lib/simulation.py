"""The round loop of a simulated federation, returning a :class:`History`.

One function, :func:`run_simulation`, runs the five steps of the server-client
loop (McMahan et al., 2017) for ``num_rounds`` rounds in a single process:
the server samples clients (``strategy.configure_fit``), sends them the global
model, each client trains on its own data (``client_fn``), the server aggregates
the updates (``strategy.aggregate_fit``) and evaluates. Nothing is printed:
the History holds every number and :mod:`fedmed_lib.plotting` draws it.
Introduced in :ref:`ch-fedavg`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fedmed_lib._validate import Params, check_params
from fedmed_lib.algorithms import ClientFn


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
        results: Sequence[tuple[Sequence[np.ndarray], int]],
        current: Sequence[np.ndarray],
    ) -> Params:
        """Return the new global parameters."""
        ...


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
    """

    metrics: dict[str, list[float]] = field(default_factory=dict)
    rounds: list[int] = field(default_factory=list)
    params: Params = field(default_factory=list)
    clients_per_round: list[list[int]] = field(default_factory=list)
    bytes_up: list[int] = field(default_factory=list)
    params_per_round: list[Params] = field(default_factory=list)

    def add_metrics(self, server_round: int, values: dict[str, float]) -> None:
        """Record the metrics of one evaluation."""
        self.rounds.append(server_round)
        for k, v in values.items():
            self.metrics.setdefault(k, []).append(float(v))

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
        from :func:`fedmed_lib.algorithms.numpy_client_fn`.
    num_clients
        Number of clients in the federation.
    initial_parameters
        The server's initial model (step 1 of the loop).
    strategy
        Client sampling and aggregation, e.g. :class:`fedmed_lib.algorithms.FedAvg`.
    num_rounds
        Communication rounds.
    seed
        Seeds client sampling and each client's minibatch shuffling; every
        client gets its own generator for each round, so results do not depend
        on the order in which clients run.
    eval_fn
        ``f(params) -> {"accuracy": ..., ...}``, called at round 0 and every
        ``eval_every`` rounds.
    keep_params
        Keep the global parameters of every round in ``History.params_per_round``.
    stop_fn
        ``f(history) -> bool``, called after each evaluation; the simulation stops
        early when it returns ``True`` (e.g. once a target accuracy is reached, to
        count communication rounds in :ref:`ch-fedavg`).

    Raises
    ------
    ValueError
        If ``num_clients``, ``num_rounds`` or ``eval_every`` is out of range, the
        initial parameters contain NaN/Inf, or the strategy samples a client that
        does not exist.
    """
    if num_clients < 1:
        raise ValueError(f"num_clients must be at least 1, got {num_clients}")
    if num_rounds < 0:
        raise ValueError(f"num_rounds must be non-negative, got {num_rounds}")
    if eval_every < 1:
        raise ValueError(f"eval_every must be at least 1, got {eval_every}")
    if stop_fn is not None and eval_fn is None:
        raise ValueError("stop_fn needs eval_fn: it looks at the evaluated metrics")
    params = check_params(initial_parameters, name="initial_parameters")
    history = History()
    root = np.random.SeedSequence(seed)
    sampler = np.random.default_rng(root.spawn(1)[0])
    if eval_fn is not None:
        history.add_metrics(0, eval_fn(params))
    if keep_params:
        history.params_per_round.append([p.copy() for p in params])
    for server_round in range(1, num_rounds + 1):
        chosen = strategy.configure_fit(server_round, num_clients, sampler)
        bad = [c for c in chosen if not 0 <= c < num_clients]
        if bad:
            raise ValueError(
                f"the strategy sampled client {bad[0]}, but clients are 0..{num_clients - 1}"
            )
        round_seeds = np.random.SeedSequence([seed, server_round]).spawn(num_clients)
        results = []
        for cid in chosen:
            rng = np.random.default_rng(round_seeds[cid])
            update, n = client_fn(cid, [p.copy() for p in params], server_round, rng)
            results.append((update, n))
        params = strategy.aggregate_fit(server_round, results, params)
        history.clients_per_round.append(list(chosen))
        history.bytes_up.append(sum(sum(np.asarray(a).nbytes for a in u) for u, _ in results))
        if keep_params:
            history.params_per_round.append([p.copy() for p in params])
        if eval_fn is not None and (server_round % eval_every == 0 or server_round == num_rounds):
            history.add_metrics(server_round, eval_fn(params))
            if stop_fn is not None and stop_fn(history):
                break
    history.params = params
    return history
