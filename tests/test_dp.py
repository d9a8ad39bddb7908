"""Tests of fedmed_lib.privacy.dp: clipping, the DP-FedAvg wrapper and the accountant."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest

from fedmed_lib.aggregate import global_norm, unweighted_average
from fedmed_lib.algorithms import FedAvg, numpy_client_fn
from fedmed_lib.models import LOGISTIC
from fedmed_lib.privacy.dp import (
    RDP_ORDERS,
    DifferentialPrivacyServerSideFixedClipping,
    clip_update,
    compute_epsilon,
    gaussian_noise_std,
)
from fedmed_lib.simulation import run_simulation

# --- clipping ----------------------------------------------------------------------------


def test_clip_hand_computed() -> None:
    out = clip_update([np.array([3.0, 0.0]), np.array([[4.0]])], 1.0)
    np.testing.assert_allclose(out[0], [0.6, 0.0])
    np.testing.assert_allclose(out[1], [[0.8]])


def test_clip_bounds_norm_and_keeps_direction() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        u = [rng.normal(size=(3, 2)) * 10, rng.normal(size=4)]
        out = clip_update(u, 0.7)
        assert global_norm(out) <= 0.7 + 1e-12
        cos = np.dot(np.concatenate([a.ravel() for a in out]),
                     np.concatenate([a.ravel() for a in u]))
        assert cos > 0
        np.testing.assert_allclose(out[0] / u[0], out[1][0] / u[1][0])


def test_clip_leaves_small_updates_untouched_and_input_unchanged() -> None:
    u = [np.array([0.1, -0.2]), np.array([0.05])]
    before = [a.copy() for a in u]
    out = clip_update(u, 1.0)
    for a, b in zip(out, before, strict=True):
        np.testing.assert_array_equal(a, b)
    big = [np.array([30.0, 40.0])]
    clip_update(big, 1.0)
    np.testing.assert_array_equal(big[0], [30.0, 40.0])


def test_clip_zero_update() -> None:
    np.testing.assert_array_equal(clip_update([np.zeros(3)], 1.0)[0], np.zeros(3))


@pytest.mark.parametrize("c", [0.0, -1.0, float("nan"), float("inf")])
def test_clip_bad_norm(c: float) -> None:
    with pytest.raises(ValueError, match="The clipping norm should be a positive value."):
        clip_update([np.ones(2)], c)


def test_clip_bad_update() -> None:
    with pytest.raises(ValueError, match=r"update\[0\] contains NaN"):
        clip_update([np.array([1.0, np.nan])], 1.0)
    with pytest.raises(ValueError, match="update is empty"):
        clip_update([], 1.0)
    with pytest.raises(ValueError, match="update must be a list of numpy arrays"):
        clip_update(np.ones(2), 1.0)  # type: ignore[arg-type]


# --- the wrapper ---------------------------------------------------------------------------


def _federation(num_clients: int = 10, size: int = 6, seed: int = 0, equal: bool = True):
    rng = np.random.default_rng(seed)
    clients = []
    for k in range(num_clients):
        n = size if equal else size + k
        X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, 3))])
        y = (X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(float)
        clients.append((X, y))
    return clients


def test_zero_noise_nonbinding_clip_equals_fedavg_exactly() -> None:
    clients = _federation()
    fit = numpy_client_fn(clients, model=LOGISTIC, lr=0.5, local_epochs=2)
    init = [np.zeros(4)]
    plain = run_simulation(client_fn=fit, num_clients=10, initial_parameters=init,
                           strategy=FedAvg(fraction_fit=0.5), num_rounds=8, seed=3,
                           keep_params=True)
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(fraction_fit=0.5), noise_multiplier=0.0, clipping_norm=1e6,
        num_sampled_clients=5, seed=1)
    private = run_simulation(client_fn=fit, num_clients=10, initial_parameters=init,
                             strategy=dp, num_rounds=8, seed=3, keep_params=True)
    assert plain.clients_per_round == private.clients_per_round
    for a, b in zip(plain.params_per_round, private.params_per_round, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    assert np.any(plain.params[0] != 0)


def test_zero_noise_unequal_sizes_is_the_unweighted_average() -> None:
    clients = _federation(equal=False)
    fit = numpy_client_fn(clients, model=LOGISTIC, lr=0.5)
    init = [np.zeros(4)]
    plain = run_simulation(client_fn=fit, num_clients=10, initial_parameters=init,
                           strategy=FedAvg(aggregate_fn=unweighted_average), num_rounds=5)
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=0.0, clipping_norm=1e6, num_sampled_clients=10)
    private = run_simulation(client_fn=fit, num_clients=10, initial_parameters=init,
                             strategy=dp, num_rounds=5)
    np.testing.assert_allclose(private.params[0], plain.params[0], rtol=1e-12, atol=1e-14)


def test_binding_clip_and_fixed_denominator() -> None:
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=0.0, clipping_norm=1.0, num_sampled_clients=4)
    current = [np.array([1.0, 1.0])]
    results = [([np.array([3.0, 4.0])], 10), ([np.array([0.0, 0.5])], 1)]
    new, metrics = dp.aggregate_fit(1, results, current)
    # (0.6 + 0, 0.8 + 0.5) / 4 expected participants
    np.testing.assert_allclose(new[0], [1.0 + 0.6 / 4, 1.0 + 1.3 / 4])
    # only client 0 (norm 5) was clipped; client 1 (norm 0.5) was not
    assert metrics["num_clipped"] == 1 and metrics["clipped_clients"] == [0]
    assert metrics["num_updates"] == 2 and metrics["noise_std"] == 0.0


def test_noise_std_is_sigma_c_over_m() -> None:
    sigma, c, m = 1.5, 0.4, 8
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=sigma, clipping_norm=c, num_sampled_clients=m, seed=7)
    current = [np.zeros(20000)]
    results = [([np.zeros(20000)], 1) for _ in range(m)]
    noise = dp.aggregate_fit(1, results, current)[0][0]
    expected = gaussian_noise_std(sigma, c, m)
    assert expected == pytest.approx(sigma * c / m)
    assert np.std(noise) == pytest.approx(expected, rel=0.03)
    assert abs(np.mean(noise)) < 4 * expected / math.sqrt(noise.size)
    # on the sum: m times larger
    assert np.std(noise * m) == pytest.approx(sigma * c, rel=0.03)


def test_noise_deterministic_per_round_and_seed() -> None:
    def make(seed: int) -> DifferentialPrivacyServerSideFixedClipping:
        return DifferentialPrivacyServerSideFixedClipping(
            FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=2, seed=seed)
    cur = [np.zeros(5)]
    res = [([np.ones(5) * 0.1], 1), ([np.ones(5) * 0.2], 1)]
    a = make(0).aggregate_fit(3, res, cur)[0][0]
    b = make(0).aggregate_fit(3, res, cur)[0][0]
    c = make(1).aggregate_fit(3, res, cur)[0][0]
    d = make(0).aggregate_fit(4, res, cur)[0][0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, d)


def test_configure_fit_delegates() -> None:
    inner = FedAvg(fraction_fit=0.3)
    dp = DifferentialPrivacyServerSideFixedClipping(
        inner, noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=3)
    a = dp.configure_fit(1, 10, np.random.default_rng(5))
    b = inner.configure_fit(1, 10, np.random.default_rng(5))
    assert a == b and len(a) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clipping_norm": 0.0}, "The clipping norm should be a positive value."),
        ({"clipping_norm": -2.0}, "The clipping norm should be a positive value."),
        ({"noise_multiplier": -0.1}, "The noise multiplier should be a non-negative value."),
        ({"noise_multiplier": float("nan")}, "noise multiplier"),
        ({"num_sampled_clients": 0}, "number of sampled clients"),
        ({"num_sampled_clients": 2.5}, "number of sampled clients"),
    ],
)
def test_wrapper_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"noise_multiplier": 1.0, "clipping_norm": 1.0, "num_sampled_clients": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        DifferentialPrivacyServerSideFixedClipping(FedAvg(), **args)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ([np.array([1.0, np.nan])], "client 1: array 0 contains NaN"),
        ([np.array([1.0, np.inf])], "client 1: array 0 contains Inf"),
        ([np.ones(3)], r"client 1: array 0 has shape \(3,\), expected \(2,\)"),
        ([np.ones(2), np.ones(2)], "client 1: update has 2 arrays"),
    ],
)
def test_wrapper_bad_update_names_client_and_keeps_model(update: list, message: str) -> None:
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=2)
    current = [np.array([0.5, -0.5])]
    with pytest.raises(ValueError, match=message):
        dp.aggregate_fit(1, [([np.ones(2)], 3), (update, 3)], current)
    np.testing.assert_array_equal(current[0], [0.5, -0.5])


# --- the accountant ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma", "q", "rounds"),
    [(1.0, 0.2, 30), (2.0, 0.2, 30), (0.8, 0.1, 50), (1.2, 1.0, 10), (4.0, 0.05, 100)],
)
def test_epsilon_matches_dp_accounting(sigma: float, q: float, rounds: int) -> None:
    acc = dp_accounting.rdp.RdpAccountant(list(RDP_ORDERS))
    acc.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), rounds))
    assert compute_epsilon(sigma, q, rounds, 1e-5) == pytest.approx(acc.get_epsilon(1e-5),
                                                                     rel=1e-12)


def test_epsilon_full_participation_closed_form() -> None:
    # RDP of the Gaussian: T * alpha / (2 sigma^2); improved conversion to (eps, delta).
    sigma, rounds, delta = 1.3, 7, 1e-5
    alphas = np.asarray(RDP_ORDERS)
    rdp = rounds * alphas / (2 * sigma**2)
    eps = rdp + np.log1p(-1 / alphas) - np.log(delta * alphas) / (alphas - 1)
    assert compute_epsilon(sigma, 1.0, rounds, delta) == pytest.approx(eps.min(), rel=1e-12)


def _log_a_integer_order(q: float, sigma: float, alpha: int) -> float:
    """log E[(p/p0)^alpha] of the sampled Gaussian at an integer order, written out here.

    Mironov, Talwar and Zhang (2019), Sec. 3.3: A_alpha = sum_k C(alpha, k) (1-q)^(alpha-k)
    q^k exp((k^2 - k) / (2 sigma^2)); the RDP at order alpha is log(A_alpha) / (alpha - 1).
    Summed in log space so that orders up to 1024 do not overflow.
    """
    from scipy.special import gammaln, logsumexp

    k = np.arange(alpha + 1, dtype=np.float64)
    log_binom = gammaln(alpha + 1) - gammaln(k + 1) - gammaln(alpha - k + 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) for q = 1: terms vanish
        log_rest = np.where(k < alpha, (alpha - k) * np.log1p(-q), 0.0)  # 0 * log 0 = 0
        terms = log_binom + log_rest + k * np.log(q) + (k * k - k) / (2 * sigma**2)
    return float(logsumexp(terms))


@pytest.mark.parametrize(
    ("sigma", "q", "rounds"), [(1.0, 0.2, 30), (0.8, 0.1, 50), (4.0, 0.05, 100), (1.3, 1.0, 7)]
)
def test_epsilon_equals_an_independent_rdp_computation(sigma: float, q: float, rounds: int) -> None:
    # the RDP of the sampled Gaussian from its binomial expansion (not dp_accounting),
    # composed over the rounds and converted with the conversion of Balle et al. (2020)
    delta = 1e-5
    alphas = [int(a) for a in RDP_ORDERS]
    assert all(a == b for a, b in zip(alphas, RDP_ORDERS, strict=True))  # integer orders
    rdp = np.array([rounds * _log_a_integer_order(q, sigma, a) / (a - 1) for a in alphas])
    a = np.asarray(alphas, dtype=np.float64)
    eps = rdp + np.log1p(-1 / a) - np.log(delta * a) / (a - 1)
    assert compute_epsilon(sigma, q, rounds, delta) == pytest.approx(eps.min(), rel=1e-9)


@pytest.mark.parametrize(("sigma", "rounds"), [(1.0, 1), (1.3, 7), (2.0, 50), (5.0, 20)])
def test_epsilon_lies_between_the_exact_gaussian_and_the_standard_rdp_bound(
    sigma: float, rounds: int
) -> None:
    from scipy.optimize import brentq
    from scipy.stats import norm

    delta = 1e-5
    # upper bound: RDP alpha T / (2 sigma^2) with Mironov's (2017) conversion
    # eps = rdp + log(1/delta) / (alpha - 1), minimised over the same orders
    a = np.asarray(RDP_ORDERS)
    standard = np.min(rounds * a / (2 * sigma**2) + np.log(1 / delta) / (a - 1))
    # lower bound: T rounds without sampling are one Gaussian mechanism with noise
    # sigma / sqrt(T); its exact (eps, delta) curve (Balle and Wang, 2018) is
    # delta(eps) = Phi(mu/2 - eps/mu) - e^eps Phi(-mu/2 - eps/mu) with mu = sqrt(T) / sigma
    mu = np.sqrt(rounds) / sigma

    def excess(e: float) -> float:
        return norm.cdf(mu / 2 - e / mu) - np.exp(e) * norm.cdf(-mu / 2 - e / mu) - delta

    exact = brentq(excess, 0.0, 100.0)
    eps = compute_epsilon(sigma, 1.0, rounds, delta)
    assert exact <= eps <= standard
    assert eps < standard * 0.99 or eps == pytest.approx(standard)  # the improved conversion
    # sampling can only help (privacy amplification by subsampling)
    assert compute_epsilon(sigma, 0.1, rounds, delta) < eps


def test_epsilon_monotone() -> None:
    e = [compute_epsilon(1.0, 0.2, t, 1e-5) for t in (1, 10, 100)]
    assert e[0] < e[1] < e[2]
    assert compute_epsilon(2.0, 0.2, 10, 1e-5) < compute_epsilon(1.0, 0.2, 10, 1e-5)
    assert compute_epsilon(1.0, 0.1, 10, 1e-5) < compute_epsilon(1.0, 0.2, 10, 1e-5)
    assert compute_epsilon(0.0, 0.2, 10, 1e-5) == float("inf")
    assert compute_epsilon(1.0, 0.2, 0, 1e-5) == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1.0, 0.2, 10, 1e-5), "noise multiplier"),
        ((1.0, 0.0, 10, 1e-5), "sample rate"),
        ((1.0, 1.5, 10, 1e-5), "sample rate"),
        ((1.0, 0.2, -1, 1e-5), "number of rounds"),
        ((1.0, 0.2, 2.5, 1e-5), "number of rounds"),
        ((1.0, 0.2, 10, 0.0), "delta"),
        ((1.0, 0.2, 10, 1.0), "delta"),
    ],
)
def test_epsilon_bad_inputs(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_epsilon(*args)


# --- clipping at the edges ------------------------------------------------------------------


@pytest.mark.parametrize("value", [1e200, 1e308, -1.7e308, 5e-324])
def test_clip_scales_any_finite_update_to_norm_c(value: float) -> None:
    update = [np.full(3, value), np.array([[value]])]
    out = clip_update(update, 0.5)
    norm = float(np.sqrt(sum(np.sum(a**2) for a in out)))
    if abs(value) * 2 > 0.5:  # the update is longer than C: it comes back with norm C
        assert norm == pytest.approx(0.5, rel=1e-15)
        np.testing.assert_allclose(out[0], np.full(3, np.sign(value) * 0.25), rtol=1e-15)
    else:  # inside the ball: unchanged
        np.testing.assert_array_equal(out[0], update[0])
    np.testing.assert_array_equal(update[0], np.full(3, value))  # input untouched


def test_clip_is_bit_identical_to_the_plain_formula_for_ordinary_updates() -> None:
    rng = np.random.default_rng(12)
    for _ in range(300):
        u = [rng.normal(size=4) * 10.0 ** rng.uniform(-3, 3)]
        c = 10.0 ** rng.uniform(-2, 2)
        norm = float(np.sqrt(sum(float(np.sum(np.square(a))) for a in u)))
        expected = u[0] * min(1.0, c / norm)
        np.testing.assert_array_equal(clip_update(u, c)[0], expected)


def test_dp_wrapper_refuses_a_non_finite_model_and_keeps_the_old_one() -> None:
    dp = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(server_lr=1e308), noise_multiplier=0.0, clipping_norm=10.0, num_sampled_clients=1)
    current = [np.array([1e308, 0.0])]
    with pytest.raises(ValueError, match="not finite"):
        dp.aggregate_fit(1, [([np.array([5.0, 0.0])], 1)], current)
    np.testing.assert_array_equal(current[0], [1e308, 0.0])


def test_seed_must_be_a_non_negative_integer() -> None:
    for seed in (1.5, None, -1, True, "1"):
        with pytest.raises((TypeError, ValueError), match="seed"):
            DifferentialPrivacyServerSideFixedClipping(
                FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=2,
                seed=seed)  # type: ignore[arg-type]
