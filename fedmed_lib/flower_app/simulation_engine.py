"""Run the book's Flower app on Flower's simulation engine: many virtual SuperNodes, one machine.

Flower's Simulation Runtime (Beutel et al., 2020) runs the *same* ``ClientApp`` and
``ServerApp`` as a deployment, but the SuperNodes are virtual: a SuperLink started
with ``--simulation`` hands every message to a pool of Ray workers (Moritz et al.,
"Ray: A Distributed Framework for Emerging AI Applications", OSDI 2018), one per
CPU core, which load the ``ClientApp`` once and call it for whichever virtual node
the message is addressed to. :class:`LocalSimulation` starts such a SuperLink on a
free port of 127.0.0.1 with a temporary ``FLWR_HOME`` and Ray's files in a
temporary folder, submits the app with ``flwr run ... --federation-config
"num-supernodes=N ..."`` and stops everything afterwards. Ray's and Flower's log
lines go to files in that folder, never to the caller's output.

:func:`run_flower_simulation` runs the scaling workload of
:mod:`fedmed_lib.flower_app.scaling_task` this way and returns the final model and
its timings, for ``tests/test_flower_sim.py`` and ``benchmarks/flower_sim.py``.
Introduced in :ref:`ch-flower`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedmed_lib._validate import check_int, check_positive, check_positive_int, check_seed
from fedmed_lib.flower_app.federation import FlowerRun, LocalFederation
from fedmed_lib.flower_app.processes import _executable, free_port
from fedmed_lib.flower_app.scaling_task import BATCH_SIZE, LR
from fedmed_lib.types import Params

RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # Ray's usage statistics: off (and no network)
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",  # silences Ray's FutureWarning on GPUs
    "RAY_DEDUP_LOGS": "0",
}
"""Environment of the simulation: Ray's usage reporting and GPU notice off."""

RAY_START_TIMEOUT = "timed out during startup"
"""Ray's message when its node did not register within 30 s; the run is then retried once."""


class LocalSimulation(LocalFederation):
    """A SuperLink in simulation mode on 127.0.0.1 (no real SuperNodes), as a context manager.

    Introduced in :ref:`ch-flower`.

    Parameters
    ----------
    num_supernodes
        Number of virtual SuperNodes; node ``k`` gets the node config
        ``partition-id = k``, ``num-partitions = num_supernodes`` from Flower.
    workdir
        Folder for ``FLWR_HOME``, the logs and the results; a new temporary folder
        (deleted on exit) if ``None``. Ray's files go to a short temporary folder
        (``ray_dir``, deleted on exit).
    num_cpus
        CPU cores Ray may use (one worker per core, each worker runs one
        ``ClientApp`` call at a time).

    Raises
    ------
    ValueError
        If ``num_supernodes`` or ``num_cpus`` is not a positive integer.
    """

    def __init__(
        self,
        *,
        num_supernodes: int,
        workdir: str | Path | None = None,
        num_cpus: int = 2,
    ) -> None:
        num_supernodes = check_positive_int(num_supernodes, name="num_supernodes")
        self.num_cpus = check_positive_int(num_cpus, name="num_cpus")
        super().__init__(num_partitions=num_supernodes, workdir=workdir)
        self.ray_dir: Path | None = None

    def ray_prefix(self) -> str:
        """Prefix of Ray's temporary folder (short: Ray's socket paths must fit 107 bytes)."""
        return f"fm-ray-{os.getpid()}-"

    def env(self) -> dict[str, str]:
        """Return the federation's environment plus Ray's settings and temporary folder."""
        env = super().env()
        env.update(RAY_ENV)
        if self.ray_dir is not None:
            env["RAY_TMPDIR"] = str(self.ray_dir)
        return env

    def superlink_args(self) -> list[str]:
        """``flower-superlink --simulation --insecure`` on this federation's port."""
        return [
            _executable("flower-superlink"), "--simulation", "--insecure",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--disable-runtime-dependency-installation",
        ]

    def federation_config(self) -> dict[str, Any]:
        """Return the ``--federation-config`` of every run: nodes, Ray resources, Ray's logging."""
        return {
            "num-supernodes": self.num_partitions,
            "client-resources-num-cpus": 1,
            "init-args-num-cpus": self.num_cpus,
            "init-args-logging-level": "error",
            "init-args-log-to-driver": False,
        }

    def start(self, timeout: float = 60.0) -> LocalSimulation:
        """Start the simulation SuperLink and wait until it listens."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ray_dir = Path(tempfile.mkdtemp(prefix=self.ray_prefix()))
        self.port = free_port()
        self._write_flower_config()
        self._spawn("superlink", self.superlink_args())
        self._wait_for_port(self.port, timeout)
        return self

    def run(
        self,
        run_config: dict[str, Any] | None = None,
        *,
        timeout: float = 600.0,
        **kwargs: Any,
    ) -> FlowerRun:
        """Submit the app to the virtual SuperNodes (see :meth:`LocalFederation.run`)."""
        return super().run(run_config, timeout=timeout,
                           federation_config=self.federation_config(), **kwargs)

    def close(self) -> None:
        """Stop the processes, delete Ray's temporary folder and our own temporary folder."""
        try:
            super().close()
        finally:
            if self.ray_dir is not None:
                shutil.rmtree(self.ray_dir, ignore_errors=True)

    def __enter__(self) -> LocalSimulation:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise


