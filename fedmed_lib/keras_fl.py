"""FedAvg for Keras models: a small CNN and a client function over Keras weights.

A Keras model's parameters are ``model.get_weights()``, a list of numpy arrays
(kernels and biases, layer by layer): exactly the book's ``Params`` (Flower's
``NDArrays``). A client therefore sets the global weights, runs ``local_epochs``
epochs of minibatch SGD with ``model.fit`` on its own images, and returns the
change of every array with its number of examples; the server averages the
changes array by array with weights ``n_k / n`` (McMahan et al., "Communication-
Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017), with
:func:`fedmed_lib.aggregate.weighted_average`. :func:`keras_client_fn` plugs a
Keras model into :func:`fedmed_lib.simulation.run_simulation` and
:class:`fedmed_lib.algorithms.FedAvg`. Used on BreastMNIST (Yang et al., 2023;
Al-Dhabyani et al., 2020) in :ref:`ch-medical-images`.

The minibatch order comes from the ``rng`` that :func:`run_simulation` gives each
client, and the initial weights from the ``seed`` of :func:`build_cnn`; for
bitwise-reproducible runs the caller also enables TensorFlow's deterministic ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    check_int,
    check_list,
    check_positive,
    check_positive_int,
    check_seed,
    check_update,
    client_label,
)
from fedmed_lib.types import ClientFn, Params

if TYPE_CHECKING:  # pragma: no cover - keras is imported lazily (costs seconds)
    import keras

Images = NDArray[np.float32]


def _int_tuple(value: object, *, name: str, length: int) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or len(value) != length:
        raise InputTypeError(f"{name} must be a tuple of {length} integers, got {value!r}")
    return tuple(check_int(v, name=name) for v in value)


def _check_model(model: object) -> None:
    if not (hasattr(model, "get_weights") and hasattr(model, "set_weights")):
        raise InputTypeError(f"model must be a Keras model, got {type(model).__name__}")


def build_cnn(
    *,
    seed: int,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    filters: tuple[int, int] = (8, 16),
    dense_units: int = 32,
    lr: float = 0.05,
) -> keras.Model:
    """Build and compile a small CNN for binary image classification.

    ``Conv(filters[0], 3x3, ReLU) - MaxPool(2) - Conv(filters[1], 3x3, ReLU) -
    MaxPool(2) - Dense(dense_units, ReLU) - Dense(1, sigmoid)``, binary cross-entropy,
    plain SGD (no momentum, so the optimiser keeps no state between clients).
    Every initialiser is seeded from ``seed``; no global seed is set. Introduced in
    :ref:`ch-medical-images`.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer, ``lr`` is not a positive number,
        ``input_shape`` is not three positive integers, or a layer size is not an
        integer >= 1. These checks run before Keras is imported.
    """
    seed = check_seed(seed)
    lr = check_positive(lr, name="lr")
    shape_in = _int_tuple(input_shape, name="input_shape", length=3)
    sizes = _int_tuple(filters, name="filters", length=2)
    dense_units = check_int(dense_units, name="dense_units")
    if min(*sizes, dense_units) < 1:
        raise ValueError(f"layer sizes must be at least 1, got {filters} and {dense_units}")
    if min(shape_in) < 1:
        raise ValueError(f"input_shape must be positive sizes, got {input_shape}")

    import keras

    def init(i: int) -> Any:
        return keras.initializers.GlorotUniform(seed=seed * 100 + i)

    model = keras.Sequential(
        [
            keras.Input(shape_in),
            keras.layers.Conv2D(sizes[0], 3, activation="relu", kernel_initializer=init(0)),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(sizes[1], 3, activation="relu", kernel_initializer=init(1)),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(dense_units, activation="relu", kernel_initializer=init(2)),
            keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init(3)),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="binary_crossentropy")
    return model


def get_params(model: keras.Model) -> Params:
    """Return a float64 copy of the model's weights (the book's ``Params``).

    Introduced in :ref:`ch-medical-images`.
    """
    _check_model(model)
    return [np.array(w, dtype=np.float64) for w in model.get_weights()]


def set_params(model: keras.Model, params: Sequence[np.ndarray], *, client: int | str) -> None:
    """Load ``params`` into the model after checking their number, shapes and values.

    Introduced in :ref:`ch-medical-images`.

    Raises
    ------
    ValueError
        If the number of arrays or a shape differs from the model's weights, or an
        array holds NaN/Inf or is not real numeric data; the model is left unchanged.
    """
    _check_model(model)
    checked = check_update(params, model.get_weights(), client=client)
    model.set_weights([a.astype(np.float32) for a in checked])


def check_image_clients(
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[Images, Images]]:
    """Validate ``(X, y)`` image data sets: non-empty, same image shape, finite, labels 0/1.

    Returns float32 copies. Introduced in :ref:`ch-medical-images`.

    Raises
    ------
    ValueError
        Naming the client whose data is empty, mis-shaped, non-finite, not real
        numeric data, or whose labels are not a 1-D array of 0/1 with one per image.
    """
    check_list(clients, what="clients must be a list of (X, y) pairs")
    if len(clients) == 0:
        raise ValueError("no clients: the list of client data sets is empty")
    out = []
    shape = None
    for k, item in enumerate(clients):
        who = client_label(k)
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"{who}: expected an (X, y) pair")
        X = _images(item[0], name=f"{who}: X")
        y = _images(item[1], name=f"{who}: y")
        if X.ndim < 2 or X.shape[0] == 0:
            raise ValueError(f"{who}: empty data or no image axes (X has shape {X.shape})")
        if shape is None:
            shape = X.shape[1:]
        elif X.shape[1:] != shape:
            raise ValueError(f"{who}: images of shape {X.shape[1:]}, client 0 has {shape}")
        if y.ndim != 1:
            raise ValueError(f"{who}: y must be 1-D (n_images,), got shape {y.shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"{who}: {X.shape[0]} images but {y.shape[0]} labels")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{who}: X contains NaN or Inf")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"{who}: labels must be 0 or 1")
        out.append((X, y))
    return out


def _images(value: object, *, name: str) -> Images:
    """Return a real numeric array as float32 (refusing None, str, bool, complex, object)."""
    if value is None or isinstance(value, str | bytes):
        raise InputTypeError(f"{name} must be a numeric array, got {type(value).__name__}")
    try:
        a = np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{name} is not a rectangular numeric array ({err})") from err
    if a.dtype == np.bool_ or not (
        np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    ):
        raise InputTypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    with np.errstate(over="ignore"):
        out = a.astype(np.float32)
    if np.isinf(out).any() and not np.isinf(a).any():
        raise ValueError(f"{name} has values too large for float32")
    return out


def keras_client_fn(
    model: keras.Model,
    clients: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    local_epochs: int = 1,
    batch_size: int = 32,
    shuffle: bool = True,
) -> ClientFn:
    """Build a FedAvg client function that trains a Keras model on one client's images.

    The returned ``f(client_id, params, server_round, rng)`` loads ``params`` into
    ``model``, runs ``local_epochs`` epochs of ``model.fit`` (minibatches of
    ``batch_size`` in an order drawn from ``rng`` when ``shuffle``, else in data
    order) and returns ``(new_weights - params, num_examples)``, the update that
    :class:`fedmed_lib.algorithms.FedAvg` averages. One model object serves all
    clients in turn; use an optimiser without state (plain SGD, as in
    :func:`build_cnn`). Introduced in :ref:`ch-medical-images`.

    Parameters
    ----------
    model
        A compiled Keras model.
    clients
        One ``(X, y)`` per client: images ``(n, ...)`` and 0/1 labels.
    local_epochs, batch_size
        ``E`` and ``B`` of FedAvg.
    shuffle
        Draw a new minibatch order from ``rng`` at every epoch.

    Raises
    ------
    ValueError
        If the data are malformed (naming the client), ``local_epochs`` or
        ``batch_size`` is not an integer >= 1, or ``shuffle`` is not a bool; the
        returned function raises it for an unknown or non-integer client, a bad
        ``server_round`` or ``rng``, or ``params`` that do not fit the model (the
        global model is never modified).
    """
    _check_model(model)
    data = check_image_clients(clients)
    local_epochs = check_positive_int(local_epochs, name="local_epochs")
    batch_size = check_positive_int(batch_size, name="batch_size")
    if not isinstance(shuffle, bool):
        raise InputTypeError(f"shuffle must be True or False, got {shuffle!r}")

    def fit(
        cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        cid = check_int(cid, name="cid")
        if not 0 <= cid < len(data):
            raise ValueError(f"{client_label(cid)} does not exist: clients are 0..{len(data) - 1}")
        check_int(server_round, name="server_round", minimum=0)
        if not isinstance(rng, np.random.Generator):
            raise InputTypeError(
                f"{client_label(cid)}: rng must be a numpy Generator, got {type(rng).__name__}"
            )
        start = check_update(params, model.get_weights(), client=cid)
        set_params(model, start, client=cid)
        X, y = data[cid]
        for _ in range(local_epochs):
            order = rng.permutation(len(y)) if shuffle else np.arange(len(y))
            model.fit(X[order], y[order], batch_size=batch_size, epochs=1, shuffle=False,
                      verbose=0)
        new = get_params(model)
        return [n - s for n, s in zip(new, start, strict=True)], int(len(y))

    return fit


def predict_proba(
    model: keras.Model, params: Sequence[np.ndarray], X: np.ndarray
) -> NDArray[np.float64]:
    """Return the model's probability of class 1 for every image, with weights ``params``.

    Introduced in :ref:`ch-medical-images`.

    Raises
    ------
    ValueError
        If ``params`` do not fit the model, or ``X`` is not a finite real array of
        images ``(n, ...)``; the model's weights are left unchanged.
    """
    images = _images(X, name="X")
    if images.ndim < 2 or images.shape[0] == 0:
        raise ValueError(f"X must hold at least one image, got shape {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("X contains NaN or Inf")
    set_params(model, params, client="global model")
    p = model(images, training=False)
    return np.asarray(p, dtype=np.float64).reshape(-1)
