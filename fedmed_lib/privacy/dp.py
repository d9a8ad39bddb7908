"""Differential privacy for federated learning: clipping, noise and the privacy accountant.

DP-FedAvg (McMahan, Ramage, Talwar and Zhang, "Learning Differentially Private
Recurrent Language Models", ICLR 2018) makes each round a Gaussian mechanism
(Dwork and Roth, 2014) on the *sum* of the hospitals' model updates: every update
is clipped to L2 norm at most ``clipping_norm`` (C), so adding or removing one
hospital changes the sum by at most C; Gaussian noise of standard deviation
``noise_multiplier * C`` is added to the sum; the noisy sum is divided by the
*expected* number of participants (a fixed denominator, with every hospital's
weight bounded by 1). The privacy loss over many rounds of client sampling is
tracked with Renyi differential privacy (Mironov, 2017) through Google's
``dp-accounting`` library, as in Abadi et al. (2016).

The wrapper follows Flower's ``DifferentialPrivacyServerSideFixedClipping``: it
wraps any strategy, delegates client sampling to it, and hands it the noisy
average update so the wrapped strategy's server step (e.g. ``server_lr``) applies.
Introduced in :ref:`ch-differential-privacy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dp_accounting
import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    _describe,
    check_clipping_norm,
    check_params,
    check_positive_int,
    check_real_setting,
    check_seed,
)
from fedmed_lib.aggregate import AggregatedParams, rule_metrics, validate_results, weighted_mean
from fedmed_lib.param_math import clip_and_flag, clip_checked, clip_update
from fedmed_lib.seeds import server_rng
from fedmed_lib.simulation import Strategy, check_strategy, checked_aggregate_fit
from fedmed_lib.types import FitResult, Metrics, Params, Results

__all__ = [  # clip_update and clip_and_flag live in fedmed_lib.param_math; re-exported here
    "RDP_ORDERS",
    "DifferentialPrivacyServerSideFixedClipping",
    "clip_and_flag",
    "clip_update",
    "compute_epsilon",
    "dp_event",
    "gaussian_noise_std",
]

RDP_ORDERS: tuple[float, ...] = tuple(float(a) for a in [*range(2, 64), 128, 256, 512, 1024])
"""Renyi orders used by :func:`compute_epsilon` (integer orders: the subsampled
Gaussian's RDP is computed exactly there, without the numerical warnings that
``dp-accounting`` emits for some fractional orders)."""


def _check_noise_multiplier(noise_multiplier: object) -> float:
    sigma = check_real_setting(noise_multiplier, name="noise_multiplier", what="noise multiplier")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError("The noise multiplier should be a non-negative value.")
    return sigma


def gaussian_noise_std(
    noise_multiplier: float, clipping_norm: float, num_sampled_clients: float
) -> float:
    """Return ``sigma * C / m``, the noise standard deviation on each coordinate of the average.

    Introduced in :ref:`ch-differential-privacy`.
    """
    sigma = _check_noise_multiplier(noise_multiplier)
    c = check_clipping_norm(clipping_norm)
    m = check_real_setting(
        num_sampled_clients, name="num_sampled_clients", what="number of sampled clients"
    )
    if not np.isfinite(m) or m <= 0:
        raise ValueError("The number of sampled clients should be a positive value.")
    return sigma * c / m


class DifferentialPrivacyServerSideFixedClipping:
    """DP-FedAvg as a wrapper around any strategy (server-side clipping, fixed norm).

    Each round: check every update against the global model, clip it to norm
    ``clipping_norm``, average with equal (bounded) weights, rescale to the fixed
    denominator ``num_sampled_clients``, add Gaussian noise with standard deviation
    ``noise_multiplier * clipping_norm / num_sampled_clients`` per coordinate (that
    is ``noise_multiplier * clipping_norm`` on the sum), then let the wrapped
    strategy apply the noisy average update to the global model. Introduced in
    :ref:`ch-differential-privacy`.

    Parameters
    ----------
    strategy
        The wrapped strategy, e.g. :class:`fedmed_lib.algorithms.FedAvg`; it samples
        the clients and applies the server step.
    noise_multiplier
        ``sigma >= 0``; ``0`` gives clipping without noise (no privacy).
    clipping_norm
        ``C > 0``, the bound on each hospital's update norm.
    num_sampled_clients
        The expected number of participants per round (the fixed denominator).
    seed
        Seeds the noise (a non-negative integer); round ``r`` uses its own
        generator, so results do not depend on how many rounds were run before.

    Notes
    -----
    The ``num_examples`` that clients report are ignored: a hospital's weight
    must be bounded for its influence on the sum to be at most ``C``.
    ``aggregate_fit`` returns ``(parameters, metrics)``; the metrics are the
    wrapped strategy's, plus ``num_updates``, ``num_clipped``, ``clipped_clients``
    (the ids of the clients whose update was scaled down) and ``noise_std``.
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        noise_multiplier: float,
        clipping_norm: float,
        num_sampled_clients: int,
        seed: int = 0,
    ) -> None:
        self.strategy = check_strategy(strategy)
        self.noise_multiplier = _check_noise_multiplier(noise_multiplier)
        self.clipping_norm = check_clipping_norm(clipping_norm)
        if isinstance(num_sampled_clients, bool | np.bool_) or not isinstance(
            num_sampled_clients, int | np.integer
        ):
            raise InputTypeError(
                "The number of sampled clients (num_sampled_clients) should be a positive "
                f"integer, got {_describe(num_sampled_clients)}."
            )
        if num_sampled_clients <= 0:
            raise ValueError("The number of sampled clients should be a positive integer.")
        self.num_sampled_clients = int(num_sampled_clients)
        self.seed = check_seed(seed)

    def __repr__(self) -> str:
        return (
            f"DifferentialPrivacyServerSideFixedClipping(strategy={self.strategy!r}, "
            f"noise_multiplier={self.noise_multiplier}, clipping_norm={self.clipping_norm})"
        )

    def configure_fit(
        self, server_round: int, num_clients: int, rng: np.random.Generator
    ) -> list[int]:
        """Sample this round's clients: delegated to the wrapped strategy."""
        return self.strategy.configure_fit(server_round, num_clients, rng)

    def noisy_average(
        self,
        server_round: int,
        results: Results,
        current: Sequence[np.ndarray],
    ) -> Params:
        """Return ``(sum_k clip(update_k) + N(0, (sigma C)^2 I)) / num_sampled_clients``.

        The result is an :class:`~fedmed_lib.aggregate.AggregatedParams` whose
        ``metrics`` hold ``num_updates``, ``num_clipped``, ``clipped_clients`` and
        ``noise_std``.
        """
        r = check_positive_int(server_round, name="server_round")
        reference = check_params(current, name="current")
        checked = validate_results(results, reference)
        clipped, who = [], []
        for res in checked:
            update, was_clipped = clip_checked(list(res.params), self.clipping_norm)
            clipped.append(FitResult(res.cid, update, 1))
            if was_clipped:
                who.append(res.cid)
        mean = weighted_mean(clipped)  # equal weights: sum / m
        factor = len(clipped) / self.num_sampled_clients
        std = gaussian_noise_std(
            self.noise_multiplier, self.clipping_norm, self.num_sampled_clients
        )
        rng = server_rng(self.seed, r)
        out: Params = []
        for m in mean:
            noisy = m * factor
            if std > 0:
                noisy = noisy + rng.normal(0.0, std, size=m.shape)
            out.append(noisy)
        metrics: dict[str, Any] = {
            "num_updates": len(checked),
            "num_clipped": len(who),
            "clipped_clients": who,
            "noise_std": std,
        }
        return AggregatedParams(out, metrics)

    def aggregate_fit(
        self,
        server_round: int,
        results: Results,
        current: Sequence[np.ndarray],
    ) -> tuple[Params, Metrics]:
        """Clip, average, add noise, then apply the wrapped strategy's server step.

        Returns ``(parameters, metrics)`` as Flower does. The wrapped strategy
        receives the noisy average as a single ``(update, 1)`` pair, and, like the
        book's FedAvg, adds it to the global model (an average of model *changes*;
        Flower's ``DifferentialPrivacyServerSideFixedClipping`` clips the change but
        hands its strategy models). The global model ``current`` is never
        modified; on a malformed update a ``ValueError`` names the client and the
        caller keeps ``current``.
        """
        noisy = self.noisy_average(server_round, results, current)
        new, inner = checked_aggregate_fit(
            self.strategy, server_round, [(list(noisy), 1)], current
        )
        return new, {**inner, **rule_metrics(noisy)}


