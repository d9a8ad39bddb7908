"""Survival analysis across clients: Kaplan-Meier, log-rank, Cox and the c-index without pooling.

Each client holds, per patient, an observed time ``time >= 0``, an event indicator
``event`` (1 = the event, death, was observed; 0 = censored) and covariates ``X``.
Clients send only *per-event-time* summaries, which the server adds up:

* counts at risk and counts of events at each time of a common grid: the pooled
  Kaplan-Meier curve (Kaplan and Meier, JASA 1958) and the log-rank test (Mantel,
  1966) follow exactly (:func:`km_counts`, :func:`federated_kaplan_meier`,
  :func:`federated_logrank`);
* for the Cox model (Cox, JRSS-B 1972) with Efron's handling of tied event times
  (Efron, JASA 1977): each client's gradient and Hessian of its own partial
  log-likelihood, which add up to the **stratified** model (one baseline hazard per
  client; :func:`local_cox_derivatives`, :func:`stratified_newton_step`), or the
  risk-set sums ``sum w_i``, ``sum w_i x_i``, ``sum w_i x_i x_i^T`` at every event time of
  the federation, which add up to the **unstratified** model (the approach of Lu et
  al., "WebDISCO: a web service for distributed Cox model learning without
  patient-level data sharing", JAMIA 22(6), 2015; :func:`cox_summaries`,
  :func:`webdisco_newton_step`);
* counts of concordant, tied and comparable pairs within each client (Harrell's
  concordance index; :func:`concordance_counts`, :func:`federated_concordance`).

Both Cox fits equal ``lifelines.CoxPHFitter`` on the pooled data (with and without
``strata``), which also uses Efron's method. Introduced in :ref:`ch-survival`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2

from fedmed_lib._validate import InputTypeError, check_real_array, client_label
from fedmed_lib._validate_data import check_patient_columns

Array = NDArray[np.float64]


def _who(client: int | str) -> str:
    return client_label(client)


def check_survival_data(
    time: object, event: object, X: object | None = None, *, client: int | str = 0
) -> tuple[Array, Array, Array | None]:
    """Check one client's survival data and return it as float64 arrays.

    Introduced in :ref:`ch-survival`.

    Raises
    ------
    ValueError
        Naming the client, if it has no patients, a time is NaN, Inf or negative, an
        event is not 0 or 1, or ``X`` is not a finite 2-D array with one row per patient.
    """
    who = _who(client)
    t, e = check_patient_columns(
        time, event, who=who, names=("time", "event"), zero_one=1,
        rule="event must be 1 (event observed) or 0 (censored)",
    )
    if (t < 0).any():
        raise ValueError(f"{who}: negative times {np.unique(t[t < 0])[:5]}")
    if X is None:
        return t, e, None
    x = check_real_array(X, name=f"{who}: X", ndim=2)
    if x.shape[0] != t.size:
        raise ValueError(f"{who}: X has {x.shape[0]} rows but there are {t.size} patients")
    return t, e, x


def _check_grid(times: object, *, name: str = "times") -> Array:
    g = check_real_array(times, name=name, ndim=1)
    if g.size and np.any(np.diff(g) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return g


def event_times(time: object, event: object, *, client: int | str = 0) -> Array:
    """Return the distinct times at which one client observed an event (sorted).

    Introduced in :ref:`ch-survival`.
    """
    t, e, _ = check_survival_data(time, event, client=client)
    return np.unique(t[e == 1])


def km_counts(
    time: object, event: object, *, times: object, client: int | str = 0
) -> tuple[Array, Array]:
    """Return one client's numbers at risk and numbers of events at each time of a grid.

    A patient is at risk at time ``s`` if ``time >= s`` (censored patients stay in the
    risk set up to and including their censoring time). Introduced in :ref:`ch-survival`.

    Returns
    -------
    at_risk, events
        Two arrays with one entry per grid time.
    """
    t, e, _ = check_survival_data(time, event, client=client)
    grid = _check_grid(times)
    at_risk = (t[None, :] >= grid[:, None]).sum(axis=1).astype(np.float64)
    events = ((t[None, :] == grid[:, None]) & (e[None, :] == 1)).sum(axis=1).astype(np.float64)
    return at_risk, events


def _check_list(value: object, *, name: str) -> None:
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{name}: expected a non-empty list with one entry per client")


def _sum_client_arrays(arrays: Sequence[object], *, name: str) -> Array:
    _check_list(arrays, name=name)
    total: Array | None = None
    for k, a in enumerate(arrays):
        x = check_real_array(a, name=f"client {k}: {name}")
        if (x < 0).any():
            raise ValueError(f"client {k}: {name} contains negative counts")
        if total is not None and x.shape != total.shape:
            raise ValueError(f"client {k}: {name} has shape {x.shape}, expected {total.shape}")
        total = x.copy() if total is None else total + x
    assert total is not None
    return total


def federated_kaplan_meier(
    at_risk: Sequence[object], events: Sequence[object]
) -> Array:
    """Kaplan-Meier survival at each grid time from the clients' counts.

    ``S(s_j) = prod_{l <= j} (1 - e_l / a_l)`` with ``a_l`` and ``e_l`` summed over
    clients. Introduced in :ref:`ch-survival`.

    Parameters
    ----------
    at_risk, events
        One array per client (from :func:`km_counts` on the same grid).
    """
    a = _sum_client_arrays(at_risk, name="at_risk")
    e = _sum_client_arrays(events, name="events")
    if a.shape != e.shape or a.ndim != 1:
        raise ValueError(f"at_risk and events must be 1-D of the same length: {a.shape}, {e.shape}")
    if (e > a).any():
        raise ValueError("more events than patients at risk at some time")
    hazard = np.divide(e, a, out=np.zeros_like(e), where=a > 0)
    survival: Array = np.cumprod(1.0 - hazard, dtype=np.float64)
    return survival


@dataclass(frozen=True)
class LogrankResult:
    """The federated log-rank test of two groups.

    Attributes
    ----------
    statistic
        ``U^2 / V``, chi-squared with one degree of freedom under the null.
    p_value
        Its upper tail probability.
    observed_minus_expected
        ``U``: events observed in group 0 minus those expected under the null.
    variance
        ``V``: the hypergeometric variance of ``U``.
    """

    statistic: float
    p_value: float
    observed_minus_expected: float
    variance: float


def federated_logrank(at_risk: Sequence[object], events: Sequence[object]) -> LogrankResult:
    """Log-rank test of two groups from the clients' counts.

    Each client sends, per grid time, an array of shape ``(m, 2)`` of numbers at risk
    and of events in group 0 and group 1. Introduced in :ref:`ch-survival`.
    """
    a = _sum_client_arrays(at_risk, name="at_risk")
    e = _sum_client_arrays(events, name="events")
    if a.ndim != 2 or a.shape[1] != 2 or a.shape != e.shape:
        raise ValueError(f"at_risk and events must have shape (m, 2), got {a.shape}, {e.shape}")
    a_tot, e_tot = a.sum(axis=1), e.sum(axis=1)
    ok = a_tot > 0
    expected = np.divide(a[:, 0] * e_tot, a_tot, out=np.zeros_like(a_tot), where=ok)
    u = float(np.sum(e[:, 0] - expected))
    several = a_tot > 1
    v_terms = np.divide(
        a[:, 0] * a[:, 1] * e_tot * (a_tot - e_tot),
        a_tot**2 * (a_tot - 1),
        out=np.zeros_like(a_tot),
        where=several,
    )
    v = float(v_terms.sum())
    if v <= 0:
        raise ValueError("the log-rank variance is zero: both groups need patients at risk")
    stat = u * u / v
    return LogrankResult(stat, float(chi2.sf(stat, 1)), u, v)


@dataclass(frozen=True)
class CoxSummaries:
    """Per-event-time sums of one client (or of the federation, once added up).

    Row ``j`` refers to the ``j``-th time of the grid; with ``w_i = exp(x_i^T theta)``,
    ``R_j`` the patients at risk and ``F_j`` those who died at that time:

    Attributes
    ----------
    events
        ``|F_j|``, shape ``(m,)``.
    x_dead
        ``sum_{F_j} x_i``, shape ``(m, p)``.
    s0, s1, s2
        ``sum_{R_j} w_i``, ``sum_{R_j} w_i x_i``, ``sum_{R_j} w_i x_i x_i^T``.
    t0, t1, t2
        The same sums over the tied deaths ``F_j`` (Efron's correction).
    """

    events: Array
    x_dead: Array
    s0: Array
    s1: Array
    s2: Array
    t0: Array
    t1: Array
    t2: Array

    def __add__(self, other: CoxSummaries) -> CoxSummaries:
        if not isinstance(other, CoxSummaries):
            return NotImplemented
        if self.s2.shape != other.s2.shape:
            raise ValueError(f"summaries of shapes {self.s2.shape} and {other.s2.shape}")
        return CoxSummaries(*(a + b for a, b in zip(self._arrays(), other._arrays(), strict=True)))

    def _arrays(self) -> tuple[Array, ...]:
        return (self.events, self.x_dead, self.s0, self.s1, self.s2, self.t0, self.t1, self.t2)


def _check_theta(theta: object, p: int) -> Array:
    th = check_real_array(theta, name="theta", ndim=1)
    if th.shape != (p,):
        raise ValueError(f"theta has shape {th.shape}, the covariates have {p} columns")
    return th


def cox_summaries(
    time: object, event: object, X: object, *, theta: object, times: object,
    client: int | str = 0,
) -> CoxSummaries:
    """One client's risk-set sums at each grid time (WebDISCO-style aggregates).

    Introduced in :ref:`ch-survival`.
    """
    t, e, x = check_survival_data(time, event, X, client=client)
    assert x is not None
    th = _check_theta(theta, x.shape[1])
    grid = _check_grid(times)
    w = np.exp(x @ th)
    outer = (x[:, :, None] * x[:, None, :]).reshape(len(t), -1)
    risk = (t[None, :] >= grid[:, None]).astype(np.float64)
    dead = ((t[None, :] == grid[:, None]) & (e[None, :] == 1)).astype(np.float64)
    p = x.shape[1]
    return CoxSummaries(
        events=dead.sum(axis=1), x_dead=dead @ x,
        s0=risk @ w, s1=risk @ (w[:, None] * x), s2=(risk @ (w[:, None] * outer)).reshape(-1, p, p),
        t0=dead @ w, t1=dead @ (w[:, None] * x), t2=(dead @ (w[:, None] * outer)).reshape(-1, p, p),
    )


def efron_derivatives(summaries: CoxSummaries, theta: object) -> tuple[float, Array, Array]:
    """Efron partial log-likelihood, its gradient and Hessian from per-event-time sums.

    With ``e_j`` tied deaths at time ``s_j`` and ``phi = l / e_j`` for ``l = 0..e_j-1``::

        loglik = sum_j [ sum_{F_j} x_i^T theta - sum_l log(s0_j - phi t0_j) ]

    Introduced in :ref:`ch-survival`.
    """
    s = summaries
    th = _check_theta(theta, s.x_dead.shape[1])
    counts = np.rint(s.events).astype(np.int64)
    j = np.repeat(np.arange(len(counts)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    phi = (np.arange(len(j)) - first) / counts[j]
    den = s.s0[j] - phi * s.t0[j]
    if (den <= 0).any():
        raise ValueError("a risk set is empty at an event time: are the grid and the data aligned?")
    num = (s.s1[j] - phi[:, None] * s.t1[j]) / den[:, None]
    num2 = (s.s2[j] - phi[:, None, None] * s.t2[j]) / den[:, None, None]
    x_sum = s.x_dead.sum(axis=0)
    loglik = float(x_sum @ th - np.log(den).sum())
    grad = x_sum - num.sum(axis=0)
    hess = -num2.sum(axis=0) + num.T @ num
    return loglik, grad, hess


def local_cox_derivatives(
    time: object, event: object, X: object, *, theta: object, client: int | str = 0
) -> tuple[float, Array, Array]:
    """Return a client's own (stratum's) Efron log-likelihood, gradient and Hessian.

    The risk sets contain this client's patients only. Introduced in :ref:`ch-survival`.
    """
    t, e, x = check_survival_data(time, event, X, client=client)
    assert x is not None
    th = _check_theta(theta, x.shape[1])
    grid = np.unique(t[e == 1])
    if grid.size == 0:  # no events: the stratum contributes nothing
        p = x.shape[1]
        return 0.0, np.zeros(p), np.zeros((p, p))
    return efron_derivatives(cox_summaries(t, e, x, theta=th, times=grid, client=client), th)


def _newton(theta: Array, grad: Array, hess: Array) -> Array:
    try:
        step = np.linalg.solve(hess, grad)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"the summed Hessian is singular ({err})") from err
    return theta - step


def stratified_newton_step(
    theta: object, derivatives: Sequence[tuple[float, object, object]]
) -> tuple[Array, float]:
    """One Newton step of the stratified Cox model from the clients' derivatives.

    ``derivatives[k]`` is client ``k``'s ``(loglik, grad, hess)`` at ``theta``
    (:func:`local_cox_derivatives`). Returns the new ``theta`` and the total
    log-likelihood at the old one. Introduced in :ref:`ch-survival`.
    """
    th = check_real_array(theta, name="theta", ndim=1)
    p = th.size
    _check_list(derivatives, name="derivatives")
    loglik, grad, hess = 0.0, np.zeros(p), np.zeros((p, p))
    for k, item in enumerate(derivatives):
        if not isinstance(item, tuple) or len(item) != 3:
            raise InputTypeError(f"client {k}: expected (loglik, grad, hess)")
        g = check_real_array(item[1], name=f"client {k}: grad")
        h = check_real_array(item[2], name=f"client {k}: hess")
        if g.shape != (p,) or h.shape != (p, p):
            raise ValueError(
                f"client {k}: grad {g.shape} / hess {h.shape}, expected ({p},) / ({p}, {p})"
            )
        loglik += float(check_real_array(item[0], name=f"client {k}: loglik"))
        grad, hess = grad + g, hess + h
    return _newton(th, grad, hess), loglik


def webdisco_newton_step(
    theta: object, summaries: Sequence[CoxSummaries]
) -> tuple[Array, float]:
    """One Newton step of the unstratified Cox model from the clients' risk-set sums.

    ``summaries[k]`` is :func:`cox_summaries` of client ``k`` at ``theta`` on the
    federation's grid of event times. Returns the new ``theta`` and the pooled
    log-likelihood at the old one. Introduced in :ref:`ch-survival`.
    """
    _check_list(summaries, name="summaries")
    total = summaries[0]
    for k, s in enumerate(summaries):
        if not isinstance(s, CoxSummaries):
            raise InputTypeError(f"client {k}: expected CoxSummaries, got {type(s).__name__}")
        if s.s2.shape != total.s2.shape:
            raise ValueError(f"client {k}: summaries of shape {s.s2.shape}, not {total.s2.shape}")
        total = total + s if k else s
    loglik, grad, hess = efron_derivatives(total, theta)
    return _newton(check_real_array(theta, name="theta"), grad, hess), loglik


@dataclass(frozen=True)
class ConcordanceCounts:
    """Pair counts of Harrell's concordance index at one client.

    A pair is comparable when the patient with the shorter time died (a censored
    patient at the same time as a death counts as longer, as in lifelines);
    concordant when that patient has the higher risk score; tied when the scores are
    equal (counted as one half). ``c = (concordant + tied / 2) / comparable``.
    """

    concordant: int
    tied: int
    comparable: int

    @property
    def c_index(self) -> float:
        """The concordance index of these pairs."""
        if self.comparable == 0:
            raise ValueError("no comparable pairs")
        return (self.concordant + 0.5 * self.tied) / self.comparable


def concordance_counts(
    time: object, event: object, risk: object, *, client: int | str = 0
) -> ConcordanceCounts:
    """Count concordant, tied and comparable pairs among one client's patients.

    ``risk`` is the risk score (higher = earlier death expected, e.g. ``X @ theta``).
    Uses ``O(n^2)`` memory. Introduced in :ref:`ch-survival`.
    """
    t, e, _ = check_survival_data(time, event, client=client)
    r = check_real_array(risk, name=f"{_who(client)}: risk", ndim=1)
    if r.shape != t.shape:
        raise ValueError(f"{_who(client)}: risk has {r.size} entries, time has {t.size}")
    later = (t[None, :] > t[:, None]) | ((t[None, :] == t[:, None]) & (e[None, :] == 0))
    comparable = later & (e[:, None] == 1)  # row i died first, column j outlived it
    return ConcordanceCounts(
        concordant=int((comparable & (r[:, None] > r[None, :])).sum()),
        tied=int((comparable & (r[:, None] == r[None, :])).sum()),
        comparable=int(comparable.sum()),
    )


def federated_concordance(counts: Sequence[ConcordanceCounts]) -> float:
    """Concordance index over all within-client pairs, from the clients' pair counts.

    Introduced in :ref:`ch-survival`.
    """
    _check_list(counts, name="counts")
    for k, c in enumerate(counts):
        if not isinstance(c, ConcordanceCounts):
            raise InputTypeError(f"client {k}: expected ConcordanceCounts, got {type(c).__name__}")
    return ConcordanceCounts(
        concordant=sum(c.concordant for c in counts),
        tied=sum(c.tied for c in counts),
        comparable=sum(c.comparable for c in counts),
    ).c_index
