"""The book's numpy models: a loss, its gradient and a prediction, bundled.

One job: a :class:`Model` holds what federated training needs of a model (its mean
loss, gradient, prediction, initial parameters, label check and score), so that
local training, the aggregation rules and the simulations take any model the same
way; :data:`LINEAR`, :data:`LOGISTIC` and :data:`SOFTMAX` are the book's three, and
:func:`add_intercept` builds the design matrix they all take. Introduced in
:ref:`ch-fedsgd` (the bundle) and :ref:`ch-loss` (the design matrix).

The losses, gradients and predictions themselves (linear, logistic and softmax
regression, with an optional L2 penalty) are defined in :mod:`fedmed_lib.losses`
and importable from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    check_int,
    check_positive_int,
    check_real_array,
    client_label,
)
from fedmed_lib._validate_data import check_binary_labels
from fedmed_lib.losses import _UNCHECKED
from fedmed_lib.losses import linear_predict as linear_predict
from fedmed_lib.losses import logistic_grad as logistic_grad
from fedmed_lib.losses import logistic_loss as logistic_loss
from fedmed_lib.losses import logistic_predict as logistic_predict
from fedmed_lib.losses import mse_grad as mse_grad
from fedmed_lib.losses import mse_loss as mse_loss
from fedmed_lib.losses import sigmoid as sigmoid
from fedmed_lib.losses import softmax as softmax
from fedmed_lib.losses import softmax_grad as softmax_grad
from fedmed_lib.losses import softmax_loss as softmax_loss
from fedmed_lib.losses import softmax_predict as softmax_predict
from fedmed_lib.types import Array


def add_intercept(X: np.ndarray) -> Array:
    """Prepend a column of ones to ``X`` so that ``theta[0]`` is the intercept.

    Introduced in :ref:`ch-loss`.

    Raises
    ------
    ValueError
        If ``X`` is not a 2-D real array, has no rows, or contains NaN/Inf
        (:class:`~fedmed_lib._validate.InputTypeError` for complex, boolean, string
        or object data).
    """
    A = check_real_array(X, name="X")
    if A.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError("empty data (X has 0 rows)")
    return np.hstack([np.ones((A.shape[0], 1)), A])


# --- a model is a bundle of these functions -------------------------------------------


@dataclass(frozen=True)
class Model:
    """A numpy model: its loss, gradient, prediction and initial parameters.

    Introduced in :ref:`ch-fedsgd`.

    Attributes
    ----------
    name
        ``"linear"``, ``"logistic"`` or ``"softmax"``.
    loss, grad
        ``f(theta, X, y, l2=0.0)``: the mean loss and its gradient.
    predict
        ``f(theta, X)``: predictions (values, probabilities of class 1, or class
        probabilities).
    binary
        ``True`` when the labels must be 0 or 1 (the logistic model). Code that
        validates a client's data before training (e.g. local training) reads it,
        then may run its steps with :attr:`unchecked_grad`.
        A model named ``"logistic"`` is always binary, so a wrapper built as
        ``Model(model.name, model.loss, new_grad, model.predict)`` keeps the flag.
    """

    name: str
    loss: Callable[..., float]
    grad: Callable[..., Array]
    predict: Callable[[np.ndarray, np.ndarray], Array]
    binary: bool = False

    def __post_init__(self) -> None:
        """Check the fields; a model named ``"logistic"`` needs binary labels."""
        if not isinstance(self.name, str):
            raise InputTypeError(f"name must be a string, got {type(self.name).__name__}")
        for field_name in ("loss", "grad", "predict"):
            if not callable(getattr(self, field_name)):
                raise InputTypeError(f"{field_name} must be a function")
        if not isinstance(self.binary, bool):
            raise InputTypeError(f"binary must be True or False, got {self.binary!r}")
        if self.name == "logistic" and not self.binary:
            object.__setattr__(self, "binary", True)

    @property
    def unchecked_loss(self) -> Callable[..., float]:
        """The loss without input checks, for loops whose data were checked once.

        For the book's models this is the numerical kernel behind :attr:`loss`
        (same signature, same result on valid input, no checks, no error messages);
        for any other loss it is :attr:`loss` itself.
        """
        return _UNCHECKED.get(self.loss, self.loss)  # type: ignore[return-value]

    @property
    def unchecked_grad(self) -> Callable[..., Array]:
        """The gradient without input checks, e.g. for the steps of local SGD.

        The caller must have checked ``X``, ``y`` (labels included) and ``theta``
        already; see :attr:`unchecked_loss`.
        """
        return _UNCHECKED.get(self.grad, self.grad)  # type: ignore[return-value]

    def init(self, n_features: int, n_classes: int = 2) -> Array:
        """Zero parameters for ``n_features`` columns of ``X`` (intercept included).

        Raises
        ------
        ValueError
            If ``n_features`` is not an integer >= 1 or ``n_classes`` not an integer >= 2.
        """
        p = check_positive_int(n_features, name="n_features")
        c = check_int(n_classes, name="n_classes", minimum=2)
        if self.name == "softmax":
            return np.zeros((p, c))
        return np.zeros(p)

    def check_labels(
        self, y: np.ndarray, *, n_classes: int | None = None, client: int | str = "data"
    ) -> None:
        """Check that the labels suit this model (naming ``client`` in the error).

        Binary models need 0/1 labels; the softmax model needs integer labels
        ``0 .. n_classes - 1`` (any non-negative integer when ``n_classes`` is
        ``None``); linear regression takes any finite targets.

        Raises
        ------
        ValueError
            If a label does not suit the model.
        """
        who = client_label(client) if client != "data" else "data"
        ya = check_real_array(y, name=f"{who}: y")
        if self.binary:
            check_binary_labels(ya, client=client)
        elif self.name == "softmax":
            limit = np.inf if n_classes is None else check_int(n_classes, name="n_classes")
            ok = (ya >= 0) & (ya < limit) & (ya == np.floor(ya))
            if not ok.all():
                raise ValueError(
                    f"{who}: labels must be integers 0, 1, ... for the softmax model"
                    + ("" if n_classes is None else f" below n_classes={n_classes}")
                    + f", got {np.unique(ya[~ok])[:5]}"
                )

    def score(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy for classifiers, R^2 for linear regression.

        Raises
        ------
        ValueError
            If the inputs are malformed or do not fit (as the loss), or, for linear
            regression, ``y`` is constant (R^2 is then undefined).
        """
        Xa = check_real_array(X, name="X")
        ya = check_real_array(y, name="y")
        if Xa.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {Xa.shape}")
        if ya.ndim != 1:
            raise ValueError(f"y must be 1-D (n_samples,), got shape {ya.shape}")
        if Xa.shape[0] == 0:
            raise ValueError("empty data (X has 0 rows)")
        if ya.shape[0] != Xa.shape[0]:
            raise ValueError(f"X has {Xa.shape[0]} rows but y has {ya.shape[0]}")
        p = self.predict(theta, Xa)
        if self.name == "linear":
            ss_res = float(np.sum((ya - p) ** 2))
            ss_tot = float(np.sum((ya - np.mean(ya)) ** 2))
            if ss_tot == 0.0:
                raise ValueError("y is constant: R^2 is undefined")
            return 1.0 - ss_res / ss_tot
        if self.binary:
            self.check_labels(ya)
            return float(np.mean((p >= 0.5) == (ya == 1)))
        self.check_labels(ya, n_classes=int(np.shape(p)[1]))
        return float(np.mean(np.argmax(p, axis=1) == ya))


LINEAR = Model("linear", mse_loss, mse_grad, linear_predict)
LOGISTIC = Model("logistic", logistic_loss, logistic_grad, logistic_predict, binary=True)
SOFTMAX = Model("softmax", softmax_loss, softmax_grad, softmax_predict)
