"""Privacy tools: secure aggregation, differential privacy and homomorphic encryption.

:mod:`.secagg` masks the updates, :mod:`.dp` clips and noises them, :mod:`.he`
encrypts them.

Federated learning keeps records in the hospital but not out of the updates
(:ref:`ch-gradient-leakage`); these modules add the protections of Part III.
"""
