"""What a running Triton serves, and moving a model between its versions on it.

``collect`` answers "what is deployed": every model the server knows (and every model a local
repository holds), each version's state, the version policy that chose them, which versions the
repository holds but the server does not serve, and the requests each version answered since
it loaded with Triton's own latency split (the statistics extension, the same counters
``tritonctl bench`` reads around its windows).

``pin`` moves a model to one version and back (``tritonctl rollback``). The version policy is the
switch: ``specific { versions: [N] }`` serves N; the policy it replaced is kept in the config's
``parameters`` (``POLICY_BEFORE_PIN``) and ``latest`` restores it. Triton
loads the versions a new policy asks for before it retires the others, so a switch under load
fails no request (tests/integration/test_rollout.py). How the new policy reaches the server
depends on its model-control mode:

* a repository directory on this machine: its config.pbtxt is rewritten (atomically, as the build
  writes). A polling server picks it up by itself; an explicit-mode server is then asked to load
  the model, which reads the new file. The pin survives a restart (``none`` mode needs one). When
  the server does not apply it (load refused, a version failed, timeout) the old text goes back.
* no directory here (a cluster's server through a URL, explicit mode): the served config with the
  new policy goes with the load request; the repository is unchanged, so the pin lasts until the
  server restarts (pin the repository too, then ``tritonctl push``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tritonctl import client as tc
from tritonctl import stats
from tritonctl.errors import ClientError, RepositoryError
from tritonctl.server.health import ModelState, ModelStatus, model_statuses

#: what Triton does when a config names no version_policy
DEFAULT_POLICY = "latest 1"
#: the policy of a model the server lists without serving it, when no repository says (not guessed)
UNKNOWN_POLICY = "unknown"


#: the chart's header for its restricted APIs (server.restrictedApis.header): the repository API
#: (index, load) answers only requests carrying the key there by default
ADMIN_KEY_HEADER = "triton-admin-key"
ADMIN_KEY_ENV = "TRITON_ADMIN_KEY"  # where the chart's NOTES put the key
_KEYED_CALLS = ("get_server_metadata", "get_model_repository_index", "get_model_config", "get_model_metadata",
                "get_inference_statistics", "load_model", "unload_model", "is_model_ready")


def with_key(client, key: str | None, header: str = ADMIN_KEY_HEADER):
    """``client`` sending ``header: key`` on every call this module makes (a server with restricted APIs).

    Triton reads the key from gRPC metadata ``triton-grpc-protocol-<header>``. The client keeps its
    tritonclient class (a subclass), so ``tritonctl.client`` still tells its protocol.
    """
    if not key:
        return client
    base = type(client)
    name = f"triton-grpc-protocol-{header}" if tc.protocol_of(client) == "grpc" else header

    def keyed(method):
        def call(self, *args, headers=None, **kwargs):
            return method(self, *args, headers={**(headers or {}), name: key}, **kwargs)
        return call

    client.__class__ = type(base.__name__, (base,), {"__module__": base.__module__,
                                                     **{m: keyed(getattr(base, m)) for m in _KEYED_CALLS}})
    return client


def explain_restricted(exc: Exception, where: str) -> Exception:
    """``exc`` as a ClientError naming the key when Triton refused a restricted API, else ``exc``."""
    text = str(exc.message() if hasattr(exc, "message") and callable(exc.message) else exc)
    if "restricted" not in text.lower():
        return exc
    return ClientError(f"{where} answers its repository and statistics APIs only to requests with a key "
                       f"({text.strip()}); pass it with --admin-key or ${ADMIN_KEY_ENV} (the chart's NOTES show "
                       "how to read it from its Secret)")


# ---------------------------------------------------------------------------------------------
# the commands' common arguments: which server, which repository, which key
# ---------------------------------------------------------------------------------------------
def add_key_arguments(p) -> None:
    """--admin-key and --key-header on an argparse parser (`status`, `rollback`)."""
    p.add_argument(
        "--admin-key", default=None, metavar="KEY",
        help="key for a server whose repository API is restricted (the chart's default: its NOTES print how "
        f"to read it into ${ADMIN_KEY_ENV}); default ${ADMIN_KEY_ENV}",
    )
    p.add_argument("--key-header", default=ADMIN_KEY_HEADER, help="header that carries the key (the chart's "
                   "server.restrictedApis.header; default %(default)s)")


def connect(url: str | None, protocol: str | None, args):
    """A client for ``url``, sending the admin key (``args.admin_key``, else $TRITON_ADMIN_KEY) when there is one."""
    import os

    key = args.admin_key or os.environ.get(ADMIN_KEY_ENV)
    return with_key(tc.make_client(url, protocol), key, args.key_header)


def locate(url: str | None, protocol: str | None, state_dir: str, repository: str | None):
    """(url, repository Path or None, model-control mode or None): the given url and repository, else
    the local server's record (its pid file in ``state_dir``), else the defaults. The mode is known
    only for the local server (Triton's API does not say)."""
    from tritonctl.statedir import read_pidfile

    record = read_pidfile(Path(state_dir)) or {}
    local = url is None and bool(record)  # the server `tritonctl serve` started from state_dir
    mode = record.get("model_control_mode") if local else None
    if local:
        url = record["http_url"] if protocol == "http" else record["grpc_url"]
    if repository is not None:
        repo = Path(repository)
        if not repo.is_dir():
            raise ClientError(f"--repository {repository} is not a directory (a repository in a bucket: compare "
                              "with the directory you pushed from)")
        return url, repo, mode
    served = record.get("repository", "") if local else ""
    # a bucket the local server reads (s3://...) is not compared: the directory it was pushed from is
    return url, (Path(served) if served and "://" not in served and Path(served).is_dir() else None), mode


# ---------------------------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------------------------
@dataclass
class VersionStatus:
    version: str
    state: str  # READY, LOADING, UNAVAILABLE, UNLOADED (held by the repository, never loaded)
    reason: str = ""
    in_repository: bool | None = None  # None: no repository to compare with
    requests: int = 0  # successful requests since this version loaded
    failures: int = 0
    inferences: int = 0  # samples (a batch of 4 in one request counts 4)
    executions: int = 0  # model executions (dynamic batching merges requests into one)
    # per successful request, ms: Triton's whole request time and its parts
    latency_ms: dict = field(default_factory=dict)


@dataclass
class ModelReport:
    name: str
    policy: str  # "latest N", "all", "specific 1,2" (from the served config, else the repository's), else "unknown"
    platform: str = ""
    repository_versions: list[int] | None = None  # None: no repository to compare with
    versions: list[VersionStatus] = field(default_factory=list)

    @property
    def served(self) -> list[str]:
        return [v.version for v in self.versions if v.state == ModelState.READY.value]

    @property
    def not_served(self) -> list[int]:
        """Versions the repository holds that the server does not serve (the policy's choice, or a failed load)."""
        served = set(self.served)
        return [v for v in self.repository_versions or [] if str(v) not in served]


@dataclass
class ServerReport:
    url: str
    protocol: str
    server_version: str
    repository: str | None
    models: list[ModelReport]
    model_control_mode: str | None = None  # known for the server `tritonctl serve` started (its pid file)

    def as_dict(self) -> dict:
        d = asdict(self)
        for m, md in zip(self.models, d["models"]):
            md["served"] = m.served
            md["not_served"] = m.not_served
        return d


def policy_text(config) -> str:
    """A config's version policy in one phrase (a dict from ``get_config`` or a ModelConfig)."""
    if not isinstance(config, dict):
        from google.protobuf import json_format

        config = json_format.MessageToDict(config, preserving_proto_field_name=True)
    vp = config.get("version_policy") or {}
    if "specific" in vp:
        return "specific " + ",".join(str(v) for v in vp["specific"].get("versions", []))
    if "all" in vp:
        return "all"
    if "latest" in vp:
        return f"latest {vp['latest'].get('num_versions', 1)}"
    return DEFAULT_POLICY


def repository_models(repository: Path) -> dict[str, list[int]]:
    """{model: numeric version directories} of a repository directory (models have a config.pbtxt)."""
    from tritonctl.repository import CONFIG, versions

    return {p.name: versions(p) for p in sorted(Path(repository).iterdir())
            if p.is_dir() and (p / CONFIG).is_file()}


def _latency(b: stats.Breakdown) -> dict:
    if not b.requests:
        return {}
    return {"request": b.request_ms, "queue": b.queue_ms, "compute_input": b.compute_input_ms,
            "compute_infer": b.compute_infer_ms, "compute_output": b.compute_output_ms, "overhead": b.overhead_ms}


def collect(client, url: str, repository: Path | None = None) -> ServerReport:
    """What the server behind ``client`` serves, compared with ``repository`` when given."""
    protocol = tc.protocol_of(client)
    try:
        meta = tc.call("server metadata", client.get_server_metadata, **({"as_json": True} if protocol == "grpc" else {}))
    except ClientError as exc:
        explained = explain_restricted(exc, f"{protocol}://{url}")
        if explained is not exc:  # a server that answered, refusing a request without its key
            raise explained from exc
        # refused, unresolvable, a TLS endpoint asked in plain text, the other protocol's port: Triton's
        # client says which, so its words stay in the message
        raise ClientError(f"cannot reach a server at {protocol}://{url} ({exc}); start one with `tritonctl "
                          "serve`, or give the address of yours (a cluster's: `kubectl port-forward svc/RELEASE "
                          "8001`; the protocol and port must match: gRPC 8001, HTTP 8000)") from exc
    try:
        index = model_statuses(client)
        counters = stats.read(client)  # every model, every version, cumulative since it loaded
    except Exception as exc:  # noqa: BLE001 - tritonclient's own errors too (stats.read calls it directly)
        raise explain_restricted(exc, f"{protocol}://{url}") from exc
    held = repository_models(repository) if repository is not None else {}
    names = sorted({m.name for m in index} | set(held))
    models = []
    for name in names:
        entries = [m for m in index if m.name == name]
        policy, platform = None, ""
        if any(m.ready for m in entries):
            cfg = tc.get_config(client, name)
            policy, platform = policy_text(cfg), cfg.get("platform") or cfg.get("backend", "")
        elif name in held:  # not served: what the repository's config would do
            from tritonctl.config import read_config
            from tritonctl.repository import CONFIG

            try:
                cfg = read_config(Path(repository) / name / CONFIG)
                policy, platform = policy_text(cfg), cfg.platform or cfg.backend
            except RepositoryError as exc:
                policy = f"unreadable config ({exc})"
        report = ModelReport(name, policy or UNKNOWN_POLICY, platform,
                             held.get(name) if repository is not None else None)
        listed = {m.version: m for m in entries if m.version}
        for v in held.get(name, []):  # versions on disk the server never listed
            listed.setdefault(str(v), ModelStatus(name, str(v), ModelState.UNLOADED))
        for version in sorted(listed, key=lambda v: int(v) if v.isdigit() else -1):
            m = listed[version]
            vs = VersionStatus(version, m.state.value, m.short_reason if m.failed else "",
                               None if repository is None else int(version) in held.get(name, []))
            if (name, version) in counters:
                b = stats.diff({}, counters, name, version)
                vs.requests, vs.failures, vs.inferences, vs.executions = b.requests, b.failures, b.inferences, b.executions
                vs.latency_ms = _latency(b)
            report.versions.append(vs)
        models.append(report)
    return ServerReport(url, protocol, str(meta.get("version", "")), str(repository) if repository else None, models)


def format_report(report: ServerReport) -> str:
    """The table `tritonctl status` prints."""
    head = f"Triton {report.server_version} at {report.protocol}://{report.url}"
    head += f", repository {report.repository}" if report.repository else " (no repository to compare with: --repository DIR)"
    if report.model_control_mode:
        head += f", model control mode {report.model_control_mode}"
    rows = [("MODEL", "VERSION", "STATE", "POLICY", "REQUESTS", "FAILED", "REQUEST ms", "QUEUE", "IN", "INFER", "OUT", "BATCH")]
    notes = []
    for m in report.models:
        for i, v in enumerate(m.versions or [VersionStatus("-", "UNLOADED")]):
            lat = v.latency_ms
            cells = [f"{lat[k]:.3f}" for k in ("request", "queue", "compute_input", "compute_infer", "compute_output")] if lat else ["-"] * 5
            batch = f"{v.inferences / v.executions:.2f}" if v.executions else "-"
            state = v.state + ("" if v.in_repository is not False else " (gone from repository)")
            rows.append((m.name if i == 0 else "", v.version, state, m.policy if i == 0 else "",
                         str(v.requests), str(v.failures), *cells, batch))
            if v.reason:
                notes.append(f"{m.name} v{v.version}: {v.reason.splitlines()[0]}")
        if m.repository_versions is not None and m.not_served:
            notes.append(f"{m.name}: the repository holds version(s) {', '.join(map(str, m.not_served))} the server "
                         f"does not serve (policy {m.policy})")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    lines.append("")
    lines.append("latency: average per successful request since the version loaded (Triton's statistics); "
                 "REQUEST = QUEUE + IN + INFER + OUT + overhead")
    lines += notes
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# roll back and forward
# ---------------------------------------------------------------------------------------------
LATEST = "latest"


@dataclass
class PinResult:
    model: str
    policy: str  # the policy now in force
    served: list[str]  # READY versions once the server applied it
    was: list[str]  # READY versions before
    written: Path | None  # the config.pbtxt rewritten, None when the policy went with the load request
    how: str  # "poll", "load" or "load with config" (what made the server apply it)


#: the config parameter where a pin keeps the model's own version policy, for ``--to latest`` to bring
#: back (Triton passes parameters to the backend, which ignores keys it does not know)
POLICY_BEFORE_PIN = "tritonctl_policy_before_pin"


def _latest_one():
    from tritonclient.grpc import model_config_pb2 as mc

    return mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1))


