"""The resilient example client against servers that come and go, as pods do on the cluster.

Rolling stop: two local Tritons serve the same repository; the client balances over both with
round_robin (an ``ipv4:`` list, what DNS of the chart's headless Service gives it) and sends a
steady stream. One server is stopped the way the chart stops a pod after its preStop hook: SIGTERM,
then Triton unloads its models and waits for in-flight requests up to --exit-timeout-secs (new
calls meanwhile get NOT_FOUND "no available versions", then the connection closes). It is started
again on the same ports. Every call must succeed, and each server's own statistics must show calls
before the stop and after the restart. TLS: the same client over grpcs:// to a Triton serving TLS.
"""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from clientkit import ROOT, SAMPLES, example_cmd, json_output, label_of, run_example
from serverkit import free_ports
from tritonctl.server.launcher import LocalServer, ServerOptions

pytestmark = pytest.mark.integration

MODEL = "digits_pipeline"
SEEN = 20  # calls each server must have answered to count as "seen" in a phase


@pytest.fixture(scope="module")
def pipeline_repo(copy_example_models, tmp_path_factory) -> Path:
    """The digits pipeline's four models from the built example repository (quick to load)."""
    return copy_example_models(copy_example_models.DIGITS_PIPELINE, tmp_path_factory.mktemp("pipeline") / "model_repository")


def start(opts: ServerOptions) -> LocalServer:
    server = LocalServer(opts).start()
    try:
        server.wait_ready(timeout=240)
    except Exception:
        server.stop(timeout=20)
        raise
    return server


def server_options(repo: Path, state: Path, *extra: str) -> ServerOptions:
    http, grpc, metrics = free_ports(3)
    return ServerOptions(repo, http, grpc, metrics, address="127.0.0.1", exit_timeout_secs=10, state_dir=state, extra_args=list(extra))


def successes(opts: ServerOptions) -> int:
    """Successful inferences of MODEL by this server since it started (Triton's statistics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{opts.http_port}/v2/models/{MODEL}/stats", timeout=5) as r:
        return int(json.load(r)["model_stats"][0]["inference_stats"]["success"]["count"])


def wait_until(condition, what: str, client: subprocess.Popen, timeout: float = 240) -> None:
    """Poll ``condition`` until it holds; fail if the client stopped or the timeout passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if client.poll() is not None:
            pytest.fail(f"the client exited ({client.returncode}) while waiting for {what}:\n{client.stdout.read()}\n{client.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_round_robin_client_loses_no_call_while_a_server_drains_stops_and_returns(pipeline_repo, tmp_path):
    a_opts = server_options(pipeline_repo, tmp_path / "a")
    b_opts = server_options(pipeline_repo, tmp_path / "b")
    a, b = start(a_opts), start(b_opts)
    png = SAMPLES[7]
    target = f"ipv4:127.0.0.1:{a_opts.grpc_port},127.0.0.1:{b_opts.grpc_port}"
    client = subprocess.Popen(
        example_cmd("resilient.py", "--url", target, "--image", str(png), "--stream", "--rate", "40"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    split = {}
    try:
        # before: both servers answer part of the stream
        wait_until(lambda: successes(a_opts) >= SEEN and successes(b_opts) >= SEEN, "calls on both servers", client)
        split["before"] = (successes(a_opts), successes(b_opts))
        b_at_stop = successes(b_opts)

        # during: A gets SIGTERM and drains (stop returns once it has exited), B carries the stream
        a.stop()
        assert not a.running()
        wait_until(lambda: successes(b_opts) >= b_at_stop + SEEN, "B to answer while A is down", client)

        # after: A again, on the same ports; round_robin reconnects to it on its own
        a = start(a_opts)
        b_at_restart = successes(b_opts)
        split["during"] = (split["before"][0], None, b_at_restart - b_at_stop)  # A's count up to SIGTERM is in "before"
        wait_until(lambda: successes(a_opts) >= SEEN and successes(b_opts) >= b_at_restart + SEEN, "calls on both servers after A returned", client)
        split["after"] = (successes(a_opts), successes(b_opts) - b_at_restart)
    finally:
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=60)
        a.stop()
        b.stop()
    summary = json.loads(out.strip().splitlines()[-1])
    print(
        f"\nrolling stop ({datetime.date.today()}, {target}, 40 calls/s): sent {summary['sent']}, "
        f"succeeded {summary['succeeded']}, failed {summary['failed']}, wrong {summary['wrong']}, "
        f"retried {summary['retried']}, {summary['seconds']} s\n"
        f"  before: A {split['before'][0]}, B {split['before'][1]}\n"
        f"  during (A SIGTERM -> drained -> restarted): A 0 (down), B {split['during'][2]}\n"
        f"  after:  A {split['after'][0]}, B {split['after'][1]}"
    )
    assert summary["failed"] == 0 and summary["errors"] == {}, summary
    assert summary["wrong"] == 0 and summary["succeeded"] == summary["sent"], summary
    assert client.returncode == 0, err
    assert label_of(png) == "7"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 and its key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return d / "cert.pem", d / "key.pem"


def test_resilient_client_speaks_tls_with_grpcs_urls(pipeline_repo, tls_files, tmp_path):
    cert, key = tls_files
    opts = server_options(pipeline_repo, tmp_path / "tls", "--grpc-use-ssl=true", f"--grpc-server-cert={cert}", f"--grpc-server-key={key}")
    server = start(opts)
    try:
        png = SAMPLES[2]
        url = f"grpcs://localhost:{opts.grpc_port}"
        out = json_output(run_example("resilient.py", "--url", url, "--ca-file", str(cert), "--image", str(png)))
        assert out["digit"] == label_of(png)
        # the channel really is TLS: without the CA the certificate is refused, in plaintext the handshake fails
        for args in (["--url", url], ["--url", f"localhost:{opts.grpc_port}"]):
            res = run_example("resilient.py", *args, "--image", str(png), "--attempts", "2", "--deadline", "10")
            assert res.returncode == 1 and json_output(res)["error"] == "StatusCode.UNAVAILABLE", res.stderr
    finally:
        server.stop()
