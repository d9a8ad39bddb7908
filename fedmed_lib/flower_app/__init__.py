"""FedMed's Flower app: the heart-disease federation of the book, deployed with Flower.

* :mod:`~fedmed_lib.flower_app.task`: what a hospital computes (numpy, no Flower);
* :mod:`~fedmed_lib.flower_app.client_app`: the ``ClientApp`` each hospital runs;
* :mod:`~fedmed_lib.flower_app.server_app`: the ``ServerApp`` the coordinating site runs;
* :mod:`~fedmed_lib.flower_app.federation`: start one SuperLink and one SuperNode per
  hospital on 127.0.0.1, run the app with ``flwr run``, stop everything.

The app's ``pyproject.toml`` (its Flower configuration) sits in this folder. Flower is
Beutel et al., "Flower: A Friendly Federated Learning Research Framework", 2020.
Introduced in :ref:`ch-flower`.
"""
