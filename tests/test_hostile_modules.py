"""Hostile input, generated: every public entry point of the data-side modules.

Property-based tests (Hypothesis) call each public function of ``federated_stats``,
``models``, ``partition``, ``personalize``, ``compression``, ``leakage``,
``keras_fl``, ``data``, ``plotting`` and the self-checks of chapters 6, 8 and 9 with
one argument replaced by a generated bad value (NaN, Inf, complex, boolean, string
and object arrays, wrong shapes, ``None``, strings and ``True`` where numbers belong,
non-integer counts, bad seeds, labels outside {0, 1}, ...) and assert that

* only ``ValueError`` or ``TypeError`` is raised (warnings count as failures);
* the message names the parameter, or the client or site the data belong to;
* every argument is unchanged afterwards (arrays, lists, dataclasses, generators).

Each case's valid call is checked to succeed first, so a case cannot pass because its
"good" arguments were bad all along. ``keras_fl`` and ``dlg_attack`` are tested with a
stand-in model: their checks run before TensorFlow is imported, which is asserted.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedmed_lib import (
    compression,
    data,
    federated_stats,
    keras_fl,
    leakage,
    models,
    partition,
    personalize,
    plotting,
)
from fedmed_lib.check.ch06_four_hospitals import check_federated_mean_std
from fedmed_lib.check.ch08_overfitting import check_federated_validation_loss
from fedmed_lib.check.ch09_limited_resources import check_quantize, check_topk
from fedmed_lib.simulation import History

FAST = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ERRORS = (ValueError, TypeError)

# --- generated bad values --------------------------------------------------------------

NOT_A_NUMBER = st.sampled_from(
    [None, "0.5", "1", b"1", True, False, 1 + 2j, np.complex128(1), [0.5], (1,), {},
     object(), np.array([0.5]), np.bool_(True)]
)
NON_FINITE = st.sampled_from([float("nan"), float("inf"), -float("inf")])
NON_INTEGER = st.floats(allow_nan=True, allow_infinity=True).filter(
    lambda x: not float(x).is_integer()
)
BAD_SEED = st.one_of(
    st.sampled_from([None, "0", 1.5, True, False, np.nan, 2.0, [0], np.float64(1.0)]),
    st.integers(max_value=-1), NON_INTEGER,
)
BAD_POSITIVE = st.one_of(NOT_A_NUMBER, NON_FINITE, st.floats(max_value=0.0, allow_nan=False))
BAD_NONNEGATIVE = st.one_of(
    NOT_A_NUMBER, NON_FINITE, st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False)
)
BAD_FRACTION = st.one_of(
    NOT_A_NUMBER, NON_FINITE, st.floats(max_value=0.0, allow_nan=False),
    st.floats(min_value=1.0, exclude_min=True, allow_nan=False),
)
NOT_CALLABLE = st.sampled_from([None, 3, "f", (1.0, 2.0), np.zeros(2)])
NOT_A_FLAG = st.sampled_from([None, 0, 1, "yes", "True", np.bool_(True), 1.0])


def bad_count(minimum: int) -> st.SearchStrategy[Any]:
    """Values that are not an integer ``>= minimum``: 2.5, True, None, '2', -1, ..."""
    return st.one_of(NOT_A_NUMBER, NON_INTEGER, st.integers(max_value=minimum - 1),
                     st.sampled_from([2.0, np.float64(3.0), "2", np.nan]))


@st.composite
def bad_array(draw: st.DrawFn, shape: tuple[int, ...], *, nan_ok: bool = False,
              empty: bool = True, ndim: bool = True) -> Any:
    """An array argument that no numeric routine should accept (for a valid ``shape``)."""
    kinds = ["complex", "bool", "str", "object", "inf", "none", "string", "ragged"]
    if not nan_ok:
        kinds.append("nan")
    if ndim:
        kinds += ["more_dims", "fewer_dims"]
    if empty and len(shape) >= 1:
        kinds.append("empty")
    kind = draw(st.sampled_from(kinds))
    good = np.ones(shape)
    if kind == "complex":
        return good + 1j * draw(st.floats(min_value=-1, max_value=1, allow_nan=False))
    if kind == "bool":
        return good.astype(bool)
    if kind == "str":
        return good.astype(str)
    if kind == "object":
        out = np.empty(shape, dtype=object)
        out[...] = 0.5
        return out
    if kind in ("nan", "inf"):
        flat = good.ravel().copy()
        i = draw(st.integers(0, max(flat.size - 1, 0)))
        flat[i] = np.nan if kind == "nan" else draw(st.sampled_from([np.inf, -np.inf]))
        return flat.reshape(shape)
    if kind == "none":
        return None
    if kind == "string":
        return "0.5"
    if kind == "ragged":
        return [[1.0, 2.0], [3.0]]
    if kind == "more_dims":
        return good[None, ...]
    if kind == "fewer_dims":
        return good.ravel()[0] if len(shape) == 1 else good.ravel()
    return np.ones((0, *shape[1:]))  # empty


# --- comparing arguments before and after ----------------------------------------------


def snapshot(value: Any) -> Any:
    if isinstance(value, np.random.Generator):
        return ("rng", copy.deepcopy(value.bit_generator.state))
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list | tuple):
        return type(value)(snapshot(v) for v in value)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ("dataclass", type(value),
                {f.name: snapshot(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, FakeModel):
        return ("fake", snapshot(value.weights))
    return value  # numbers, strings, None, functions, opaque objects: compared by identity


def same(value: Any, snap: Any) -> bool:
    if isinstance(value, np.random.Generator):
        return snap == ("rng", value.bit_generator.state)
    if isinstance(value, np.ndarray):
        if not isinstance(snap, np.ndarray) or value.dtype != snap.dtype:
            return False
        if value.shape != snap.shape:
            return False
        if value.dtype.kind in "fc":
            return bool(np.array_equal(value, snap, equal_nan=True))
        return bool(np.array_equal(value, snap))
    if isinstance(value, list | tuple):
        return (type(value) is type(snap) and len(value) == len(snap)
                and all(same(a, b) for a, b in zip(value, snap, strict=True)))
    if isinstance(value, dict):
        return (isinstance(snap, dict) and value.keys() == snap.keys()
                and all(same(value[k], snap[k]) for k in value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (snap[0] == "dataclass" and snap[1] is type(value)
                and all(same(getattr(value, k), v) for k, v in snap[2].items()))
    if isinstance(value, FakeModel):
        return snap[0] == "fake" and same(value.weights, snap[1])
    return value is snap or (isinstance(value, float) and np.isnan(value) and np.isnan(snap))


# --- stand-ins and valid arguments ------------------------------------------------------


class FakeModel:
    """Enough of a Keras model for keras_fl's checks: weights, fit, call."""

    def __init__(self) -> None:
        self.weights = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]
        self.inputs = [np.zeros((1, 2))]
        self.trainable_variables: list[Any] = []

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.weights = [np.asarray(w, np.float32).copy() for w in weights]

    def fit(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __call__(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        return np.full((len(X), 1), 0.5)


def heart_like(n: int = 6, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, 3)) + 10.0
    X[1, 2] = np.nan
    return X


def client_stats(client: str = "B") -> federated_stats.ClientStats:
    return federated_stats.client_statistics(heart_like(seed=1), client=client)


def xy(name: str, n: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    X = models.add_intercept(rng.normal(size=(n, 2)))
    if name == "linear":
        return np.zeros(3), X, rng.normal(size=n)
    if name == "logistic":
        return np.zeros(3), X, np.array([0.0, 1.0] * (n // 2))
    return np.zeros((3, 3)), X, np.array([0.0, 1.0, 2.0] * (n // 3))


def history() -> History:
    h = History()
    h.add_metrics(1, {"accuracy": 0.5})
    h.add_metrics(2, {"accuracy": 0.7})
    return h


def fixed_client(cid: int, params: list, server_round: int, rng: Any) -> tuple[list, int]:
    return [np.full(np.shape(p), 0.25) for p in params], 3


@dataclasses.dataclass
class Case:
    """One public entry point with one argument to corrupt."""

    id: str
    func: Callable[..., Any]
    base: Callable[[], dict[str, Any]]
    param: str
    bad: st.SearchStrategy[Any]
    needles: tuple[str, ...]
    base_ok: bool = True  # the unmodified call must succeed (checked once per case)


CASES: list[Case] = []


def case(id: str, func: Callable[..., Any], base: Callable[[], dict[str, Any]],
         bad: dict[str, tuple[st.SearchStrategy[Any], tuple[str, ...]]],
         base_ok: bool = True) -> None:
    for param, (strategy, needles) in bad.items():
        CASES.append(Case(f"{id}:{param}", func, base, param, strategy, needles, base_ok))


# --- federated_stats ----------------------------------------------------------------------

CLIENT_LABEL = st.sampled_from([True, None, 1.5, [1], b"H", np.bool_(False)])
case("client_statistics", federated_stats.client_statistics,
     lambda: {"X": heart_like(), "client": "H"},
     {"X": (bad_array((6, 3), nan_ok=True), ("client 'H'",)),
      "client": (CLIENT_LABEL, ("client must be",))})


@st.composite
def bad_client_stats_list(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(
        ["none", "str", "single", "empty", "foreign", "field", "width", "count", "m2"]))
    good = [client_stats("A"), client_stats("B")]
    if kind == "none":
        return None
    if kind == "str":
        return "stats"
    if kind == "single":
        return good[0]
    if kind == "empty":
        return []
    if kind == "foreign":
        return [good[0], {"count": [1, 2]}]
    if kind == "width":
        return [good[0], federated_stats.client_statistics(np.ones((2, 4)), client="B")]
    if kind == "count":
        bad = draw(st.sampled_from([np.array([1.5, 2.0, 2.0]), np.array([-1.0, 2.0, 2.0]),
                                    np.array([99.0, 2.0, 2.0]), np.array([True] * 3)]))
        return [good[0], dataclasses.replace(good[1], count=bad)]
    if kind == "m2":
        return [good[0], dataclasses.replace(good[1], m2=np.array([-1.0, 0.0, 0.0]))]
    field = draw(st.sampled_from(["count", "mean", "m2", "num_examples"]))
    if field == "num_examples":
        value = draw(st.sampled_from([0, -3, 2.5, True, None, "6"]))
    else:
        value = draw(bad_array((3,), empty=False))
    return [good[0], dataclasses.replace(good[1], **{field: value})]


case("combine", federated_stats.combine,
     lambda: {"stats": [client_stats("A"), client_stats("B")], "ddof": 1},
     {"stats": (bad_client_stats_list(), ("client 'B'", "stats", "ClientStats", "list is empty")),
      "ddof": (st.sampled_from([2, -1, True, 0.5, None, "0", 1j]), ("ddof",))})


@st.composite
def bad_global_stats(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["none", "object", "client", "mean", "std"]))
    if kind == "none":
        return None
    if kind == "object":
        return object()
    if kind == "client":
        return client_stats()
    good = federated_stats.combine([client_stats()])
    return dataclasses.replace(good, **{kind: draw(bad_array((3,), empty=False))})


case("standardize_impute", federated_stats.standardize_impute,
     lambda: {"X": heart_like(), "global_stats": federated_stats.combine([client_stats()]),
              "client": "H"},
     {"X": (bad_array((6, 3), nan_ok=True), ("client 'H'",)),
      "global_stats": (bad_global_stats(), ("global_stats",)),
      "client": (CLIENT_LABEL, ("client must be",))})
case("mark_missing", federated_stats.mark_missing,
     lambda: {"X": heart_like(), "columns": [0, 2], "value": 0.0, "client": "H"},
     {"X": (bad_array((6, 3), nan_ok=True), ("client 'H'",)),
      "columns": (st.sampled_from([None, "0", 2, [1.5], [True], [3], [-1], np.array([0.0]),
                                   np.array([[0]])]),
                  ("client 'H'",)),
      "value": (st.one_of(NOT_A_NUMBER, NON_FINITE), ("value",))})
case("ClientStats(raw sums)",
     lambda **kw: federated_stats.ClientStats("B", 6, **kw),
     lambda: {"count": np.array([2.0]), "total": np.array([4.0]), "total_sq": np.array([10.0])},
     {p: (bad_array((1,), empty=False), ("client 'B'",)) for p in ("count", "total", "total_sq")})

# --- models ----------------------------------------------------------------------------------

for _name, _model in (("linear", models.LINEAR), ("logistic", models.LOGISTIC),
                      ("softmax", models.SOFTMAX)):
    _theta_shape = (3, 3) if _name == "softmax" else (3,)
    _bad_y: st.SearchStrategy[Any] = bad_array((6,))
    if _name == "logistic":
        _bad_y = st.one_of(_bad_y, st.sampled_from([np.array([0.0, 1, 2, 0, 1, 0]),
                                                    np.array([0.5] * 6), -np.ones(6)]))
    if _name == "softmax":
        _bad_y = st.one_of(_bad_y, st.sampled_from([np.array([0.0, 1, 3, 0, 1, 0]),
                                                    np.array([0.5] * 6), -np.ones(6)]))
    _labels = ("y", "labels")
    for _fname, _f in ((f"{_name}.loss", _model.loss), (f"{_name}.grad", _model.grad),
                       (f"{_name}.score", _model.score)):

        def _base(n: str = _name) -> dict[str, Any]:
            return dict(zip(("theta", "X", "y"), xy(n), strict=True))

        _bad = {"theta": (bad_array(_theta_shape, empty=False), ("theta",)),
                "X": (bad_array((6, 3)), ("X", "empty data")),
                "y": (st.one_of(_bad_y, st.just(np.zeros((6, 1)))), _labels)}
        if not _fname.endswith("score"):
            _bad["l2"] = (BAD_NONNEGATIVE, ("l2",))
        case(_fname, _f, _base, _bad)
    case(f"{_name}.predict", _model.predict,
         lambda n=_name: dict(zip(("theta", "X"), xy(n)[:2], strict=True)),
         {"theta": (bad_array(_theta_shape, empty=False), ("theta",)),
          "X": (bad_array((6, 3), empty=False), ("X",))})
    case(f"{_name}.init", _model.init, lambda: {"n_features": 3, "n_classes": 3},
         {"n_features": (bad_count(1), ("n_features",)),
          "n_classes": (bad_count(2), ("n_classes",))})
case("check_labels", models.LOGISTIC.check_labels,
     lambda: {"y": np.array([0.0, 1.0]), "client": "H"},
     {"y": (st.one_of(bad_array((2,), empty=False, ndim=False),
                      st.just(np.array([0.0, 2.0]))), ("client 'H'",))})
case("add_intercept", models.add_intercept, lambda: {"X": np.ones((4, 2))},
     {"X": (bad_array((4, 2)), ("X",))})
case("sigmoid", models.sigmoid, lambda: {"z": np.zeros(3)},
     {"z": (bad_array((3,), ndim=False, empty=False), ("z",))})
case("softmax", models.softmax, lambda: {"z": np.zeros((2, 3))},
     {"z": (bad_array((2, 3)), ("z",))})
case("Model", models.Model,
     lambda: {"name": "m", "loss": models.mse_loss, "grad": models.mse_grad,
              "predict": models.linear_predict},
     {"name": (st.sampled_from([None, 3, ["m"]]), ("name",)),
      "loss": (NOT_CALLABLE, ("loss",)), "grad": (NOT_CALLABLE, ("grad",)),
      "binary": (NOT_A_FLAG, ("binary",))})

# --- partition ------------------------------------------------------------------------------

Y12 = np.repeat(np.arange(3), 4)
BAD_LABELS = bad_array((12,))
case("iid_partition", partition.iid_partition,
     lambda: {"n": 12, "num_clients": 3, "seed": 0},
     {"n": (bad_count(1), ("n must", "examples")),
      "num_clients": (st.one_of(bad_count(1), st.integers(13, 10**9)), ("num_clients", "clients")),
      "seed": (BAD_SEED, ("seed",))})
case("shard_partition", partition.shard_partition,
     lambda: {"y": Y12, "num_clients": 3, "shards_per_client": 2, "seed": 0},
     {"y": (BAD_LABELS, ("y",)),
      "num_clients": (bad_count(1), ("num_clients",)),
      "shards_per_client": (st.one_of(bad_count(1), st.integers(5, 100)),
                            ("shards_per_client", "cannot split")),
      "seed": (BAD_SEED, ("seed",))})
case("dirichlet_partition", partition.dirichlet_partition,
     lambda: {"y": Y12, "num_clients": 3, "alpha": 1.0, "seed": 0, "min_size": 1,
              "max_tries": 50},
     {"y": (BAD_LABELS, ("y",)),
      "num_clients": (bad_count(1), ("num_clients",)),
      "alpha": (BAD_POSITIVE, ("alpha",)),
      "seed": (BAD_SEED, ("seed",)),
      "min_size": (st.one_of(bad_count(0), st.integers(5, 10**12)), ("min_size", "examples")),
      "max_tries": (bad_count(1), ("max_tries",))})
case("quantity_skew_partition", partition.quantity_skew_partition,
     lambda: {"n": 12, "num_clients": 3, "alpha": 1.0, "seed": 0, "min_size": 1},
     {"n": (bad_count(1), ("n must", "examples")),
      "num_clients": (bad_count(1), ("num_clients",)),
      "alpha": (BAD_POSITIVE, ("alpha",)),
      "seed": (BAD_SEED, ("seed",)),
      "min_size": (bad_count(1), ("min_size",))})


@st.composite
def bad_parts(draw: st.DrawFn, n: int) -> Any:
    kind = draw(st.sampled_from(["none", "array", "str", "float", "bool", "range", "2d"]))
    good = [np.arange(0, n // 2), np.arange(n // 2, n)]
    if kind == "none":
        return None
    if kind == "array":
        return np.arange(n)
    if kind == "str":
        return "01"
    k = draw(st.integers(0, 1))
    if kind == "float":
        good[k] = good[k].astype(float)
    elif kind == "bool":
        good[k] = np.ones(len(good[k]), bool)
    elif kind == "range":
        good[k] = good[k].copy()
        good[k][0] = draw(st.sampled_from([-1, n, 10**6]))
    else:
        good[k] = good[k][None, :]
    return good


case("feature_shift", partition.feature_shift,
     lambda: {"X": np.ones((12, 2)), "num_clients": 2,
              "parts": [np.arange(6), np.arange(6, 12)], "scale": 0.5, "seed": 0},
     {"X": (bad_array((12, 2)), ("X",)),
      "num_clients": (st.one_of(bad_count(1), st.integers(3, 50)), ("num_clients", "clients")),
      "parts": (bad_parts(12), ("parts", "client 0", "client 1")),
      "scale": (BAD_NONNEGATIVE, ("scale",)),
      "seed": (BAD_SEED, ("seed",))})
case("label_counts", partition.label_counts,
     lambda: {"y": Y12, "parts": [np.arange(6), np.arange(6, 12)], "num_classes": 3},
     {"y": (st.one_of(BAD_LABELS, st.just(Y12 - 0.5), st.just(Y12 - 1)), ("y",)),
      "parts": (bad_parts(12), ("parts", "client 0", "client 1")),
      "num_classes": (st.one_of(bad_count(1).filter(lambda v: v is not None), st.just(2)),
                      ("num_classes",))})

# --- personalize ----------------------------------------------------------------------------

case("federated_loss", personalize.federated_loss,
     lambda: {"losses": [0.5, 1.0], "num_examples": [3, 4]},
     {"losses": (st.one_of(
         st.sampled_from([None, "0.5", 0.5, [], [0.5], np.ones((2, 1))]),
         st.tuples(st.just(0.5), st.one_of(NOT_A_NUMBER, NON_FINITE, st.just(-1.0))).map(list)),
         ("losses", "client 1", "list is empty")),
      "num_examples": (st.one_of(
          st.sampled_from([None, "34", 3, [3]]),
          st.tuples(st.just(3), bad_count(1)).map(list)), ("num_examples",))})
case("early_stopping_round", personalize.early_stopping_round,
     lambda: {"losses": [3.0, 2.0, 2.5], "rounds": [1, 2, 3], "patience": 2},
     {"losses": (st.one_of(
         st.sampled_from([None, "321", [], np.ones((3, 1))]),
         st.tuples(st.just(1.0), st.sampled_from([None, "2", True, 1j, np.nan])).map(list)),
         ("losses",)),
      "rounds": (st.one_of(st.sampled_from(["123", 3, [1, 2]]),
                           st.tuples(st.just(1), st.just(2), NON_INTEGER).map(list)),
                 ("rounds",)),
      "patience": (bad_count(1).filter(lambda v: v is not None), ("patience",))})


def fine_tune_base() -> dict[str, Any]:
    theta, X, y = xy("logistic")
    return {"theta": theta, "train": (X, y), "val": (X.copy(), y.copy()),
            "model": models.LOGISTIC, "lr": 0.1, "max_steps": 2, "every": 1, "l2": 0.0,
            "client": "H"}


@st.composite
def bad_pair(draw: st.DrawFn) -> Any:
    theta, X, y = xy("logistic")
    kind = draw(st.sampled_from(["X", "y", "not_pair", "short", "column", "labels"]))
    if kind == "X":
        return (draw(bad_array((6, 3))), y)
    if kind == "y":
        return (X, draw(bad_array((6,))))
    if kind == "not_pair":
        return draw(st.sampled_from([None, X, (X,), (X, y, y)]))
    if kind == "short":
        return (X, y[:-1])
    if kind == "column":
        return (X, y[:, None])
    return (X, y + 1)


case("fine_tune", personalize.fine_tune, fine_tune_base,
     {"theta": (bad_array((3,), empty=False), ("theta",)),
      "train": (bad_pair(), ("client 'H'",)),
      "val": (bad_pair(), ("client 'H'",)),
      "model": (st.sampled_from([None, "logistic", models.LOGISTIC.grad]), ("model",)),
      "lr": (BAD_POSITIVE, ("lr",)),
      "max_steps": (bad_count(0), ("max_steps",)),
      "every": (bad_count(1), ("every",)),
      "l2": (BAD_NONNEGATIVE, ("l2",))})

# --- compression ----------------------------------------------------------------------------

BAD_RNG = st.sampled_from([0, 7, "rng", np.random.RandomState(0), object(), 1.5])
case("quantize_8bit", compression.quantize_8bit,
     lambda: {"x": np.array([0.3, -1.0, 2.0]), "rng": np.random.default_rng(0)},
     {"x": (bad_array((3,), ndim=False), ("x",)), "rng": (BAD_RNG, ("rng",))})
case("topk_sparsify", compression.topk_sparsify,
     lambda: {"x": np.array([0.3, -1.0, 2.0]), "k": 2},
     {"x": (bad_array((3,), ndim=False), ("x",)),
      "k": (st.one_of(bad_count(1), st.integers(4, 10**9)), ("k",))})
case("topk_compressor", compression.topk_compressor, lambda: {"fraction": 0.5},
     {"fraction": (BAD_FRACTION, ("fraction",))})


@st.composite
def bad_quantized(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["dtype", "level", "scale", "other"]))
    if kind == "dtype":
        return compression.Quantized(draw(bad_array((3,), ndim=False)), 0.1)
    if kind == "level":
        return compression.Quantized(np.array([-128, 0, 1], np.int8), 0.1)
    if kind == "scale":
        return compression.Quantized(np.ones(3, np.int8),
                                     draw(st.one_of(NOT_A_NUMBER, NON_FINITE, st.just(-1.0))))
    return draw(st.sampled_from([None, np.ones(3), [1, 2], "q"]))


@st.composite
def bad_sparse(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["values", "indices", "range", "repeat", "shape", "other"]))
    idx = np.array([0, 2], np.int32)
    if kind == "values":
        return compression.Sparse(draw(bad_array((2,), empty=False)), idx, (3,))
    if kind == "indices":
        return compression.Sparse(np.ones(2), draw(st.sampled_from(
            [np.array([0.0, 2.0]), np.array([True, False]), np.array([0]), [0, 2]])), (3,))
    if kind == "range":
        return compression.Sparse(np.ones(2), np.array([0, draw(st.sampled_from([-1, 3, 99]))],
                                                       np.int32), (3,))
    if kind == "repeat":
        return compression.Sparse(np.ones(2), np.array([1, 1], np.int32), (3,))
    if kind == "shape":
        return compression.Sparse(np.ones(2), idx, draw(st.sampled_from(
            [(2.5,), (-3,), 3, None, (True,)])))
    return draw(st.sampled_from([None, np.ones(3), [1, 2], "s"]))


case("dequantize", compression.dequantize,
     lambda: {"msg": compression.quantize_8bit(np.array([0.5, -1.0]))},
     {"msg": (bad_quantized(), ("msg",))})
case("densify", compression.densify,
     lambda: {"msg": compression.topk_sparsify(np.array([0.5, -1.0, 2.0]), 2)},
     {"msg": (bad_sparse(), ("msg",))})
case("decode", compression.decode, lambda: {"msg": np.ones(3)},
     {"msg": (st.one_of(bad_quantized(), bad_sparse(), bad_array((3,), ndim=False)), ("msg",))})
case("payload_bytes", compression.payload_bytes, lambda: {"msgs": [np.ones(3)]},
     {"msgs": (st.one_of(
         st.sampled_from([None, "abc", b"abc", 3, [np.ones(2), [1.0]], [None]]),
         bad_quantized().map(lambda m: [np.ones(2), m])), ("msg",))})
case("CompressedClient", compression.CompressedClient,
     lambda: {"client_fn": fixed_client, "compressor": compression.quantize_8bit},
     {"client_fn": (NOT_CALLABLE, ("client_fn",)),
      "compressor": (NOT_CALLABLE, ("compressor",)),
      "error_feedback": (NOT_A_FLAG, ("error_feedback",))})


def compressed_call_base() -> dict[str, Any]:
    return {"cid": 3, "params": [np.zeros(3), np.zeros((2, 2))], "server_round": 1,
            "rng": np.random.default_rng(0)}


_CLIENT = compression.CompressedClient(fixed_client, compression.topk_compressor(0.5),
                                       error_feedback=True)
case("CompressedClient.__call__", _CLIENT, compressed_call_base,
     {"cid": (bad_count(0), ("cid",)),
      "params": (st.one_of(st.sampled_from([None, "p", np.zeros(3), []]),
                           bad_array((3,), empty=False).map(lambda a: [a, np.zeros((2, 2))])),
                 ("params", "client 3")),
      "server_round": (bad_count(0), ("server_round",)),
      "rng": (BAD_RNG, ("rng",))})

# --- leakage --------------------------------------------------------------------------------

case("recover_from_dense_gradient", leakage.recover_from_dense_gradient,
     lambda: {"grad_W": np.array([[2.0, 4.0], [-1.0, -2.0]]), "grad_b": np.array([2.0, -1.0]),
              "row": 1},
     {"grad_W": (bad_array((2, 2)), ("grad_W", "grad_b")),
      "grad_b": (bad_array((2,)), ("grad_b",)),
      "row": (st.one_of(bad_count(0).filter(lambda v: v is not None), st.integers(2, 100)),
              ("row",))})


def class_means_base() -> dict[str, Any]:
    X = np.random.default_rng(4).normal(size=(2, 3))
    g = models.softmax_grad(np.zeros((4, 3)), models.add_intercept(X), np.array([0, 1]))
    return {"grad_W": g[1:].T, "grad_b": g[0], "num_examples": 2}


case("recover_class_means", leakage.recover_class_means, class_means_base,
     {"grad_W": (bad_array((3, 3)), ("grad_W", "grad_b")),
      "grad_b": (bad_array((3,)), ("grad_b",)),
      # 2 records of classes 0 and 1: any other batch size contradicts the bias gradient
      "num_examples": (st.one_of(bad_count(1), st.sampled_from([1, 3, 5, 7, 2**40, 10**30])),
                       ("num_examples", "whole numbers"))})
case("dlg_attack", leakage.dlg_attack,
     lambda: {"model": None, "observed_grads": [np.zeros(2)], "num_iters": 3, "seed": 0},
     {"observed_grads": (st.one_of(st.sampled_from([None, "g", np.zeros(2)]),
                                   bad_array((2,), empty=False, ndim=False).map(lambda a: [a])),
                         ("observed_grads",)),
      "num_iters": (bad_count(1), ("num_iters",)),
      "init_scale": (BAD_NONNEGATIVE, ("init_scale",)),
      "seed": (BAD_SEED, ("seed",)),
      "infer_label": (NOT_A_FLAG, ("infer_label",)),
      "x_true": (st.one_of(bad_array((2,), empty=False, ndim=False).filter(lambda v: v is not None),
                           st.just(np.zeros(2))),
                 ("x_true",)),
      "model": (st.sampled_from([None, object(), "model"]), ("model",))},
     base_ok=False)

# --- keras_fl (a stand-in model; the checks never import Keras) -----------------------------

IMG = (2, 4, 4, 1)


def images(n: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *IMG[1:])).astype(np.float32), np.array([0.0, 1.0] * (n // 2))


@st.composite
def bad_image_clients(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["none", "empty", "array", "pair", "X", "y", "labels",
                                 "column", "short", "shape"]))
    good = [images(), images(seed=1)]
    X, y = good[1]
    if kind == "none":
        return None
    if kind == "empty":
        return []
    if kind == "array":
        return np.zeros((2, 2))
    if kind == "pair":
        good[1] = draw(st.sampled_from([X, (X,), None]))
    elif kind == "X":
        good[1] = (draw(bad_array(IMG)), y)
    elif kind == "y":
        good[1] = (X, draw(bad_array((2,))))
    elif kind == "labels":
        good[1] = (X, np.array([0.0, 2.0]))
    elif kind == "column":
        good[1] = (X, y[:, None])
    elif kind == "short":
        good[1] = (X, y[:1])
    else:
        good[1] = (X[:, :3], y)
    return good


case("check_image_clients", keras_fl.check_image_clients,
     lambda: {"clients": [images(), images(seed=1)]},
     {"clients": (bad_image_clients(), ("client 1", "clients"))})
case("build_cnn", keras_fl.build_cnn,
     lambda: {"seed": 0, "input_shape": (8, 8, 1), "filters": (2, 2), "dense_units": 2,
              "lr": 0.1},
     {"seed": (BAD_SEED, ("seed",)),
      "input_shape": (st.sampled_from([None, 8, (8, 8), (8, 8, 1.5), (8, 0, 1), "881"]),
                      ("input_shape",)),
      "filters": (st.sampled_from([None, 4, (2,), (2, 0), (2, True), (2, 2.5)]),
                  ("filters", "layer sizes")),
      "dense_units": (bad_count(1), ("dense_units", "layer sizes")),
      "lr": (BAD_POSITIVE, ("lr",))},
     base_ok=False)
case("keras_client_fn", keras_fl.keras_client_fn,
     lambda: {"model": FakeModel(), "clients": [images(), images(seed=1)], "local_epochs": 1,
              "batch_size": 2, "shuffle": True},
     {"model": (st.sampled_from([None, "model", object()]), ("model",)),
      "clients": (bad_image_clients(), ("client 1", "clients")),
      "local_epochs": (bad_count(1), ("local_epochs",)),
      "batch_size": (bad_count(1), ("batch_size",)),
      "shuffle": (NOT_A_FLAG, ("shuffle",))})


def keras_fit_base() -> dict[str, Any]:
    model = FakeModel()
    return {"model": model, "cid": 1, "params": keras_fl.get_params(model), "server_round": 1,
            "rng": np.random.default_rng(0)}


def keras_fit(model: FakeModel, **kwargs: Any) -> Any:
    return keras_fl.keras_client_fn(model, [images(), images(seed=1)])(**kwargs)


case("keras_client_fn(...)()", keras_fit, keras_fit_base,
     {"cid": (st.one_of(bad_count(0), st.integers(2, 10**6)), ("cid", "client")),
      "params": (st.one_of(st.sampled_from([None, "p", np.zeros(3), []]),
                           bad_array((2, 2), empty=False).map(lambda a: [a, np.zeros(2)])),
                 ("client 1",)),
      "server_round": (bad_count(0), ("server_round",)),
      "rng": (BAD_RNG, ("rng",))})
case("set_params", keras_fl.set_params,
     lambda: {"model": FakeModel(), "params": [np.ones((2, 2)), np.ones(2)], "client": "H"},
     {"params": (st.one_of(st.sampled_from([None, np.ones(2), [np.ones((2, 2))]]),
                           bad_array((2,), empty=False).map(lambda a: [np.ones((2, 2)), a])),
                 ("client 'H'",)),
      "model": (st.sampled_from([None, object()]), ("model",))})
case("predict_proba", keras_fl.predict_proba,
     lambda: {"model": FakeModel(), "params": [np.ones((2, 2)), np.ones(2)],
              "X": images()[0]},
     {"X": (st.one_of(bad_array(IMG, ndim=False), st.just(np.ones(3))), ("X",)),
      "params": (st.sampled_from([None, [np.ones(2)], [np.full((2, 2), np.nan), np.ones(2)]]),
                 ("global model",))})
case("get_params", keras_fl.get_params, lambda: {"model": FakeModel()},
     {"model": (st.sampled_from([None, object(), [np.ones(2)]]), ("model",))})

# --- data (all checked before any file is read) -----------------------------------------------

case("heart_file", data.heart_file, lambda: {"site": "va"},
     {"site": (st.sampled_from([None, 0, ["va"], b"va", "boston", "VA", ""]), ("site",))})
case("load_heart_disease", data.load_heart_disease,
     lambda: {"data_dir": "/nonexistent", "download": False, "sites": ["va"]},
     {"data_dir": (st.sampled_from([3, 1.5, b"data", "", [Path(".")]]), ("data_dir",)),
      "download": (NOT_A_FLAG, ("download",)),
      "sites": (st.sampled_from(["va", b"va", 3, [3], [], ["boston"], [None]]), ("sites",))},
     base_ok=False)
case("load_breastmnist", data.load_breastmnist,
     lambda: {"data_dir": "/nonexistent", "download": False},
     {"data_dir": (st.sampled_from([3, 1.5, b"data", ""]), ("data_dir",)),
      "download": (NOT_A_FLAG, ("download",))},
     base_ok=False)

# --- plotting -------------------------------------------------------------------------------


def plot_base() -> dict[str, Any]:
    return {"histories": {"FedAvg": history()}, "metric": "accuracy", "title": "t",
            "ylabel": "accuracy", "colors": ["#000000"]}


def plot_history(**kwargs: Any) -> Any:
    try:
        return plotting.plot_history(**kwargs)
    finally:
        plt.close("all")


case("plot_history", plot_history,
     lambda: plot_base() | {"references": {"pooled": 0.9}, "linestyles": ["-"]},
     {"histories": (st.sampled_from([None, {}, [history()], {"FedAvg": object()},
                                     {"FedAvg": History()}, {3: history()}]),
                    ("histories", "history")),
      "metric": (st.sampled_from([None, 3, "loss", ["accuracy"]]), ("metric",)),
      "references": (st.sampled_from([3, [0.9], {"pooled": None}, {"pooled": np.nan},
                                      {"pooled": "0.9"}, {1: 0.9}]), ("reference",)),
      "linestyles": (st.sampled_from([[], "-", 3, [3]]), ("linestyles",)),
      "marker": (st.sampled_from([3, ["o"]]), ("marker",)),
      "ax": (st.sampled_from(["ax", 3, object()]), ("ax",))})
case("hospital_color", plotting.hospital_color, lambda: {"k": 2},
     {"k": (bad_count(0), ("k",))})

# --- self-checks ----------------------------------------------------------------------------

for _check in (check_federated_mean_std, check_federated_validation_loss, check_quantize,
               check_topk):
    case(_check.__name__, _check, lambda: {"fn": lambda *a: (0.0, 1.0)},
         {"fn": (NOT_CALLABLE, ("fn",))}, base_ok=False)


# --- the properties ---------------------------------------------------------------------------


def _call_strictly(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Call with every warning turned into an error (bad input must not warn first)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(**kwargs)


@pytest.mark.parametrize("c", [c for c in CASES if c.base_ok], ids=lambda c: c.id)
def test_the_valid_call_succeeds(c: Case) -> None:
    # so that every failure below is caused by the one bad argument
    _call_strictly(c.func, c.base())


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
@FAST
@given(data=st.data())
def test_bad_argument_is_refused_by_name_and_changes_nothing(c: Case, data: st.DataObject) -> None:
    kwargs = c.base()
    kwargs[c.param] = data.draw(c.bad, label=c.param)
    before = snapshot(kwargs)
    state = snapshot(_CLIENT.residuals), snapshot(_CLIENT.bytes_per_round)
    had_tf = "tensorflow" in sys.modules
    had_keras = "keras" in sys.modules
    with pytest.raises(ERRORS) as info:
        _call_strictly(c.func, kwargs)
    message = str(info.value)
    assert any(n in message for n in c.needles), f"{message!r} names none of {c.needles}"
    for name, value in kwargs.items():
        assert same(value, before[name]), f"{name} was modified"
    assert same(_CLIENT.residuals, state[0]) and same(_CLIENT.bytes_per_round, state[1])
    if c.id.startswith(("dlg_attack", "build_cnn")):
        assert had_tf or "tensorflow" not in sys.modules  # refused before importing TF
        assert had_keras or "keras" not in sys.modules


@st.composite
def bad_reply(draw: st.DrawFn) -> tuple[Any, Any]:
    """What a broken client might send back: malformed updates or counts."""
    good = [np.full(3, 0.25), np.full((2, 2), 0.25)]
    kind = draw(st.sampled_from(["update", "array", "count", "length", "shape"]))
    if kind == "update":
        return draw(st.sampled_from([None, "u", np.zeros(3), 0.5])), 3
    if kind == "array":
        k = draw(st.integers(0, 1))
        good[k] = draw(bad_array(good[k].shape, empty=False))
        return good, 3
    if kind == "count":
        return good, draw(bad_count(1))
    if kind == "length":
        return good[:1], 3
    return [np.zeros(4), good[1]], 3


@FAST
@given(reply=bad_reply())
def test_compressed_client_refuses_a_bad_reply_and_keeps_its_memory(reply: tuple) -> None:
    update, n = reply
    wrapped = compression.CompressedClient(
        lambda cid, params, server_round, rng: (update, n), compression.topk_compressor(0.5),
        error_feedback=True)
    wrapped.residuals[3] = [np.full(3, 0.5), np.full((2, 2), 0.5)]
    wrapped.bytes_per_round[1] = 40
    before = snapshot(wrapped.residuals), snapshot(wrapped.bytes_per_round)
    with pytest.raises(ERRORS) as info:
        _call_strictly(wrapped, compressed_call_base() | {"server_round": 2})
    assert "client 3" in str(info.value)
    assert same(wrapped.residuals, before[0]) and same(wrapped.bytes_per_round, before[1])


@FAST
@given(offset=st.sampled_from([0.0, 1e7, 1e8, -1e8]), sizes=st.lists(
    st.integers(20, 80), min_size=2, max_size=6), seed=st.integers(0, 2**16))
def test_federated_std_equals_pooled_far_from_zero(offset: float, sizes: list[int],
                                                   seed: int) -> None:
    # the property of issue 10: not only hostile types, hostile magnitudes too
    rng = np.random.default_rng(seed)
    sites = [offset + rng.normal(size=(n, 2)) for n in sizes]
    for X in sites:
        X[rng.random(X.shape) < 0.1] = np.nan
    g = federated_stats.combine([federated_stats.client_statistics(X, client=k)
                                 for k, X in enumerate(sites)])
    ref = np.nanstd(np.vstack(sites), axis=0)
    np.testing.assert_allclose(g.std, ref, rtol=1e-9, atol=0)
