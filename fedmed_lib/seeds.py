"""The seed plumbing of a run: every generator of a simulation, derived from its seed.

One job: one place decides which random stream each part of a run uses, so that a
run is reproducible and does not depend on the order in which clients train. From
the run's ``seed``, :func:`sampler_rng` gives the server's generator for client
sampling, :func:`round_rngs` one generator per client per round (the ``k``-th child
of ``SeedSequence([seed, server_round])``), and :func:`server_rng` the server's own
generator of a round (e.g. for DP noise), independent of the clients'.
:func:`fedmed_lib.simulation.run_simulation` uses exactly these, so from-scratch code
that uses them agrees with the library to the last bit; they are importable from
:mod:`fedmed_lib.simulation` too. Introduced in :ref:`ch-fedavg`.
"""

from __future__ import annotations

import numpy as np

from fedmed_lib._validate import check_int, check_positive_int, check_seed


def sampler_rng(seed: int) -> np.random.Generator:
    """Return the server's generator for client sampling in a run seeded with ``seed``.

    ``np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])``: its own
    stream, independent of the clients' generators (:func:`round_rngs`), so sampling
    does not change when the clients' training draws more or fewer numbers.
    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer (``None`` is refused).
    """
    root = np.random.SeedSequence(check_seed(seed))
    return np.random.default_rng(root.spawn(1)[0])


def round_rngs(seed: int, server_round: int, num_clients: int) -> list[np.random.Generator]:
    """Return one generator per client for round ``server_round`` of a run seeded with ``seed``.

    Client ``k`` trains with ``round_rngs(seed, server_round, num_clients)[k]``, which
    is ``np.random.default_rng(np.random.SeedSequence([seed, server_round]).spawn(
    num_clients)[k])``. Every client of every round has its own stream, so a run does
    not depend on the order in which clients train, nor on which other clients were
    sampled; :func:`~fedmed_lib.simulation.run_simulation` uses exactly these, so
    from-scratch code that uses them agrees with the library to the last bit.
    Introduced in :ref:`ch-fedavg`.

    Raises
    ------
    ValueError
        If ``seed`` is negative, ``server_round`` is below 0 or ``num_clients`` below 1
        (all must be integers).
    """
    children = np.random.SeedSequence(
        [check_seed(seed), check_int(server_round, name="server_round", minimum=0)]
    ).spawn(check_positive_int(num_clients, name="num_clients"))
    return [np.random.default_rng(child) for child in children]


def _client_rng(seed: int, server_round: int, cid: int) -> np.random.Generator:
    """``round_rngs(seed, server_round, K)[cid]`` for any ``K > cid``, built alone.

    The ``cid``-th child of ``SeedSequence([seed, server_round]).spawn(K)`` is the seed
    sequence with the same entropy and ``spawn_key=(cid,)``, so a round that samples
    only some clients need not build a generator for every client.
    """
    return np.random.default_rng(
        np.random.SeedSequence([seed, server_round], spawn_key=(cid,))
    )


def server_rng(seed: int, server_round: int) -> np.random.Generator:
    """Return the server's own generator for round ``server_round`` (e.g. for DP noise).

    ``np.random.default_rng(np.random.SeedSequence([seed, server_round]))``: the root
    of the round's seed tree, whose children are the clients' generators
    (:func:`round_rngs`), so its stream is independent of theirs.
    Introduced in :ref:`ch-differential-privacy`.

    Raises
    ------
    ValueError
        If ``seed`` is negative or ``server_round`` below 0 (both must be integers).
    """
    return np.random.default_rng(
        np.random.SeedSequence(
            [check_seed(seed), check_int(server_round, name="server_round", minimum=0)]
        )
    )
