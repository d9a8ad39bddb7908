"""Self-checks for :ref:`ch-four-hospitals`: federated mean and standard deviation.

The learner writes ``fn(sites) -> (mean, std)`` that combines per-site
statistics of one feature (each site a 1-D array with ``NaN`` for missing
values) into the global mean and the *sample* standard deviation (divide by
``c - 1``, ``c`` the number of observed values over all sites), the way the
Fed-Heart-Disease benchmark (Ogier du Terrail et al., NeurIPS 2022) preprocesses
its four hospitals. The check runs ``fn`` on small federations and recognises
the usual mistakes; it never prints the expected values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedmed_lib.check import Feedback, correct
from fedmed_lib.check._core import AnyOf, Mistake, Wrong, call, diagnose, selfcheck

MeanStdFn = Callable[[list[np.ndarray]], tuple[float, float]]

# Small federations: unequal sizes, different means, missing values in some sites.
# The first case has no missing values, the second has some, the third has a site
# with a single observed value (its own sample variance is undefined).
_CASES: tuple[tuple[tuple[float, ...], ...], ...] = (
    ((1.0, 2.0, 3.0, 4.0, 5.0, 6.0), (20.0, 22.0)),
    ((5.0, 3.0, np.nan), (40.0, 41.0, 39.0, 42.0, np.nan, 38.0, 44.0), (1.0, 2.0)),
    ((2.0, np.nan, 4.0, 9.0), (10.0, 11.0, np.nan, np.nan, 13.0), (7.0, np.nan)),
)


def _obs(site: np.ndarray) -> np.ndarray:
    return site[~np.isnan(site)]


def _site_var(site: np.ndarray, ddof: int) -> float:
    x = _obs(site)
    return float(np.var(x, ddof=ddof)) if x.size > ddof else 0.0


def _wrong_means(sites: list[np.ndarray]) -> dict[str, float]:
    site_means = [float(np.mean(_obs(s))) for s in sites]
    rows = sum(s.size for s in sites)
    return {
        "unweighted": float(np.mean(site_means)),
        "rows": float(sum(np.nansum(s) for s in sites) / rows),
        "by_rows": float(sum(s.size * m for s, m in zip(sites, site_means, strict=True)) / rows),
    }


def _wrong_stds(sites: list[np.ndarray]) -> dict[str, float]:
    pooled = np.concatenate([_obs(s) for s in sites])
    c = pooled.size
    m = float(np.mean(pooled))
    counts = np.array([_obs(s).size for s in sites], dtype=float)
    means = np.array([np.mean(_obs(s)) for s in sites])
    v1 = np.array([_site_var(s, 1) for s in sites])
    v0 = np.array([_site_var(s, 0) for s in sites])
    between = float(np.sum(counts * (means - m) ** 2))
    return {
        "ddof0": float(np.std(pooled)),
        "within": float(np.sqrt(np.sum((counts - 1) * v1) / (c - 1))),
        "within_n": float(np.sqrt(np.sum(counts * v0) / c)),
        "within_pooled": float(np.sqrt(np.sum((counts - 1) * v1) / max(c - len(sites), 1))),
        "avg_std": float(np.mean(np.sqrt(v1))),
        "avg_std_weighted": float(np.sum(counts * np.sqrt(v1)) / c),
        "mixed_site_n1": float(np.sqrt((np.sum(counts * v1) + between) / (c - 1))),
        "mixed_site_n1_server_n": float(np.sqrt((np.sum(counts * v1) + between) / c)),
        "mixed_site_n0": float(np.sqrt((np.sum((counts - 1) * v0) + between) / (c - 1))),
    }


def _rows(
    variants: Callable[[list[np.ndarray]], dict[str, float]],
    table: tuple[tuple[tuple[str, ...], str, str], ...],
) -> tuple[Mistake, ...]:
    """Mistakes from ``(variant names, message, hint)``; ``variants`` computes them all."""
    return tuple(
        Mistake(lambda sites, keys=keys: AnyOf(*(variants(sites)[k] for k in keys)), msg, hint)
        for keys, msg, hint in table
    )


_MEAN_MISTAKES = _rows(_wrong_means, (
    (
        ("unweighted",),
        "Your mean is the plain average of the sites' means, so a site with 2 patients "
        "counts as much as one with 200.",
        "the global mean is over patients, not over sites: a site with more observed "
        "values must weigh more (theorem 'Federated mean and variance').",
    ),
    (
        ("rows",),
        "Your mean divides by the number of rows, so missing values count as zeros.",
        "a missing value is not a zero: check what each site counts, which should be "
        "its *observed* values only, not its rows.",
    ),
    (
        ("by_rows",),
        "Your mean weights the sites by their number of rows, not by their observed values.",
        "a site with many missing values contributes fewer numbers; weight by observed counts.",
    ),
))

_STD_MISTAKES = _rows(_wrong_stds, (
    (
        ("ddof0",),
        "Your standard deviation divides by c (the population convention).",
        "the exercise asks for the *sample* standard deviation: check your denominator "
        "(c is the observed count over all sites).",
    ),
    (
        ("within", "within_n", "within_pooled"),
        "Your standard deviation only measures the spread *inside* each site.",
        "sites with different means add spread between them: measure every deviation "
        "from the global mean, not from each site's own mean.",
    ),
    (
        ("avg_std", "avg_std_weighted"),
        "Your standard deviation averages the sites' standard deviations.",
        "standard deviations do not add up; combine sums of squares, then take one "
        "square root at the server.",
    ),
    (
        ("mixed_site_n1", "mixed_site_n1_server_n", "mixed_site_n0"),
        "Your standard deviation mixes conventions: the sites and the server divide by "
        "different counts.",
        "let the sites send raw sums (count, sum, sum of squares) and apply the c - 1 "
        "only once, at the server.",
    ),
))


@selfcheck(require_function=True)
def check_federated_mean_std(fn: MeanStdFn) -> Feedback:
    """Check a learner's federated mean and sample standard deviation.

    Introduced in the exercises of :ref:`ch-four-hospitals`.

    Parameters
    ----------
    fn
        ``fn(sites) -> (mean, std)``: ``sites`` is a list of 1-D float arrays (one
        feature at each site, ``NaN`` = missing); returns the global mean of the
        observed values and their sample standard deviation (``ddof=1``).

    Returns
    -------
    Feedback
        Passed, or what is wrong with a hint (never the expected numbers).

    Raises
    ------
    TypeError
        If ``fn`` is not a function
        (:class:`~fedmed_lib._validate.InputTypeError`, also a ``ValueError``).
    """
    hint = "it should take a list of 1-D arrays and return a pair (mean, std)."
    for i, case in enumerate(_CASES):
        sites = [np.array(s, dtype=np.float64) for s in case]
        out = call(fn, sites, hint=hint)
        try:
            mean, std = (float(v) for v in out)
        except Exception as err:  # noqa: BLE001 - a learner's answer may be anything
            raise Wrong(f"Your function raised {type(err).__name__}: {err}.", hint) from err
        if (np.isnan(mean) or np.isnan(std)) and i == 2:
            raise Wrong(
                "Your function returned NaN for a federation with a one-patient site.",
                "a site cannot compute a sample variance of one value; let the sites send "
                "sums (count, sum, sum of squares) and divide only at the server.",
            )
        if np.isnan(mean) or np.isnan(std):
            raise Wrong(
                "Your function returned NaN: the missing values leaked into the sums.",
                "the NaN entries are missing values: leave them out of each site's "
                "count, sum and sum of squares.",
            )
        pooled = np.concatenate([_obs(s) for s in sites])
        diagnose(
            mean, np.mean(pooled), _MEAN_MISTAKES, (sites,), rtol=1e-9, atol=1e-12,
            generic=(
                "Your mean differs from the mean of all observed values pooled together.",
                "compare with the mean of all observed values pooled: which sums and "
                "counts do the sites send, and how does the server combine them "
                "(theorem 'Federated mean and variance')?",
            ),
        )
        diagnose(
            std, np.std(pooled, ddof=1), _STD_MISTAKES, (sites,), rtol=1e-9, atol=1e-12,
            generic=(
                "Your mean is right, but your standard deviation differs from the pooled one.",
                "check how the server turns the sums of squares and the global mean "
                "into a variance (theorem 'Federated mean and variance'), and its "
                "denominator.",
            ),
        )
    return correct(
        "Your federated mean and standard deviation equal the pooled ones on every test "
        "federation, including sites of one patient and sites with missing values."
    )
