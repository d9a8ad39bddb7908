"""FedMed's Flower app: the heart-disease federation of the book, deployed with Flower.

* :mod:`~fedmed_lib.flower_app.task`: what a hospital computes (numpy, no Flower);
* :mod:`~fedmed_lib.flower_app.client_app`: the ``ClientApp`` each hospital runs;
* :mod:`~fedmed_lib.flower_app.server_app`: the ``ServerApp`` the coordinating site runs;
* :mod:`~fedmed_lib.flower_app.federation`: start one SuperLink and one SuperNode per
  hospital on 127.0.0.1, run the app with ``flwr run``, stop everything.
* :mod:`~fedmed_lib.flower_app.processes`: free ports, Flower's commands, and the
  processes (and their children) that the federation starts and stops;
* :mod:`~fedmed_lib.flower_app.tls`: a certificate authority and a SuperLink
  certificate made locally, for the federation over TLS;
* :mod:`~fedmed_lib.flower_app.scaling_task`: the many-client workload of
  :ref:`ch-scaling` (no Flower), shared with ``benchmarks/``;
* :mod:`~fedmed_lib.flower_app.simulation_engine`: the same app on Flower's
  simulation engine (Ray) with many virtual SuperNodes.

The app's ``pyproject.toml`` (its Flower configuration) sits in this folder. Flower is
Beutel et al., "Flower: A Friendly Federated Learning Research Framework", 2020.
Introduced in :ref:`ch-flower`.
"""