def apply_target(cfg, target: str) -> None:
    """Set ``cfg``'s version policy to serve ``target`` (a version, or ``latest``).

    A pin to a version keeps the policy it replaces in the ``POLICY_BEFORE_PIN`` parameter (the
    first pin only: pinning 2, then 1, remembers the policy before 2). ``latest`` restores that
    policy and drops the parameter; a config without one keeps its own ``latest``/``all`` policy,
    and a ``specific`` one (pinned by hand) becomes Triton's default, ``latest 1``.
    """
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    params = cfg.parameters
    if target == LATEST:
        if POLICY_BEFORE_PIN in params:
            before = mc.ModelVersionPolicy()
            text_format.Parse(params[POLICY_BEFORE_PIN].string_value, before)
            cfg.version_policy.CopyFrom(before)
            del params[POLICY_BEFORE_PIN]
        elif cfg.version_policy.WhichOneof("policy_choice") == "specific":
            cfg.version_policy.CopyFrom(_latest_one())
        return
    if POLICY_BEFORE_PIN not in params:
        own = cfg.version_policy if cfg.version_policy.WhichOneof("policy_choice") else _latest_one()
        params[POLICY_BEFORE_PIN].string_value = text_format.MessageToString(own, as_one_line=True)
    cfg.version_policy.CopyFrom(mc.ModelVersionPolicy(specific=mc.ModelVersionPolicy.Specific(versions=[int(target)])))


