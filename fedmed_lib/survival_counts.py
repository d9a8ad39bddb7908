"""Survival counts across clients: Kaplan-Meier, log-rank and the c-index from counts.

One job: the survival summaries that clients send as counts, and the checks of the
survival data they count from. Each client holds, per patient, an observed time
``time >= 0`` and an event indicator ``event`` (1 = the event, death, was observed;
0 = censored); :func:`check_survival_data` refuses anything else, naming the client.
Clients send only counts, which the server adds up:

* counts at risk and counts of events at each time of a common grid: the pooled
  Kaplan-Meier curve (Kaplan and Meier, JASA 1958) and the log-rank test (Mantel,
  1966) follow exactly (:func:`km_counts`, :func:`federated_kaplan_meier`,
  :func:`federated_logrank`);
* counts of concordant, tied and comparable pairs within each client (Harrell's
  concordance index; :func:`concordance_counts`, :func:`federated_concordance`).

The Cox model, fitted from the clients' derivatives or risk-set sums, is
:mod:`fedmed_lib.survival`, which also re-exports every name defined here.
Introduced in :ref:`ch-survival`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from fedmed_lib._validate import InputTypeError, check_real_array, client_label
from fedmed_lib._validate_data import check_patient_columns
from fedmed_lib.types import Array


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