def dp_event(
    noise_multiplier: float, sample_rate: float, num_rounds: int
) -> dp_accounting.DpEvent:
    """Return the ``dp-accounting`` event of ``num_rounds`` rounds of the subsampled Gaussian.

    Introduced in :ref:`ch-differential-privacy`.

    Raises
    ------
    ValueError
        If the noise multiplier is negative, the sample rate is outside (0, 1] or the
        number of rounds is not an integer ``>= 0`` (a wrong type raises
        ``InputTypeError``, naming the parameter).
    """
    sigma = _check_noise_multiplier(noise_multiplier)
    q = check_real_setting(sample_rate, name="sample_rate", what="sample rate")
    if not np.isfinite(q) or not 0 < q <= 1:
        raise ValueError(f"The sample rate should lie in (0, 1], got {sample_rate!r}.")
    if isinstance(num_rounds, bool | np.bool_) or not isinstance(num_rounds, int | np.integer):
        raise InputTypeError(
            "The number of rounds (num_rounds) should be a non-negative integer, "
            f"got {_describe(num_rounds)}."
        )
    if num_rounds < 0:
        raise ValueError(
            f"The number of rounds should be a non-negative integer, got {num_rounds!r}."
        )
    gaussian = dp_accounting.GaussianDpEvent(sigma)
    step: dp_accounting.DpEvent = gaussian
    if q < 1:
        step = dp_accounting.PoissonSampledDpEvent(q, gaussian)
    return dp_accounting.SelfComposedDpEvent(step, int(num_rounds))