@dataclass
class SimulationResult:
    """What :func:`run_flower_simulation` measured. Introduced in :ref:`ch-flower`.

    Attributes
    ----------
    params
        The final global model ``[kernel (30, 1), bias (1,)]``.
    num_nodes
        Virtual SuperNodes the ServerApp saw.
    total_seconds
        Wall-clock time of the whole run: SuperLink start, ``flwr run``, Ray start,
        workers, all rounds, shutdown.
    round_seconds
        Duration of each round, from the ServerApp's clock.
    startup_seconds
        ``total_seconds`` minus the rounds.
    """

    params: Params
    num_nodes: int
    total_seconds: float
    round_seconds: list[float]
    startup_seconds: float


def run_flower_simulation(
    *,
    num_clients: int,
    num_rounds: int,
    local_epochs: int = 1,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    lr: float = LR,
    num_cpus: int = 2,
    workdir: str | Path | None = None,
) -> SimulationResult:
    """Run the scaling workload on Flower's simulation engine with ``num_clients`` virtual nodes.

    Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If an argument is out of range.
    RuntimeError
        If the run fails (the message holds Flower's log from its first traceback).
    """
    num_clients = check_positive_int(num_clients, name="num_clients")
    num_rounds = check_int(num_rounds, name="num_rounds", minimum=1)
    local_epochs = check_positive_int(local_epochs, name="local_epochs")
    batch_size = check_positive_int(batch_size, name="batch_size")
    seed = check_seed(seed)
    lr = check_positive(lr, name="lr")
    for attempt in range(2):  # Ray gives up after 30 s if its node starts slowly (busy CPU)
        t0 = time.perf_counter()
        with LocalSimulation(num_supernodes=num_clients, workdir=workdir,
                             num_cpus=num_cpus) as sim:
            run = sim.run({
                "workload": "scaling", "num-server-rounds": num_rounds, "lr": lr,
                "local-epochs": local_epochs, "batch-size": batch_size, "seed": seed,
            })
        total = time.perf_counter() - t0
        if run.result is not None or RAY_START_TIMEOUT not in run.log or attempt == 1:
            break
    if run.returncode != 0 or run.result is None:
        start = max(run.log.find("Traceback"), 0)  # the first error, not the last lines
        tail = run.log[start:start + 3000]
        raise RuntimeError(f"the Flower simulation failed (exit code {run.returncode}):\n{tail}")
    res = run.result
    ends = np.asarray(res["round_ends"], dtype=np.float64)
    rounds = np.diff(ends).tolist()
    params = [np.asarray(a, dtype=np.float64) for a in res["params"]]
    return SimulationResult(
        params=params, num_nodes=int(res["num_nodes"]), total_seconds=total,
        round_seconds=rounds, startup_seconds=total - float(sum(rounds)),
    )


