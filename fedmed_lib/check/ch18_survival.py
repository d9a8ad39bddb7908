"""Self-checks for :ref:`ch-survival`: the federated Kaplan-Meier curve.

The learner writes two functions. A hospital runs
``site_counts(time, event, grid) -> (at_risk, events)``: at each time of the common
grid, how many of its patients are at risk (still followed, ``time >= grid time``) and how
many died then. The server runs ``server_km(counts) -> survival``: from the list of
the hospitals' ``(at_risk, events)`` pairs, the Kaplan-Meier curve of all patients,
``prod_{tau_(j) <= tau} (1 - sum_k F_kj / sum_k R_kj)`` (Kaplan and Meier, JASA 1958). The
check runs both on small federations with ties, censoring at event times and
unequal hospitals, recognises the usual mistakes, and never prints the expected
values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import Mistake, Wrong, call, close, diagnose, selfcheck

Counts = tuple[np.ndarray, np.ndarray]
SiteCountsFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Counts]
ServerKmFn = Callable[[Sequence[Counts]], np.ndarray]

# Federations of (time, event) per hospital: ties within and across hospitals, censoring
# at an event time, a hospital whose patients are all gone before the last death.
_FEDERATIONS: tuple[tuple[tuple[tuple[float, ...], tuple[int, ...]], ...], ...] = (
    (
        ((2, 3, 3, 5, 8, 8, 9, 12, 14, 15), (1, 1, 0, 1, 0, 1, 1, 0, 1, 0)),
        ((1, 3, 4), (1, 1, 0)),
        ((3, 6, 7, 8, 10, 11), (0, 1, 1, 1, 0, 1)),
    ),
    (
        ((5, 5, 6, 9, 20, 21, 30), (1, 0, 1, 1, 1, 0, 0)),
        ((2, 5, 9, 9, 9, 13, 13, 18, 25, 26, 27, 40), (0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1)),
    ),
)


def _reference_counts(t: np.ndarray, e: np.ndarray, grid: np.ndarray) -> Counts:
    at_risk = (t[None, :] >= grid[:, None]).sum(axis=1).astype(float)
    events = ((t[None, :] == grid[:, None]) & (e[None, :] == 1)).sum(axis=1).astype(float)
    return at_risk, events


def _km(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.cumprod(1.0 - np.divide(e, a, out=np.zeros_like(e), where=a > 0))


_COUNT_MISTAKES: dict[str, Mistake] = {
    "censored_not_at_risk": Mistake(
        lambda t, e, g: ((((t[None, :] >= g[:, None]) & (e[None, :] == 1)).sum(1)).astype(float),
                         _reference_counts(t, e, g)[1]),
        "Your numbers at risk leave out the censored patients.",
        "a patient censored at time c was alive and followed until c: count them at risk at "
        "every grid time s <= c."),
    "censored_never_leave": Mistake(
        lambda t, e, g: (len(t) - np.array([((t < s) & (e == 1)).sum() for s in g], float),
                         _reference_counts(t, e, g)[1]),
        "Your numbers at risk only drop when a patient dies: censored patients stay at risk "
        "forever.",
        "after its censoring time a patient is no longer followed; at risk means time >= s."),
    "strict_risk_set": Mistake(
        lambda t, e, g: ((t[None, :] > g[:, None]).sum(1).astype(float),
                         _reference_counts(t, e, g)[1]),
        "Your risk set at time s leaves out the patients whose time is exactly s.",
        "those who die at s were alive just before s: at risk means time >= s, not time > s."),
    "censored_as_events": Mistake(
        lambda t, e, g: (_reference_counts(t, e, g)[0],
                         (t[None, :] == g[:, None]).sum(1).astype(float)),
        "Your event counts include patients censored at that time.",
        "count only the patients with event == 1 at each grid time."),
}


def _site_curve(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    return _km(a, e)


_SERVER_MISTAKES: dict[str, Mistake] = {
    "mean_of_curves": Mistake(
        lambda c: np.mean([_site_curve(a, e) for a, e in c], axis=0),
        "Your curve is the average of the hospitals' own Kaplan-Meier curves.",
        "the hospitals' curves cannot be averaged (the patients at risk change differently at "
        "each hospital): add up the counts first, then compute one curve."),
    "weighted_mean_of_curves": Mistake(
        lambda c: np.average([_site_curve(a, e) for a, e in c], axis=0,
                             weights=[a[0] for a, _ in c]),
        "Your curve is a size-weighted average of the hospitals' own curves.",
        "weights fixed at the start ignore who is still at risk later: add up the counts "
        "at each time, then compute one curve."),
    "product_of_curves": Mistake(
        lambda c: np.prod([_site_curve(a, e) for a, e in c], axis=0),
        "Your curve multiplies the hospitals' curves, as if a patient had to survive at "
        "every hospital.",
        "add up the numbers at risk and of deaths over hospitals, then compute one curve."),
    "nelson_aalen": Mistake(
        lambda c: np.exp(-np.cumsum(_ratio(c))),
        "Your curve is exp(-cumulative hazard) (the Nelson-Aalen / Breslow estimate), "
        "close to but not the Kaplan-Meier curve.",
        "the Kaplan-Meier curve is a product of survival factors over the death times, "
        "not the exponential of a sum of hazards."),
    "one_minus_cumsum": Mistake(
        lambda c: 1.0 - np.cumsum(_ratio(c)),
        "Your curve subtracts the hazards F_j / R_j from 1 instead of multiplying survival "
        "factors.",
        "survival accumulates by multiplication: check how your curve goes from one "
        "death time to the next (the chapter's Kaplan-Meier estimator)."),
    "not_cumulative": Mistake(
        lambda c: 1.0 - _ratio(c),
        "Your curve gives, at each time, the probability of surviving that time only.",
        "survival to time tau needs every death time up to tau, not only the last one: "
        "accumulate the factors."),
}


def _ratio(counts: Sequence[Counts]) -> np.ndarray:
    a = np.sum([c[0] for c in counts], axis=0)
    e = np.sum([c[1] for c in counts], axis=0)
    return np.divide(e, a, out=np.zeros_like(e), where=a > 0)


@selfcheck
def check_federated_km(site_counts: SiteCountsFn, server_km: ServerKmFn) -> Feedback:
    """Check a learner's federated Kaplan-Meier curve (a hospital's counts and the server).

    Introduced in the exercises of :ref:`ch-survival`.

    Parameters
    ----------
    site_counts
        ``site_counts(time, event, grid) -> (at_risk, events)``, run by each hospital on
        its own patients; one number of each per grid time.
    server_km
        ``server_km(counts) -> survival``: ``counts`` is the list of the hospitals'
        ``(at_risk, events)``; returns the survival probability at each grid time.

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected numbers).
    """
    hint = "check the shapes: one number per grid time."
    for federation in _FEDERATIONS:
        sites = [(np.array(t, float), np.array(e, float)) for t, e in federation]
        grid = np.unique(np.concatenate([t[e == 1] for t, e in sites]))
        reference = [_reference_counts(t, e, grid) for t, e in sites]
        for (t, e), ref in zip(sites, reference, strict=True):
            out = call(site_counts, t, e, grid, hint=hint, where=" (site_counts)")
            if not (isinstance(out, tuple | list) and len(out) == 2):
                raise Wrong("site_counts must return two arrays (at_risk, events).",
                            "return at_risk, events")
            which = "numbers at risk" if not close(out[0], ref[0]) else "event counts"
            diagnose(tuple(out), ref, tuple(_COUNT_MISTAKES.values()), (t, e, grid),
                     rtol=1e-9, atol=1e-12,
                     generic=(f"Your site_counts gives wrong {which} on a small hospital.",
                              "check the chapter's definitions at a grid time s: who is "
                              "still followed just before s, and who dies at s."))
        surv = call(server_km, reference, hint=hint, where=" (server_km)")
        a_tot = np.sum([a for a, _ in reference], axis=0)
        e_tot = np.sum([d for _, d in reference], axis=0)
        diagnose(surv, _km(a_tot, e_tot), tuple(_SERVER_MISTAKES.values()), (reference,),
                 rtol=1e-9, atol=1e-12,
                 generic=("Your server_km does not give the Kaplan-Meier curve of all the "
                          "patients.",
                          "check both steps of the server: the hospitals' counts added "
                          "up at each grid time, then one Kaplan-Meier curve from them."))
    return correct(
        "Your hospitals send only counts per grid time, and your server's curve equals the "
        "Kaplan-Meier curve of the pooled patients on every test federation."
    )
