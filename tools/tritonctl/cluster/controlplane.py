"""A real Kubernetes control plane on the loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, each its own process group, built from the pinned Go modules in
``k8s/cluster/gomod`` (``k8s/cluster/build.sh``).

kwok stands in for the kubelet only: nodes it manages keep the capacity we give them
(``nvidia.com/gpu``, MIG resources) and its stages move pods through their phases. Everything
else is Kubernetes' own code: admission (PodSecurity, RBAC), the scheduler's filters and scores,
the Deployment, ReplicaSet, HPA, disruption and PV controllers, the Eviction API. The fake pod
addresses kwok hands out are never dialled: whatever must reach a pod reaches a process on
127.0.0.1.

State (PKI, etcd data, logs, pids, the kubeconfig) lives in one folder; ``up`` is idempotent and
``down`` stops every process and removes the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tritonctl.cluster import crds, fleet, pki as pki_mod
from tritonctl.endpoints import free_ports
from tritonctl.errors import TritonctlError
from tritonctl.process import http_status, pid_alive, stop_process_group, wait_until

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
# kwok's fake pod addresses: handed out, never dialled (see the module docstring).
POD_CIDR = "10.244.0.0/16"


class ClusterError(TritonctlError):
    """The rehearsal cluster could not be built, started or reached."""


@dataclass
class Settings:
    """What a caller may change. The controller manager's periods are shortened from the
    defaults (HPA sync 15 s, downscale stabilisation 5 min) so that tests see the real controllers
    act within seconds; ``up`` prints what it used."""
    state_dir: Path
    hpa_sync_period: str = "5s"
    hpa_downscale_stabilization: str = "30s"
    node_monitor_grace_period: str = "40s"
    fleet: str = "default"


@dataclass
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def allocate(cls) -> Ports:
        return cls(*free_ports(6))


@dataclass
class ClusterInfo:
    """What ``up`` writes to ``<state>/cluster.json`` and every later command reads."""
    state_dir: str
    bin_dir: str
    ports: Ports
    pids: dict[str, int] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return Path(self.state_dir) / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def save(self) -> None:
        data = asdict(self)
        (Path(self.state_dir) / "cluster.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> ClusterInfo | None:
        path = Path(state_dir) / "cluster.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["ports"] = Ports(**data["ports"])
        return cls(**data)

    def running(self) -> dict[str, bool]:
        return {name: pid_alive(pid) for name, pid in self.pids.items()}

    def env(self) -> dict[str, str]:
        """The environment for kubectl and helm against this cluster (the built binaries first)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env


def repo_root() -> Path | None:
    """The checkout holding ``k8s/cluster/build.sh`` (the Go wrapper modules are not package data:
    building the control plane is a contributor's and CI's step, not an installed user's)."""
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / "k8s" / "cluster" / "build.sh").is_file():
                return folder
    return None


def ensure_binaries() -> Path:
    """The folder of the built binaries: ``$CLUSTER_BIN`` when set, else ``k8s/cluster/build.sh``
    (instant when its cache holds this pin set; a cold build takes tens of minutes on 2 cores)."""
    given = os.environ.get("CLUSTER_BIN")
    if given:
        folder = Path(given)
    else:
        root = repo_root()
        if root is None:
            raise ClusterError("k8s/cluster/build.sh not found: run from the tritonctl checkout, or set "
                               "CLUSTER_BIN to a folder holding etcd, kube-apiserver, kube-controller-manager, "
                               "kube-scheduler, kubectl, kwok and helm")
        result = subprocess.run(["bash", str(root / "k8s" / "cluster" / "build.sh")], stdout=subprocess.PIPE,
                                text=True)
        if result.returncode != 0:
            raise ClusterError(f"k8s/cluster/build.sh failed with exit code {result.returncode} (its output is "
                               "above); it needs Go and the Go module proxy")
        folder = Path(result.stdout.strip().splitlines()[-1])
    missing = [b for b in (*COMPONENTS, "kubectl", "helm") if not (folder / b).exists()]
    if missing:
        raise ClusterError(f"{folder} lacks {', '.join(missing)}: rebuild with k8s/cluster/build.sh")
    return folder


def _kubeconfig(info: ClusterInfo, pki: pki_mod.Pki) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "rehearsal",
        "clusters": [{"name": "rehearsal", "cluster": {"server": info.server,
                                                       "certificate-authority": str(pki.ca_cert)}}],
        "users": [{"name": "admin", "user": {"client-certificate": str(pki.admin_cert),
                                             "client-key": str(pki.admin_key)}}],
        "contexts": [{"name": "rehearsal", "context": {"cluster": "rehearsal", "user": "admin"}}],
    }, indent=2) + "\n"


