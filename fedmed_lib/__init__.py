"""FedMed helper library: the small, tested code behind *FedMed: Federated Learning for Healthcare*.

Every function here is first written from scratch in a chapter of the book; the
library version is what later chapters import. Importing ``fedmed_lib`` before
TensorFlow keeps TensorFlow's C++ start-up log lines (oneDNN, absl) out of the
notebooks' outputs.
"""

from __future__ import annotations

import os as _os

# Quiet TensorFlow's C++ logging *before* TensorFlow is imported anywhere.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
_os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
__all__ = ["__version__"]