def _ready(client, model: str) -> list[str]:
    return sorted((m.version for m in model_statuses(client) if m.name == model and m.ready), key=int)


def choose_target(model: str, to: str | None, served: list[str], available: list[int],
                  source: str = "the repository holds") -> str:
    """The version to serve: ``to`` (a number or ``latest``), else the newest one older than what is served."""
    if to == LATEST:
        return LATEST
    if to is not None:
        if not str(to).isdigit():
            raise ClientError(f"--to {to}: give a version number or '{LATEST}'")
        if source == "the repository holds" and int(to) not in available:  # a server's list can be incomplete
            raise ClientError(f"model '{model}' has no version {to} ({source} "
                              f"{', '.join(map(str, available))})")
        return str(int(to))
    if not served:
        raise ClientError(f"model '{model}' serves no version now, so there is none to roll back from; "
                          "name one with --to VERSION")
    current = max(int(v) for v in served)
    older = [v for v in available if v < current]
    if not older:
        raise ClientError(f"model '{model}' serves version {current} and no older version is known "
                          f"({source} {', '.join(map(str, available))}); name one with --to VERSION"
                          + ("" if source == "the repository holds" else ", or give the repository with --repository DIR"))
    return str(max(older))


def _selects(cfg, available) -> list[str]:
    from tritonctl.config import policy_selects

    return [str(v) for v in policy_selects(cfg, available)]


