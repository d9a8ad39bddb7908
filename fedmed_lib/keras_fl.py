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

from fedmed_lib._validate import Params, check_update, client_label
from fedmed_lib.algorithms import ClientFn

if TYPE_CHECKING:  # pragma: no cover - keras is imported lazily (costs seconds)
    import keras

Images = NDArray[np.float32]


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
        If ``lr`` is not positive or a layer size is below 1.
    """
    import keras

    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if min(*filters, dense_units) < 1:
        raise ValueError(f"layer sizes must be at least 1, got {filters} and {dense_units}")

    def init(i: int) -> Any:
        return keras.initializers.GlorotUniform(seed=seed * 100 + i)

    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(filters[0], 3, activation="relu", kernel_initializer=init(0)),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(filters[1], 3, activation="relu", kernel_initializer=init(1)),
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
    return [np.array(w, dtype=np.float64) for w in model.get_weights()]


def set_params(model: keras.Model, params: Sequence[np.ndarray], *, client: int | str) -> None:
    """Load ``params`` into the model after checking their number, shapes and values.

    Introduced in :ref:`ch-medical-images`.

    Raises
    ------
    ValueError
        If the number of arrays or a shape differs from the model's weights, or an
        array holds NaN/Inf; the model is left unchanged.
    """
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
        Naming the client whose data is empty, mis-shaped, non-finite, or whose labels
        are not 0/1 or do not match the number of images.
    """
    if len(clients) == 0:
        raise ValueError("no clients: the list of client data sets is empty")
    out = []
    shape = None
    for k, item in enumerate(clients):
        who = client_label(k)
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"{who}: expected an (X, y) pair")
        X = np.asarray(item[0], dtype=np.float32)
        y = np.asarray(item[1], dtype=np.float32).reshape(-1)
        if X.ndim < 2 or X.shape[0] == 0:
            raise ValueError(f"{who}: empty data or no image axes (X has shape {X.shape})")
        if shape is None:
            shape = X.shape[1:]
        elif X.shape[1:] != shape:
            raise ValueError(f"{who}: images of shape {X.shape[1:]}, client 0 has {shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"{who}: {X.shape[0]} images but {y.shape[0]} labels")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{who}: X contains NaN or Inf")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"{who}: labels must be 0 or 1")
        out.append((X, y))
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
        If the data are malformed, ``local_epochs`` or ``batch_size`` is below 1; the
        returned function raises it for an unknown client or for ``params`` that do
        not fit the model (the global model is never modified).
    """
    data = check_image_clients(clients)
    if local_epochs < 1:
        raise ValueError(f"local_epochs must be at least 1, got {local_epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")

    def fit(
        cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        if not 0 <= cid < len(data):
            raise ValueError(f"{client_label(cid)} does not exist: clients are 0..{len(data) - 1}")
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
    """
    set_params(model, params, client="global model")
    p = model(np.asarray(X, dtype=np.float32), training=False)
    return np.asarray(p, dtype=np.float64).reshape(-1)
