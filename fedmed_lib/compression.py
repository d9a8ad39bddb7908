"""Update compression for a client on a slow link: compressed uploads with error feedback.

One job: make a client send its model update compressed. A hospital on a slow link
uploads its update every round; :class:`CompressedClient` wraps its client function,
compresses each array of the update with a compressor of
:mod:`fedmed_lib.update_codecs` (8-bit quantisation, QSGD, Alistarh et al., NeurIPS
2017; or top-k sparsification), counts the exact bytes sent and hands the server the
decoded update. *Error feedback* keeps what compression dropped and adds it to the
next round's update, so nothing is lost for good. The messages, their encoders and
decoders and :func:`~fedmed_lib.update_codecs.payload_bytes` are defined in
:mod:`fedmed_lib.update_codecs` and importable from here. Introduced in
:ref:`ch-limited-resources`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedmed_lib._validate import (
    InputTypeError,
    check_int,
    check_num_examples,
    check_params,
    check_update,
    client_label,
)
from fedmed_lib.types import ClientFn, Params
from fedmed_lib.update_codecs import LEVELS as LEVELS
from fedmed_lib.update_codecs import SCALE_BYTES as SCALE_BYTES
from fedmed_lib.update_codecs import Compressor as Compressor
from fedmed_lib.update_codecs import Message as Message
from fedmed_lib.update_codecs import Quantized as Quantized
from fedmed_lib.update_codecs import Sparse as Sparse
from fedmed_lib.update_codecs import _check_rng
from fedmed_lib.update_codecs import decode as decode
from fedmed_lib.update_codecs import densify as densify
from fedmed_lib.update_codecs import dequantize as dequantize
from fedmed_lib.update_codecs import payload_bytes as payload_bytes
from fedmed_lib.update_codecs import quantize_8bit as quantize_8bit
from fedmed_lib.update_codecs import topk_compressor as topk_compressor
from fedmed_lib.update_codecs import topk_sparsify as topk_sparsify


@dataclass
class CompressedClient:
    """Wrap a client function so that its update travels compressed.

    Calling the wrapper runs the client, compresses each array of its update
    (plus the residual kept from earlier rounds when ``error_feedback`` is on),
    records the exact bytes sent, and returns the *decoded* update, which is what
    the server receives. Use it as ``client_fn`` of
    :func:`fedmed_lib.simulation.run_simulation`. Introduced in
    :ref:`ch-limited-resources`.

    Attributes
    ----------
    client_fn
        The wrapped client function.
    compressor
        E.g. :func:`~fedmed_lib.update_codecs.quantize_8bit` or ``topk_compressor(0.1)``.
    error_feedback
        Keep ``update - decoded`` per client and add it to its next update.
    bytes_per_round
        ``server_round -> total bytes uploaded`` (filled as clients run).
    """

    client_fn: ClientFn
    compressor: Compressor
    error_feedback: bool = False
    bytes_per_round: dict[int, int] = field(default_factory=dict)
    residuals: dict[int, Params] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the wrapped functions and the flag."""
        if not callable(self.client_fn):
            raise InputTypeError(
                f"client_fn must be a client function, got {type(self.client_fn).__name__}"
            )
        if not callable(self.compressor):
            raise InputTypeError(
                "compressor must be a function such as quantize_8bit or topk_compressor(0.1), "
                f"got {type(self.compressor).__name__}"
            )
        if not isinstance(self.error_feedback, bool):
            raise InputTypeError(
                f"error_feedback must be True or False, got {self.error_feedback!r}"
            )

    def __call__(
        self, cid: int, params: Params, server_round: int, rng: np.random.Generator
    ) -> tuple[Params, int]:
        """Train client ``cid``, compress its update and return the decoded update.

        Raises
        ------
        ValueError
            If ``cid`` or ``server_round`` is not a non-negative integer, ``params``
            is not a list of finite real arrays, ``rng`` is not a numpy
            ``Generator``, or the client's update or ``num_examples`` is malformed,
            or the compressor returns a message of another shape (naming the
            client). On any error ``residuals`` and ``bytes_per_round`` are left
            unchanged.
        """
        cid = check_int(cid, name="cid", minimum=0)
        server_round = check_int(server_round, name="server_round", minimum=0)
        reference = check_params(params)
        _check_rng(rng)
        who = client_label(cid)
        update, n = self.client_fn(cid, reference, server_round, rng)
        checked = check_update(update, reference, client=cid)
        n = check_num_examples(n, client=cid)
        residual = self.residuals.get(cid) if self.error_feedback else None
        if residual is not None and [np.shape(r) for r in residual] != [
            a.shape for a in checked
        ]:
            raise ValueError(
                f"{who}: the model's shapes changed since the last round; the error-feedback "
                "memory does not fit (start a new CompressedClient)"
            )
        decoded: Params = []
        new_residual: Params = []
        sent = 0
        for i, a in enumerate(checked):
            if residual is not None:
                a = a + residual[i]
            msg = self.compressor(a)
            if not isinstance(msg, Quantized | Sparse):
                raise InputTypeError(
                    f"{who}: the compressor returned a {type(msg).__name__}, expected a "
                    "Quantized or Sparse message"
                )
            d = decode(msg)
            if d.shape != a.shape:
                raise ValueError(
                    f"{who}: array {i} comes back from the compressor with shape {d.shape}, "
                    f"expected {a.shape}"
                )
            sent += payload_bytes(msg)
            decoded.append(d)
            new_residual.append(a - d)
        if self.error_feedback:
            self.residuals[cid] = new_residual
        self.bytes_per_round[server_round] = self.bytes_per_round.get(server_round, 0) + sent
        return decoded, n

    @property
    def total_bytes(self) -> int:
        """All bytes uploaded so far."""
        return sum(self.bytes_per_round.values())