def _wait_served(client, model: str, want, timeout_s: float, policy: str, hint: str = "",
                 known_failures: frozenset = frozenset()) -> list[str]:
    """Wait until the READY versions of ``model`` are ``want(index entries)``; those versions.

    A wanted version Triton failed to load raises ``ModelLoadFailed`` with Triton's reason at once
    (``known_failures``: entries that failed before the change, which a polling server has not
    retried yet); an index that does not answer (a connection hiccup) is "not yet"; the time
    running out raises ``ModelReadyTimeout`` (a ``NotReady``) naming what is served.
    """
    from tritonctl.process import NotReady, wait_until
    from tritonctl.server.health import ModelLoadFailed, ModelReadyTimeout

    last: list[str] = []

    def settled():
        try:
            entries = [m for m in model_statuses(client) if m.name == model]
        except ClientError:
            return None
        wanted = want(entries)
        for m in entries:
            if m.version in wanted and m.failed and m not in known_failures:
                raise ModelLoadFailed(f"model '{model}' version {m.version} failed to load: {m.short_reason}", m)
        last[:] = sorted((m.version for m in entries if m.ready), key=int)
        return list(last) if last == wanted else None

    try:
        return wait_until(settled, timeout_s, what=f"model '{model}'", interval=0.2)
    except NotReady as exc:
        raise ModelReadyTimeout(f"model '{model}' serves version(s) {', '.join(last) or 'none'} {timeout_s:.0f}s "
                                f"after the policy became '{policy}'{hint}; `tritonctl status` shows why") from exc


