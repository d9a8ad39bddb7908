"""TLS for the Flower federation: certificates made locally, a federation on loopback, a refusal."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from fedmed_lib.flower_app import federation
from fedmed_lib.flower_app.federation import LocalFederation
from fedmed_lib.flower_app.task import reference_simulation
from fedmed_lib.flower_app.tls import (
    certificate_hosts,
    is_signed_by,
    make_ca,
    make_server_certificate,
    write_ca_certificate,
    write_certificates,
    write_supernode_keys,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.setdefault("FEDMED_DATA_DIR", str(DATA))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    return write_certificates(folder), write_ca_certificate(folder)


def test_files_and_chain(certs):
    files, other = certs
    assert [p.name for p in (files.ca_cert, files.server_cert, files.server_key)] == [
        "ca.pem", "server.pem", "server.key"]
    assert files.server_cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600  # owner only
    assert is_signed_by(files.server_cert, files.ca_cert)
    assert is_signed_by(files.ca_cert, files.ca_cert)  # a root signs itself
    assert not is_signed_by(files.server_cert, other)
    assert certificate_hosts(files.server_cert) == ["127.0.0.1", "localhost"]


def _handshake(files, cafile, server_hostname="127.0.0.1"):
    """A TLS handshake with Python's ssl module (OpenSSL), independent of Flower and ours."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.server_cert, files.server_key)
    client_ctx = ssl.create_default_context(cafile=str(cafile))
    a, b = socket.socketpair()
    errors: list[Exception] = []

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
            c.sendall(b"x")
            return c.version()
    finally:
        t.join(timeout=10)
        a.close()
        b.close()


def test_openssl_accepts_the_chain_and_refuses_another_ca(certs):
    files, other = certs
    assert _handshake(files, files.ca_cert) in {"TLSv1.2", "TLSv1.3"}
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(files, other)
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):  # wrong host name
        _handshake(files, files.ca_cert, server_hostname="superlink.example.org")


def test_bad_input(tmp_path):
    key, ca = make_ca()
    with pytest.raises(ValueError, match="hosts"):
        make_server_certificate(key, ca, hosts=[])
    with pytest.raises(ValueError, match="hosts"):
        make_server_certificate(key, ca, hosts="127.0.0.1")
    with pytest.raises(ValueError, match=r"hosts\[1\]"):
        make_server_certificate(key, ca, hosts=["127.0.0.1", ""])
    with pytest.raises(ValueError, match="days"):
        make_ca(days=0)
    with pytest.raises(ValueError, match="common_name"):
        write_certificates(tmp_path, ca_name=" ")


def test_flower_config_names_the_ca(tmp_path):
    fed = LocalFederation(num_partitions=1, workdir=tmp_path, tls=True)
    fed.tls_files = write_certificates(tmp_path / "certs")
    fed.port = 4321
    fed._write_flower_config()
    text = (tmp_path / "flwr_home" / "config.toml").read_text()
    assert f'root-certificates = "{fed.tls_files.ca_cert.resolve()}"' in text
    assert "insecure" not in text
    args = fed.superlink_args()
    assert "--insecure" not in args and args[args.index("--ssl-keyfile") + 1].endswith("server.key")


def test_supernode_keys_are_openssh_ec(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        load_ssh_private_key,
        load_ssh_public_key,
    )

    private, public = write_supernode_keys(tmp_path, "hospital0")
    key = load_ssh_private_key(private.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    assert load_ssh_public_key(public.read_bytes()).public_numbers() == (
        key.public_key().public_numbers())
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="name"):
        write_supernode_keys(tmp_path, "")
    with pytest.raises(ValueError, match="tls"):
        LocalFederation(num_partitions=1, supernode_auth=True)


@pytest.mark.xdist_group("live_flower")  # one worker runs the live federations, one after another
@pytest.mark.timeout(300)
def test_tls_federation_with_supernode_auth_refuses_strangers(tmp_path):
    num_rounds, lr, local_epochs = 1, 1.0, 3
    history, _ = reference_simulation(num_partitions=2, num_rounds=num_rounds, lr=lr,
                                      local_epochs=local_epochs)
    other_ca = write_ca_certificate(tmp_path / "elsewhere")
    fed = LocalFederation(num_partitions=2, workdir=tmp_path / "fed", tls=True,
                          supernode_auth=True)
    with fed:
        rogue = fed.start_supernode(0, name="rogue", root_certificates=other_ca)
        # right CA, but a key the SuperLink's operator never registered
        unregistered, _ = fed.register_supernode("stranger", register=False)
        stranger = fed.start_supernode(
            1, name="stranger", extra_args=("--auth-supernode-private-key", str(unregistered)))
        run = fed.run({"num-server-rounds": num_rounds, "lr": lr, "local-epochs": local_epochs,
                       "fraction-evaluate": 0.0})
        rogue_code = rogue.wait(timeout=60)
        stranger_code = stranger.wait(timeout=60)
        logs = fed.logs()
        every = fed.pids()
    assert run.returncode == 0, run.log[-3000:]
    assert run.result is not None and run.result["num_nodes"] == 2
    np.testing.assert_allclose(run.result["theta"], history.params[0], rtol=0, atol=1e-10)
    # the SuperLink served TLS: the log says nothing of an insecure server
    assert "insecure" not in logs["superlink"].lower()
    # the SuperNode that trusts another CA could not even connect, and gave up
    assert rogue_code != 0
    assert "CERTIFICATE_VERIFY_FAILED" in logs["rogue"]
    # the SuperNode with the right CA but an unregistered key was refused by the SuperLink
    assert "--enable-supernode-auth" in fed.superlink_args()
    assert stranger_code != 0 and "Failed to activate SuperNode" in logs["stranger"]
    assert not any(federation.is_running(p) for p in every)
