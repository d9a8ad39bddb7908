"""Gradient leakage: what the server can read from a hospital's gradient.

One job: attacks on what a hospital sends, its gradient. Three of them, each
introduced in :ref:`ch-gradient-leakage`:

* **Analytic recovery from a dense layer with bias.** For ``z = W x + b`` the
  gradient of any loss is ``dL/dW = delta x^T`` and ``dL/db = delta``, so a single
  record is ``x_j = (dL/dW_ij) / (dL/db_i)`` for any output ``i`` with
  ``dL/db_i != 0`` (Geiping et al., "Inverting Gradients -- How Easy Is It to
  Break Privacy in Federated Learning?", NeurIPS 2020).
* **Class-wise recovery from a softmax layer at zero.** At ``theta = 0`` every class
  probability is ``1/C``, so the gradient of a batch reveals the label counts and,
  when a class is absent, the sum of the records of every other class.
* **Deep Leakage from Gradients** (Zhu, Liu and Han, NeurIPS 2019): optimise a
  dummy record so that its gradient matches the observed one; with the label read
  from the sign of the output-bias gradient (Zhao, Mopuri and Bilen, "iDLG", 2020)
  it converges to the true record in a few dozen L-BFGS steps.

The numpy conventions are those of the book: a dense layer's gradient ``grad_W``
has one row per output unit and one column per input (``z = W x + b``); Keras
stores the transposed kernel, so pass ``kernel_grad.T``.

The attack on the trained model, membership inference by a loss threshold, is in
:mod:`fedmed_lib.membership`; its names are also importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fedmed_lib._validate import (
    InputTypeError,
    check_int,
    check_nonnegative,
    check_real_array,
    check_seed,
)
from fedmed_lib.membership import MembershipResult as MembershipResult
from fedmed_lib.membership import attack_auroc as attack_auroc
from fedmed_lib.membership import logistic_losses as logistic_losses
from fedmed_lib.membership import loss_threshold_attack as loss_threshold_attack
from fedmed_lib.types import Array


def _check_dense_gradient(grad_W: np.ndarray, grad_b: np.ndarray) -> tuple[Array, Array]:
    """Validate a dense layer's gradient pair and return float64 copies."""
    gW = check_real_array(grad_W, name="grad_W").copy()
    gb = check_real_array(grad_b, name="grad_b").copy()
    if gW.ndim != 2:
        raise ValueError(
            f"grad_W must be 2-D (n_outputs, n_inputs), got shape {gW.shape}"
        )
    if gW.size == 0:
        raise ValueError(f"grad_W is empty (shape {gW.shape})")
    if gb.shape != (gW.shape[0],):
        raise ValueError(
            f"grad_b must have one entry per row of grad_W: expected shape "
            f"({gW.shape[0]},), got {gb.shape} (is grad_W transposed?)"
        )
    return gW, gb


def recover_from_dense_gradient(
    grad_W: np.ndarray, grad_b: np.ndarray, *, row: int | None = None
) -> Array:
    """Recover the input of a dense layer from the gradient of its weights and bias.

    For one record, every row of ``grad_W`` equals ``grad_b[i] * x``, so
    ``x = grad_W[i] / grad_b[i]``. Introduced in :ref:`ch-gradient-leakage`.

    Parameters
    ----------
    grad_W
        Gradient of the loss with respect to the weights, shape ``(n_outputs, n_inputs)``.
    grad_b
        Gradient with respect to the bias, shape ``(n_outputs,)``.
    row
        Use this output unit only. By default all rows are combined by least squares,
        ``x = sum_i grad_b[i] grad_W[i] / sum_i grad_b[i]^2``, which is exact for one
        record and ignores units whose bias gradient is zero.

    Returns
    -------
    numpy.ndarray
        The recovered input, shape ``(n_inputs,)``. For a batch this is a mixture of
        the records, ``sum_n w_n x_n`` with weights ``w_n`` that sum to one.

    Raises
    ------
    ValueError
        If the shapes do not match, a gradient is not a finite real array, ``row`` is
        not an integer in range, or the bias gradient used is zero (nothing to divide
        by).
    """
    gW, gb = _check_dense_gradient(grad_W, grad_b)
    if row is not None:
        row = check_int(row, name="row")
        if not 0 <= row < gW.shape[0]:
            raise ValueError(f"row {row} is out of range for {gW.shape[0]} output units")
        if gb[row] == 0.0:
            raise ValueError(f"grad_b[{row}] is zero: this unit's gradient carries no record")
        return np.asarray(gW[row] / gb[row])
    denom = float(gb @ gb)
    if denom == 0.0:
        raise ValueError("grad_b is zero for every unit: the record cannot be recovered")
    return np.asarray(gb @ gW / denom)