def _undo(exc: BaseException, path: Path, old_text: str, policy: str) -> None:
    """Put ``old_text`` back into ``path`` (atomically) after a failed switch, and say so in ``exc``."""
    from tritonctl.repository import write_atomic

    try:
        write_atomic(path, old_text)
        note = f"{path} is restored to the version policy it had (the pin to '{policy}' is undone)"
    except OSError as err:
        note = f"restoring {path} failed ({err}): it still pins '{policy}'"
    if isinstance(exc, Exception) and exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}; {note}", *exc.args[1:])


def pin(client, model: str, to: str | None = None, repository: Path | None = None,
        mode: str | None = None, timeout_s: float = 120.0) -> PinResult:
    """Serve ``to`` (a version, ``latest``, or by default the previous version) of ``model``.

    ``repository``: the directory the server reads (its config.pbtxt is rewritten, and put back as
    it was when the server does not apply it); ``mode``: the server's model-control mode when known
    (the local server's pid file says), else found out. ``client`` None: no server to tell (a
    repository a cluster reads after ``tritonctl push``): only the directory is pinned.
    Raises ``ModelLoadFailed`` (Triton's reason) when a version the policy asks for fails to load,
    ``ModelReadyTimeout`` when the server does not serve what the policy selects in ``timeout_s``.
    """
    from tritonctl import config as C
    from tritonctl.repository import CONFIG, versions, write_atomic

    if client is None:
        if repository is None:
            raise ClientError("--no-server pins a repository directory: give it with --repository DIR")
        path = Path(repository) / model / CONFIG
        if not path.is_file():
            raise ClientError(f"{path} does not exist: is {model} a model of {repository}?")
        cfg = C.read_config(path)
        available = versions(Path(repository) / model)
        was = _selects(cfg, available)
        target = choose_target(model, to, was, available)
        apply_target(cfg, target)
        write_atomic(path, C.to_text(cfg))
        return PinResult(model, policy_text(cfg), _selects(cfg, available), was, path, "file")

    before = [m for m in model_statuses(client) if m.name == model]
    was = sorted((m.version for m in before if m.ready), key=int)
    available = versions(Path(repository) / model) if repository is not None else sorted(
        {int(m.version) for m in before if m.version.isdigit()})
    # without the directory, the versions the server has listed (an explicit-mode server lists only
    # those it was asked to load: a version on disk it never loaded is unknown, and not guessed)
    target = choose_target(model, to, was, available,
                           "the repository holds" if repository is not None else "the server lists")
    if repository is not None:
        path = Path(repository) / model / CONFIG
        if not path.is_file():
            raise ClientError(f"{path} does not exist: is {repository} the repository this server reads?")
        old_text = path.read_text()
        cfg = C.parse(old_text, str(path))
        apply_target(cfg, target)
        policy = policy_text(cfg)
        write_atomic(path, C.to_text(cfg))  # whole or not at all: a polling server never reads half a file
        if mode == "none":  # not a failure: the pin is meant for the next start
            raise ClientError(f"wrote version policy '{policy}' to {path}, but the server runs in "
                              "model-control mode none and reads it only when it starts: restart it "
                              "(`tritonctl stop` and serve again; on a cluster `kubectl rollout restart deployment/RELEASE`)")
        try:
            how = "poll"
            if mode != "poll":
                try:
                    tc.load_model(client, model)  # explicit mode: the load reads the new config.pbtxt
                    how = "load"
                except ClientError as exc:
                    if "not allowed" not in str(exc):
                        raise
                    # Triton refuses loads unless in explicit mode: a polling server picks the file up
            hint = (" (a polling server rereads its repository every poll interval: `serve --poll-secs`, the "
                    "chart's server.pollSeconds, raise --timeout above it; in model-control mode none it needs a "
                    "restart)" if how == "poll" else "")
            want = _selects(cfg, available)
            served = _wait_served(client, model, lambda entries: want, timeout_s, policy, hint,
                                  frozenset(m for m in before if m.failed) if how == "poll" else frozenset())
        except BaseException as exc:  # noqa: BLE001 - refused, failed, timed out, interrupted: no pin left behind
            _undo(exc, path, old_text, policy)
            raise
        return PinResult(model, policy, served, was, path, how)

    if mode in ("none", "poll"):
        raise ClientError(f"the server runs in model-control mode {mode}: it takes versions from its repository; "
                          "give the directory it reads (--repository DIR), or pin the directory you push from "
                          "and `tritonctl push` it")
    cfg = tc.get_config_message(client, model)
    apply_target(cfg, target)
    policy = policy_text(cfg)
    try:
        tc.load_model(client, model, config=cfg)
    except ClientError as exc:
        if "not allowed" in str(exc):
            raise ClientError(f"the server refuses loads (model-control mode poll or none): it takes versions "
                              f"from its repository; pin that with --repository DIR (and `tritonctl push` it "
                              f"when the server reads a bucket)") from exc
        raise

    def want(entries):  # what the policy selects among the versions the server lists now
        return _selects(cfg, [int(m.version) for m in entries if m.version.isdigit()])

    served = _wait_served(client, model, want, timeout_s, policy)
    return PinResult(model, policy, served, was, None, "load with config")
