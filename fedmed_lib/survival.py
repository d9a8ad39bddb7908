"""Survival analysis across clients: Kaplan-Meier, log-rank, Cox and the c-index without pooling.

Each client holds, per patient, an observed time ``time >= 0``, an event indicator
``event`` (1 = the event, death, was observed; 0 = censored) and covariates ``X``.
Clients send only *per-event-time* summaries, which the server adds up:

* counts at risk and counts of events at each time of a common grid: the pooled
  Kaplan-Meier curve (Kaplan and Meier, JASA 1958) and the log-rank test (Mantel,
  1966) follow exactly (:func:`~fedmed_lib.survival_counts.km_counts`,
  :func:`~fedmed_lib.survival_counts.federated_kaplan_meier`,
  :func:`~fedmed_lib.survival_counts.federated_logrank`);
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
  concordance index; :func:`~fedmed_lib.survival_counts.concordance_counts`,
  :func:`~fedmed_lib.survival_counts.federated_concordance`).

Both Cox fits equal ``lifelines.CoxPHFitter`` on the pooled data (with and without
``strata``), which also uses Efron's method. Introduced in :ref:`ch-survival`.

One job: the Cox model across clients. The summaries sent as counts (Kaplan-Meier,
log-rank, concordance) and the check of a client's survival data are defined in
:mod:`fedmed_lib.survival_counts`; every one of those names is also importable from
here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import InputTypeError, check_real_array
from fedmed_lib.survival_counts import ConcordanceCounts as ConcordanceCounts
from fedmed_lib.survival_counts import LogrankResult as LogrankResult
from fedmed_lib.survival_counts import _check_grid, _check_list
from fedmed_lib.survival_counts import check_survival_data as check_survival_data
from fedmed_lib.survival_counts import concordance_counts as concordance_counts
from fedmed_lib.survival_counts import event_times as event_times
from fedmed_lib.survival_counts import federated_concordance as federated_concordance
from fedmed_lib.survival_counts import federated_kaplan_meier as federated_kaplan_meier
from fedmed_lib.survival_counts import federated_logrank as federated_logrank
from fedmed_lib.survival_counts import km_counts as km_counts

Array = NDArray[np.float64]


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