def _commands(info: ClusterInfo, pki: pki_mod.Pki, settings: Settings) -> dict[str, list[str]]:
    state, b, p, kc = Path(info.state_dir), Path(info.bin_dir), info.ports, str(info.kubeconfig)
    secure = ["--bind-address=127.0.0.1", f"--cert-dir={state / 'certs'}",
              f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}"]
    return {
        "etcd": [
            str(b / "etcd"), "--name=node0", f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{p.etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{p.etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
            f"--initial-cluster=node0=http://127.0.0.1:{p.etcd_peer}",
            "--unsafe-no-fsync=true",  # a throw-away cluster on a shared disk: no fsync per write
            "--quota-backend-bytes=2147483648", "--log-level=warn",
        ],
        "kube-apiserver": [
            str(b / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={p.apiserver}",
            # the `kubernetes` Service's endpoints would name 127.0.0.1, which Endpoints refuse
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.service_account_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,PodSecurity",
            # the aggregation layer (custom/external metrics APIs served by the adapter and KEDA)
            f"--requestheader-client-ca-file={pki.ca_cert}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.front_proxy_cert}", f"--proxy-client-key-file={pki.front_proxy_key}",
            "--profiling=false", "--v=1",
        ],
        "kube-controller-manager": [
            str(b / "kube-controller-manager"), f"--kubeconfig={kc}", *secure, f"--secure-port={p.controller_manager}",
            "--leader-elect=false", "--controllers=*", "--use-service-account-credentials=false",
            f"--root-ca-file={pki.ca_cert}", f"--service-account-private-key-file={pki.service_account_key}",
            f"--horizontal-pod-autoscaler-sync-period={settings.hpa_sync_period}",
            f"--horizontal-pod-autoscaler-downscale-stabilization={settings.hpa_downscale_stabilization}",
            f"--node-monitor-grace-period={settings.node_monitor_grace_period}",
            "--kube-api-qps=100", "--kube-api-burst=200", "--v=1",
        ],
        "kube-scheduler": [
            str(b / "kube-scheduler"), f"--kubeconfig={kc}", *secure, f"--secure-port={p.scheduler}",
            "--leader-elect=false", "--kube-api-qps=100", "--kube-api-burst=200", "--v=1",
        ],
        "kwok": [
            str(b / "kwok"), f"--kubeconfig={kc}", f"--config={fleet.STAGES}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={fleet.MANAGED_ANNOTATION}=fake",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--server-address=127.0.0.1:{p.kwok}", f"--cidr={POD_CIDR}", "--node-ip=127.0.0.1",
            "--node-lease-duration-seconds=40",
        ],
    }


class ControlPlane:
    """Start, reach and stop the rehearsal cluster kept in ``settings.state_dir``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state = Path(settings.state_dir).resolve()

    @property
    def info(self) -> ClusterInfo | None:
        return ClusterInfo.load(self.state)

    def up(self, timeout: float = 120, log=print) -> ClusterInfo:
        """Start every component that is not running, create the fleet and wait until the API
        server is ready and every node is Ready. Returns what ``cluster.json`` holds."""
        info = self.info
        if info is not None and all(info.running().values()) and set(info.pids) == set(COMPONENTS):
            log(f"the cluster in {self.state} is already up ({info.server})")
            return info
        if info is not None:  # half up (a crash, a reboot): start over
            self.down(log=lambda *_: None)
        bin_dir = ensure_binaries()
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "logs").mkdir(exist_ok=True)
        pki = pki_mod.create(self.state / "pki")
        info = ClusterInfo(state_dir=str(self.state), bin_dir=str(bin_dir), ports=Ports.allocate(),
                           settings={k: str(v) for k, v in asdict(self.settings).items()})
        info.kubeconfig.write_text(_kubeconfig(info, pki))
        info.kubeconfig.chmod(0o600)
        commands = _commands(info, pki, self.settings)
        started: dict[str, subprocess.Popen] = {}
        try:
            for name in COMPONENTS:
                started[name] = self._spawn(name, commands[name])
                info.pids[name] = started[name].pid
                info.save()
                if name == "etcd":
                    wait_until(lambda: _tcp_open(info.ports.etcd_client), timeout, started[name], what="etcd",
                               state="listening")
                elif name == "kube-apiserver":
                    tls = self._admin_tls()
                    wait_until(lambda: http_status(info.server + "/readyz", 3, tls) == 200, timeout, started[name],
                               what="kube-apiserver", state="ready (/readyz)")
            self_signed = _self_signed_tls()
            for name in ("kube-controller-manager", "kube-scheduler"):
                port = info.ports.controller_manager if name == "kube-controller-manager" else info.ports.scheduler
                wait_until(lambda port=port: http_status(f"https://127.0.0.1:{port}/healthz", 3, self_signed) == 200,
                           timeout, started[name], what=name, state="healthy (/healthz)")
            fleet.create(info, self.settings.fleet)
            wait_until(lambda: fleet.all_ready(info), timeout, started["kwok"], what="the kwok nodes",
                       state="Ready")
            crds.install(lambda *args: fleet.kubectl(info, *args))
        except Exception as exc:
            logs = "\n".join(f"  {self.state / 'logs' / f'{n}.log'}" for n in started)
            self.down(log=lambda *_: None, keep_logs=True)
            raise ClusterError(f"the rehearsal cluster did not come up: {exc}; the components' logs:\n{logs}") from exc
        log(f"cluster up: {info.server}, kubeconfig {info.kubeconfig}; "
            f"HPA sync {self.settings.hpa_sync_period}, downscale stabilisation "
            f"{self.settings.hpa_downscale_stabilization}")
        return info

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.state / "logs" / f"{name}.log", "ab")
        try:
            # its own session: `make cluster-up` returns while the cluster keeps running
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=self.state)
        finally:
            log.close()

    def _admin_tls(self) -> ssl.SSLContext:
        """The API server's CA and the admin client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.state / "pki" / "ca.crt"))
        ctx.load_cert_chain(str(self.state / "pki" / "admin.crt"), str(self.state / "pki" / "admin.key"))
        return ctx

    def down(self, log=print, keep_logs: bool = False) -> None:
        """Stop every component (in reverse order) and remove the state folder."""
        info = self.info
        if info is not None:
            for name in reversed(COMPONENTS):
                pid = info.pids.get(name)
                if pid and pid_alive(pid):
                    stop_process_group(pid, timeout=10, term_group=True)
        if self.state.exists():
            if keep_logs:
                for entry in self.state.iterdir():
                    if entry.name != "logs":
                        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            else:
                shutil.rmtree(self.state)
        log(f"cluster down ({self.state} removed)" if info else f"no cluster in {self.state}")


def _tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _self_signed_tls() -> ssl.SSLContext:
    """For /healthz of the controller manager and the scheduler: self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
