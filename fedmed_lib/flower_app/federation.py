"""Start and stop a real Flower federation on this machine (127.0.0.1).

A Flower deployment (Beutel et al., 2020) has one SuperLink, run by the
coordinating site, and one SuperNode per hospital; ``flwr run`` sends an app to
the SuperLink, which starts the ServerApp, and each SuperNode starts the
ClientApp. :class:`LocalFederation` runs all of them as separate processes on
the loopback interface, on free ports, with ``FLWR_HOME`` in a temporary folder
and telemetry and update checks off, and stops every process it started (and
their children) when it exits, also after an error. With ``tls=True`` it first
makes a certificate authority and a SuperLink certificate
(:mod:`fedmed_lib.flower_app.tls`) and every connection is TLS (RFC 8446): the
SuperLink serves its certificate, and the SuperNodes and ``flwr`` verify it
against the CA. Introduced in :ref:`ch-flower`.

One job: the lifecycle of the federation (start, run the app, stop). Finding free
ports and commands and following processes and their children is
:mod:`fedmed_lib.flower_app.processes`; those names are also importable from here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from fedmed_lib.flower_app.processes import _executable, _signal
from fedmed_lib.flower_app.processes import descendants as descendants
from fedmed_lib.flower_app.processes import free_port as free_port
from fedmed_lib.flower_app.processes import is_running as is_running
from fedmed_lib.flower_app.tls import TLSFiles, write_certificates, write_supernode_keys

APP_DIR = Path(__file__).resolve().parent
"""The Flower app folder (holds the app's ``pyproject.toml``)."""

CONNECTION = "fedmed-local"
"""Name of the SuperLink connection written to ``$FLWR_HOME/config.toml``."""


def _toml(value: Any) -> str:
    """Write a value as TOML does (``true``/``false`` for booleans, JSON otherwise)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


@dataclass
class FlowerRun:
    """The outcome of ``flwr run``: its exit code, its streamed log, the app's results.

    Introduced in :ref:`ch-flower`.

    Attributes
    ----------
    returncode
        Exit code of ``flwr run``.
    log
        Everything ``flwr run --stream`` printed (the ServerApp's log).
    result
        The JSON the ServerApp wrote to ``result-path`` (``None`` if it wrote nothing).
    seconds
        Wall-clock duration of the run.
    """

    returncode: int
    log: str
    result: dict[str, Any] | None
    seconds: float


class LocalFederation:
    """One SuperLink and ``num_partitions`` SuperNodes on 127.0.0.1, as a context manager.

    Introduced in :ref:`ch-flower`.

    Parameters
    ----------
    num_partitions
        Number of hospitals; SuperNode ``k`` gets ``--node-config
        "partition-id=k num-partitions=N"``.
    workdir
        Folder for ``FLWR_HOME``, the process logs and the results; a new temporary
        folder (deleted on exit) if ``None``.
    data_dir
        Passed to each SuperNode as the ``data-dir`` node config.
    tls
        Serve TLS with a CA and certificate made in ``workdir/certs`` instead of
        ``--insecure`` (the files are in ``tls_files`` after :meth:`start`).
    supernode_auth
        SuperNode authentication (requires ``tls``): the SuperLink runs with
        ``--enable-supernode-auth``, each hospital's public key is registered with
        ``flwr supernode register`` and each SuperNode signs with its private key.

    Raises
    ------
    ValueError
        If ``num_partitions`` is below 1.

    Examples
    --------
    >>> with LocalFederation(num_partitions=2) as fed:  # doctest: +SKIP
    ...     run = fed.run({"num-server-rounds": 2})
    """

    def __init__(
        self,
        *,
        num_partitions: int,
        workdir: str | Path | None = None,
        data_dir: str | Path | None = None,
        tls: bool = False,
        supernode_auth: bool = False,
    ) -> None:
        if num_partitions < 1:
            raise ValueError(f"num_partitions must be at least 1, got {num_partitions}")
        self.num_partitions = num_partitions
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp())
        self.data_dir = data_dir
        if supernode_auth and not tls:
            raise ValueError("supernode_auth=True needs tls=True (Flower requires TLS for it)")
        self.tls = bool(tls)
        self.supernode_auth = bool(supernode_auth)
        self.tls_files: TLSFiles | None = None
        self.port = 0
        self.node_ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []
        self._logs: list[IO[bytes]] = []

    # --- environment ------------------------------------------------------------------

    @property
    def flwr_home(self) -> Path:
        """The temporary ``FLWR_HOME`` of this federation."""
        return self.workdir / "flwr_home"

    def env(self) -> dict[str, str]:
        """Environment of every process: temporary ``FLWR_HOME``, no telemetry or update check.

        The folder of the running Python comes first on ``PATH``: the SuperLink and
        the SuperNodes start Flower's ``flower-superexec`` from there.
        """
        env = dict(os.environ)
        # the SuperLink and SuperNodes start `flower-superexec` from PATH
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env.update(
            FLWR_HOME=str(self.flwr_home),
            FLWR_TELEMETRY_ENABLED="0",
            FLWR_DISABLE_UPDATE_CHECK="1",
            # SuperExecs look for new work every second by default; a local demo can be quicker
            FLWR_SUPEREXEC_TASK_POLL_INTERVAL="0.1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def _write_flower_config(self) -> None:
        self.flwr_home.mkdir(parents=True, exist_ok=True)
        if self.tls_files is not None:  # the flwr command verifies the SuperLink too
            security = f'root-certificates = "{self.tls_files.ca_cert.resolve()}"\n'
        else:
            security = "insecure = true\n"
        (self.flwr_home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f"[superlink.{CONNECTION}]\n"
            f'address = "127.0.0.1:{self.port}"\n' + security,
            encoding="utf-8",
        )

    def superlink_args(self) -> list[str]:
        """Return the ``flower-superlink`` command line (TLS files or ``--insecure``)."""
        if self.tls_files is not None:
            security = [
                "--ssl-ca-certfile", str(self.tls_files.ca_cert),
                "--ssl-certfile", str(self.tls_files.server_cert),
                "--ssl-keyfile", str(self.tls_files.server_key),
            ]
        else:
            security = ["--insecure"]
        return [
            _executable("flower-superlink"), *security,
            *(["--enable-supernode-auth"] if self.supernode_auth else []),
            "--host", "127.0.0.1",
            "--port", str(self.port), "--disable-runtime-dependency-installation",
        ]

    def start_supernode(
        self,
        partition_id: int,
        *,
        name: str | None = None,
        root_certificates: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> subprocess.Popen[bytes]:
        """Start one SuperNode for hospital ``partition_id`` and return its process.

        It trusts ``root_certificates`` (default: the federation's CA when ``tls``
        is on; ``--insecure`` otherwise). Its output goes to ``<name>.log``
        (``name`` defaults to ``supernode<partition_id>``).

        Raises
        ------
        RuntimeError
            If the SuperLink is not started.
        """
        if not self.processes:
            raise RuntimeError("start the federation first (use it in a with block)")
        node_port = free_port()
        self.node_ports.append(node_port)
        node_config = f"partition-id={partition_id} num-partitions={self.num_partitions}"
        if self.data_dir is not None:
            node_config += f' data-dir="{Path(self.data_dir).resolve()}"'
        if self.supernode_auth and "--auth-supernode-private-key" not in extra_args:
            private, _ = self.register_supernode(name or f"supernode{partition_id}")
            extra_args = (*extra_args, "--auth-supernode-private-key", str(private))
        if root_certificates is None and self.tls_files is not None:
            root_certificates = self.tls_files.ca_cert
        security = (
            ["--root-certificates", str(root_certificates)]
            if root_certificates is not None else ["--insecure"]
        )
        return self._spawn(
            name or f"supernode{partition_id}",
            [
                _executable("flower-supernode"), *security,
                "--superlink", f"127.0.0.1:{self.port}",
                "--host", "127.0.0.1", "--port", str(node_port),
                "--node-config", node_config, *extra_args,
            ],
        )

    def register_supernode(self, name: str, *, register: bool = True) -> tuple[Path, Path]:
        """Make a key pair for SuperNode ``name`` and register its public key (``flwr``).

        With ``register=False`` the keys are made but not registered: a SuperNode that
        signs with them is refused. Returns ``(private_key, public_key)`` paths.

        Raises
        ------
        RuntimeError
            If ``flwr supernode register`` fails.
        """
        private, public = write_supernode_keys(self.workdir / "keys", name)
        if register:
            done = subprocess.run(
                [_executable("flwr"), "supernode", "register", str(public), CONNECTION],
                capture_output=True, text=True, env=self.env(), cwd=self.workdir,
                timeout=120, check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"flwr supernode register failed: {done.stdout}{done.stderr}")
        return private, public

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        self._logs.append(log)
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env(), cwd=self.workdir,
        )
        self.processes.append(proc)
        self.names.append(name)
        return proc

    def _wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[0].poll() is not None:
                raise RuntimeError(f"a Flower process exited early; see the logs in {self.workdir}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")

    # --- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalFederation:
        """Start the SuperLink, wait until it listens, then start one SuperNode per hospital."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.tls:
            self.tls_files = write_certificates(self.workdir / "certs")
        self.port = free_port()
        self._write_flower_config()
        self._spawn("superlink", self.superlink_args())
        self._wait_for_port(self.port, timeout)
        for k in range(self.num_partitions):
            self.start_supernode(k)
        return self

    def run(
        self,
        run_config: dict[str, Any] | None = None,
        *,
        app_dir: str | Path = APP_DIR,
        timeout: float = 240.0,
        federation_config: dict[str, Any] | None = None,
    ) -> FlowerRun:
        """Submit the app with ``flwr run <app> <connection> --stream`` and wait for it.

        ``num-partitions`` and ``result-path`` are added to ``run_config``;
        ``federation_config`` (e.g. ``{"num-supernodes": 100}`` for a SuperLink in
        simulation mode) is passed as ``--federation-config``.

        Raises
        ------
        RuntimeError
            If the federation is not started.
        subprocess.TimeoutExpired
            If the run takes longer than ``timeout`` seconds.
        """
        if not self.processes:
            raise RuntimeError("start the federation first (use it in a with block)")
        result_path = self.workdir / f"result_{time.monotonic_ns()}.json"
        config = {"num-partitions": self.num_partitions, **(run_config or {})}
        config["result-path"] = str(result_path)
        overrides = " ".join(f"{k}={_toml(v)}" for k, v in config.items())
        args = [_executable("flwr"), "run", str(app_dir), CONNECTION, "--stream",
                "--run-config", overrides]
        if federation_config:
            args += ["--federation-config",
                     " ".join(f"{k}={_toml(v)}" for k, v in federation_config.items())]
        t0 = time.perf_counter()
        done = subprocess.run(
            args,
            capture_output=True, text=True, env=self.env(), cwd=self.workdir, timeout=timeout,
            check=False,
        )
        seconds = time.perf_counter() - t0
        (self.workdir / "flwr_run.log").write_text(done.stdout + done.stderr, encoding="utf-8")
        result = None
        if result_path.exists():
            result = json.loads(result_path.read_text(encoding="utf-8"))
        return FlowerRun(done.returncode, done.stdout + done.stderr, result, seconds)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every process this federation started, and their children.

        SuperNodes first, then the SuperLink; SIGTERM, then SIGKILL after ``timeout``.
        """
        for proc in reversed(self.processes):
            kids = descendants(proc.pid)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
            for pid in kids:
                _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while any(is_running(pid) for pid in kids) and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid in kids:
                if is_running(pid):
                    _signal(pid, signal.SIGKILL)
        self.processes.clear()
        self.names.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def pids(self) -> list[int]:
        """Return the ids of the running processes of the federation and all their children."""
        own = [p.pid for p in self.processes]
        return own + [c for pid in own for c in descendants(pid)]

    def logs(self) -> dict[str, str]:
        """Return the output of every process so far, by name (``superlink``, ``supernode0``...)."""
        return {
            p.stem: p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(self.workdir.glob("*.log"))
        }

    def __enter__(self) -> LocalFederation:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the processes and delete the temporary folder (if this object made it)."""
        try:
            self.stop()
        finally:
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