def recover_class_means(
    grad_W: np.ndarray, grad_b: np.ndarray, num_examples: int
) -> tuple[NDArray[np.int64], Array]:
    """Recover label counts and per-class mean records from a softmax layer at zero.

    At ``theta = 0`` a softmax layer predicts ``1/C`` for every class, so for a batch
    of ``B = num_examples`` records the mean cross-entropy gradient is
    ``grad_b[i] = 1/C - c_i/B`` and ``grad_W[i] = (S/C - S_i)/B``, where ``c_i`` and
    ``S_i`` are the count and the sum of the records of class ``i`` and ``S`` the sum
    of all records. An absent class ``j`` gives ``S = C B grad_W[j]``; then
    ``S_i = B (grad_W[j] - grad_W[i])``. Introduced in :ref:`ch-gradient-leakage`.

    Parameters
    ----------
    grad_W
        Gradient with respect to the softmax weights, shape ``(n_classes, n_inputs)``.
    grad_b
        Gradient with respect to the softmax bias, shape ``(n_classes,)``.
    num_examples
        The batch size ``B`` (FedAvg sends it along with the update).

    Returns
    -------
    counts, means
        ``counts[i]`` is the number of records of class ``i``; ``means[i]`` is their
        mean record (NaN for absent classes). When all labels in the batch differ,
        every present class's mean *is* a record.

    Raises
    ------
    ValueError
        If the shapes are wrong, a gradient is not a finite real array,
        ``num_examples`` is not a positive integer, the counts are not whole numbers
        adding up to ``num_examples`` (the gradient was not taken at ``theta = 0``),
        or every class is present (then the sums are not identifiable).
    """
    gW, gb = _check_dense_gradient(grad_W, grad_b)
    num_examples = check_int(num_examples, name="num_examples")
    if num_examples <= 0:
        raise ValueError(f"num_examples must be positive, got {num_examples}")
    if num_examples > 2**52:
        raise ValueError(f"num_examples={num_examples} is too large to count in float64")
    n_classes = gW.shape[0]
    if n_classes < 2:
        raise ValueError(f"a softmax layer has at least 2 classes, grad_W has {n_classes} rows")
    counts_float = num_examples * (1.0 / n_classes - gb)
    if np.abs(counts_float).max() > 2**52:
        raise ValueError(
            "label counts are not whole numbers: was the gradient taken at theta = 0 "
            "with the mean softmax cross-entropy?"
        )
    counts = np.rint(counts_float).astype(np.int64)
    if (
        np.max(np.abs(counts_float - counts)) > 1e-6
        or counts.min() < 0
        or counts.sum() != num_examples
    ):
        raise ValueError(
            "label counts are not whole numbers: was the gradient taken at theta = 0 "
            "with the mean softmax cross-entropy?"
        )
    absent = np.flatnonzero(counts == 0)
    if absent.size == 0:
        raise ValueError(
            "every class is present in the batch: the class sums are not identifiable"
        )
    ref = gW[absent[0]]
    means = np.full_like(gW, np.nan)
    for i in np.flatnonzero(counts > 0):
        means[i] = num_examples * (ref - gW[i]) / counts[i]
    return counts, means


@dataclass
class InversionResult:
    """The outcome of :func:`dlg_attack`. Introduced in :ref:`ch-gradient-leakage`.

    Attributes
    ----------
    x
        The reconstructed record, shape ``(1, n_inputs)``.
    label_probs
        The label the attack used (one-hot if inferred, else the learned soft label).
    match_loss
        The gradient-matching objective after each iteration.
    error
        Relative reconstruction error ``||x - x_true|| / ||x_true||`` after each
        iteration (empty unless ``x_true`` was given).
    """

    x: Array
    label_probs: Array
    match_loss: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)