def compute_epsilon(
    noise_multiplier: float,
    sample_rate: float,
    num_rounds: int,
    delta: float,
    *,
    orders: Sequence[float] = RDP_ORDERS,
) -> float:
    """Privacy loss ``epsilon`` of DP-FedAvg at a fixed ``delta`` (RDP accountant).

    Composes ``num_rounds`` rounds of the Gaussian mechanism with noise multiplier
    ``noise_multiplier``, each applied to a Poisson sample of the clients with
    probability ``sample_rate`` (no subsampling when ``sample_rate == 1``), with
    ``dp_accounting.rdp.RdpAccountant``. Returns ``inf`` without noise.
    Introduced in :ref:`ch-differential-privacy`.

    Raises
    ------
    ValueError
        If the noise multiplier is negative, the sample rate is outside (0, 1],
        the number of rounds is negative, or ``delta`` is outside (0, 1).
    """
    d = check_real_setting(delta, name="delta", what="target delta")
    if not np.isfinite(d) or not 0 < d < 1:
        raise ValueError(f"delta should lie in (0, 1), got {delta!r}.")
    event = dp_event(noise_multiplier, sample_rate, num_rounds)
    if num_rounds == 0:
        return 0.0
    if noise_multiplier == 0:
        return float("inf")
    accountant = dp_accounting.rdp.RdpAccountant(list(orders))
    accountant.compose(event)
    return float(accountant.get_epsilon(d))
