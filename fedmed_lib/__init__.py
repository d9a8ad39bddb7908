"""FedMed helper library: the small, tested code behind *FedMed: Federated Learning for Healthcare*.

Every function here is first written from scratch in a chapter of the book; the
library version is what later chapters import. Importing ``fedmed_lib`` changes
nothing in the process: no environment variables, no global seeds, no logging
settings (a chapter that imports TensorFlow sets ``TF_CPP_MIN_LOG_LEVEL`` itself,
visibly, in its setup cell).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