def dlg_attack(
    model: Any,
    observed_grads: Sequence[np.ndarray],
    *,
    infer_label: bool = True,
    num_iters: int = 200,
    init_scale: float = 0.1,
    seed: int = 0,
    x_true: np.ndarray | None = None,
) -> InversionResult:
    """Reconstruct one record from its gradient by gradient matching (DLG / iDLG).

    Minimises ``sum_l ||grad_l(x', y') - observed_grads_l||^2`` over a dummy record
    ``x'`` (and, unless ``infer_label``, soft label logits ``y'``) with L-BFGS; the
    gradients are those of the mean softmax cross-entropy of the logits
    ``model(x')``, taken by ``tf.GradientTape`` (nested, to differentiate the
    gradient itself). Introduced in :ref:`ch-gradient-leakage`.

    Parameters
    ----------
    model
        A float64 Keras model mapping ``(1, n_inputs)`` to class logits; its last
        trainable variable must be the output bias.
    observed_grads
        The gradient the hospital sent, one array per ``model.trainable_variables``.
    infer_label
        Read the label from the output-bias gradient (iDLG: the only negative entry of
        ``p - onehot(y)``) instead of learning a soft label (original DLG).
    num_iters
        Maximum number of L-BFGS iterations.
    init_scale
        Standard deviation of the random dummy record (and label logits).
    seed
        Seed of the dummy initialisation.
    x_true
        The true record, only to record the reconstruction error per iteration.

    Returns
    -------
    InversionResult
        The reconstruction and the per-iteration histories.

    Raises
    ------
    ValueError
        If ``observed_grads`` does not match the model's variables (count, shape, dtype
        of the model) or is not finite real data, ``num_iters`` is not a positive
        integer, ``init_scale`` is not a number >= 0, ``seed`` is not a non-negative
        integer, or ``x_true`` is malformed, all zero or of the wrong size. The cheap
        checks run before TensorFlow is imported.
    """
    if not isinstance(infer_label, bool):
        raise InputTypeError(f"infer_label must be True or False, got {infer_label!r}")
    num_iters = check_int(num_iters, name="num_iters")
    if num_iters <= 0:
        raise ValueError(f"num_iters must be a positive integer, got {num_iters!r}")
    init_scale = check_nonnegative(init_scale, name="init_scale")
    seed = check_seed(seed)
    if (
        observed_grads is None
        or isinstance(observed_grads, str | bytes | np.ndarray)
        or not isinstance(observed_grads, Sequence)
    ):
        raise InputTypeError(
            "observed_grads must be a list of arrays (one per trainable variable), got "
            f"{type(observed_grads).__name__}"
        )
    grads = [check_real_array(g, name=f"observed_grads[{i}]") for i, g in enumerate(observed_grads)]
    x_ref = None
    if x_true is not None:
        x_ref = check_real_array(x_true, name="x_true").reshape(-1)
        if not np.any(x_ref):
            raise ValueError("x_true is all zeros: the relative error divides by its norm")
    variables = getattr(model, "trainable_variables", None)
    if variables is None or not hasattr(model, "inputs"):
        raise InputTypeError(f"model must be a Keras model, got {type(model).__name__}")
    variables = list(variables)

    import tensorflow as tf
    from scipy.optimize import minimize

    if len(grads) != len(variables):
        raise ValueError(
            f"observed_grads has {len(grads)} arrays, the model has "
            f"{len(variables)} trainable variables"
        )
    if any(v.dtype != tf.float64 for v in variables):
        raise ValueError("the model must be float64 (build its layers with dtype='float64')")
    obs = []
    for i, (a, v) in enumerate(zip(grads, variables, strict=True)):
        if a.shape != tuple(v.shape):
            raise ValueError(
                f"observed_grads[{i}] ({v.name}) has shape {a.shape}, expected {tuple(v.shape)}"
            )
        obs.append(tf.constant(a))
    n_inputs = int(model.inputs[0].shape[-1])
    n_classes = int(variables[-1].shape[0])
    if x_ref is not None and x_ref.size != n_inputs:
        raise ValueError(f"x_true has {x_ref.size} entries, the model takes {n_inputs}")

    label = np.zeros(n_classes)
    label[int(np.argmin(obs[-1].numpy()))] = 1.0
    fixed_label = tf.constant(label[None, :])

    def record_grads(x: Any, y_soft: Any) -> list[Any]:
        with tf.GradientTape() as tape:
            logits = model(x)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y_soft, logits))
        return list(tape.gradient(loss, variables))

    @tf.function
    def value_and_grad(z: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as outer:
            outer.watch(z)
            x = tf.reshape(z[:n_inputs], (1, n_inputs))
            if infer_label:
                y_soft = fixed_label
            else:
                y_soft = tf.nn.softmax(tf.reshape(z[n_inputs:], (1, n_classes)))
            grads = record_grads(x, y_soft)
            pairs = zip(grads, obs, strict=True)
            match = tf.add_n([tf.reduce_sum((g - o) ** 2) for g, o in pairs])
        return match, outer.gradient(match, z)

    def fun(z: np.ndarray) -> tuple[float, Array]:
        m, dz = value_and_grad(tf.constant(z))
        return float(m), np.asarray(dz.numpy(), dtype=np.float64)

    rng = np.random.default_rng(seed)
    size = n_inputs if infer_label else n_inputs + n_classes
    z0 = init_scale * rng.standard_normal(size)
    result = InversionResult(x=np.empty((1, n_inputs)), label_probs=label[None, :])

    def callback(z: np.ndarray) -> None:
        result.match_loss.append(fun(z)[0])
        if x_ref is not None:
            err = np.linalg.norm(z[:n_inputs] - x_ref) / np.linalg.norm(x_ref)
            result.error.append(float(err))

    opt = minimize(
        fun, z0, jac=True, method="L-BFGS-B", callback=callback,
        options={"maxiter": num_iters, "gtol": 0.0, "ftol": 0.0},
    )
    z = np.asarray(opt.x, dtype=np.float64)
    result.x = z[:n_inputs].reshape(1, n_inputs)
    if not infer_label:
        logits = z[n_inputs:]
        e = np.exp(logits - logits.max())
        result.label_probs = (e / e.sum())[None, :]
    return result
