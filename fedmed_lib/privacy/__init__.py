"""Privacy tools: secure aggregation (:mod:`.secagg`) and differential privacy (:mod:`.dp`).

Federated learning keeps records in the hospital but not out of the updates
(:ref:`ch-gradient-leakage`); these modules add the protections of Part III.
"""
