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

import dp_accounting
import numpy as np

from fedmed_lib._validate import Params
from fedmed_lib.aggregate import global_norm, validate_results, weighted_average
from fedmed_lib.simulation import Strategy

RDP_ORDERS: tuple[float, ...] = tuple(float(a) for a in [*range(2, 64), 128, 256, 512, 1024])
"""Renyi orders used by :func:`compute_epsilon` (integer orders: the subsampled
Gaussian's RDP is computed exactly there, without the numerical warnings that
``dp-accounting`` emits for some fractional orders)."""


def _check_clipping_norm(clipping_norm: float) -> float:
    if isinstance(clipping_norm, bool) or not np.isfinite(clipping_norm) or clipping_norm <= 0:
        raise ValueError("The clipping norm should be a positive value.")
    return float(clipping_norm)


def _check_noise_multiplier(noise_multiplier: float) -> float:
    if not np.isfinite(noise_multiplier) or noise_multiplier < 0:
        raise ValueError("The noise multiplier should be a non-negative value.")
    return float(noise_multiplier)


def clip_update(update: Sequence[np.ndarray], clipping_norm: float) -> Params:
    """Scale an update down so that its global L2 norm is at most ``clipping_norm``.

    Returns ``update * min(1, C / ||update||)``, the norm taken over all arrays
    together. Updates already inside the ball are returned unchanged (never
    scaled up); the input is not modified. Introduced in :ref:`ch-differential-privacy`.

    Parameters
    ----------
    update
        A model update (list of arrays), e.g. ``theta_local - theta_global``.
    clipping_norm
        The bound ``C > 0``.

    Raises
    ------
    ValueError
        If ``clipping_norm`` is not positive, or the update is empty or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> clip_update([np.array([3.0, 4.0])], 1.0)[0]
    array([0.6, 0.8])
    """
    c = _check_clipping_norm(clipping_norm)
    if isinstance(update, np.ndarray) or len(update) == 0:
        raise ValueError("update must be a non-empty list of arrays")
    arrays = [np.asarray(u, dtype=np.float64) for u in update]
    for i, a in enumerate(arrays):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"update array {i} contains NaN or Inf")
    norm = global_norm(arrays)
    scale = min(1.0, c / norm) if norm > 0 else 1.0
    return [a * scale for a in arrays]


def gaussian_noise_std(
    noise_multiplier: float, clipping_norm: float, num_sampled_clients: float
) -> float:
    """Return ``sigma * C / m``, the noise standard deviation on each coordinate of the average.

    Introduced in :ref:`ch-differential-privacy`.
    """
    sigma = _check_noise_multiplier(noise_multiplier)
    c = _check_clipping_norm(clipping_norm)
    if not np.isfinite(num_sampled_clients) or num_sampled_clients <= 0:
        raise ValueError("The number of sampled clients should be a positive value.")
    return sigma * c / float(num_sampled_clients)


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
        Seeds the noise; round ``r`` uses its own generator, so results do not
        depend on how many rounds were run before.

    Notes
    -----
    The ``num_examples`` that clients report are ignored: a hospital's weight
    must be bounded for its influence on the sum to be at most ``C``.
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
        self.strategy = strategy
        self.noise_multiplier = _check_noise_multiplier(noise_multiplier)
        self.clipping_norm = _check_clipping_norm(clipping_norm)
        if isinstance(num_sampled_clients, bool) or not isinstance(
            num_sampled_clients, int | np.integer
        ) or num_sampled_clients <= 0:
            raise ValueError("The number of sampled clients should be a positive integer.")
        self.num_sampled_clients = int(num_sampled_clients)
        self.seed = int(seed)

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
        results: Sequence[tuple[Sequence[np.ndarray], int]],
        current: Sequence[np.ndarray],
    ) -> Params:
        """Return ``(sum_k clip(update_k) + N(0, (sigma C)^2 I)) / num_sampled_clients``."""
        checked = validate_results(results, current)
        clipped = [(clip_update(update, self.clipping_norm), 1) for update, _ in checked]
        mean = weighted_average(clipped, reference=current)  # equal weights: sum / m
        factor = len(clipped) / self.num_sampled_clients
        std = gaussian_noise_std(
            self.noise_multiplier, self.clipping_norm, self.num_sampled_clients
        )
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(server_round)]))
        out: Params = []
        for m in mean:
            noisy = m * factor
            if std > 0:
                noisy = noisy + rng.normal(0.0, std, size=m.shape)
            out.append(noisy)
        return out

    def aggregate_fit(
        self,
        server_round: int,
        results: Sequence[tuple[Sequence[np.ndarray], int]],
        current: Sequence[np.ndarray],
    ) -> Params:
        """Clip, average, add noise, then apply the wrapped strategy's server step.

        The global model ``current`` is never modified; on a malformed update a
        ``ValueError`` names the client and the caller keeps ``current``.
        """
        noisy = self.noisy_average(server_round, results, current)
        return self.strategy.aggregate_fit(server_round, [(noisy, 1)], current)


def dp_event(
    noise_multiplier: float, sample_rate: float, num_rounds: int
) -> dp_accounting.DpEvent:
    """Return the ``dp-accounting`` event of ``num_rounds`` rounds of the subsampled Gaussian.

    Introduced in :ref:`ch-differential-privacy`.
    """
    sigma = _check_noise_multiplier(noise_multiplier)
    if not np.isfinite(sample_rate) or not 0 < sample_rate <= 1:
        raise ValueError(f"The sample rate should lie in (0, 1], got {sample_rate!r}.")
    if (
        isinstance(num_rounds, bool)
        or not isinstance(num_rounds, int | np.integer)
        or num_rounds < 0
    ):
        raise ValueError(
            f"The number of rounds should be a non-negative integer, got {num_rounds!r}."
        )
    gaussian = dp_accounting.GaussianDpEvent(sigma)
    step: dp_accounting.DpEvent = gaussian
    if sample_rate < 1:
        step = dp_accounting.PoissonSampledDpEvent(sample_rate, gaussian)
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
    if not np.isfinite(delta) or not 0 < delta < 1:
        raise ValueError(f"delta should lie in (0, 1), got {delta!r}.")
    event = dp_event(noise_multiplier, sample_rate, num_rounds)
    if num_rounds == 0:
        return 0.0
    if noise_multiplier == 0:
        return float("inf")
    accountant = dp_accounting.rdp.RdpAccountant(list(orders))
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))
