"""What a Locust run against Triton does around the users: a preflight that stops the run when a
selected user cannot call its model (exit status 2, naming the model and the models the server
has), and thresholds that fail a finished run (exit status 1): ``--max-fail-ratio``,
``--max-p99-ms``, ``--min-requests``. It also registers ``--shape-steps`` for
``loadtest/shapes/step.py``.

Importing this module registers its options and listeners. Like ``triton_users`` it needs
locust and tritonclient only, never tritonctl.
"""

from __future__ import annotations

import logging

from triton_users import _TritonUser, grpc_client, grpc_endpoint, http_endpoint, parse_models  # first: gevent mode

from triton_inputs import ModelNotFound, ServerUnreachable, resolve_plan  # noqa: E402

import gevent  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from locust import events  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

log = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    # LocustArgumentParser.add_argument (not a group's) knows include_in_web_ui
    t = parser
    t.add_argument("--max-fail-ratio", env_var="LOADTEST_MAX_FAIL_RATIO", type=float, default=None,
                   include_in_web_ui=False, help="largest tolerated share of failed requests, 0..1 (e.g. 0.01)")
    t.add_argument("--max-p99-ms", env_var="LOADTEST_MAX_P99_MS", type=float, default=None,
                   include_in_web_ui=False, help="largest tolerated 99th percentile response time over all requests")
    t.add_argument("--min-requests", env_var="LOADTEST_MIN_REQUESTS", type=int, default=None,
                   include_in_web_ui=False, help="fewest requests per request name (catches a run that sent nothing)")
    t.add_argument("--shape-steps", env_var="LOADTEST_SHAPE_STEPS", type=int, default=4, include_in_web_ui=False,
                   help="steps of the step shape (default: %(default)s)")


# ------------------------------------------------------------------------------------------
# preflight: a model the server does not have stops the run with a clear message
# ------------------------------------------------------------------------------------------
def _user_targets(user_class, options) -> list[tuple[str, str]]:
    if user_class.model:
        return [(user_class.model, user_class.version)]
    return parse_models(options.models)


def preflight(environment) -> list[str]:
    """Errors (one line each) for every model a selected user class cannot call."""
    options = environment.parsed_options
    errors = []
    checked = set()
    for uc in environment.user_classes:
        if not issubclass(uc, _TritonUser):
            continue
        try:
            targets = _user_targets(uc, options)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        host = environment.host or uc.host
        for model, version in targets:
            if uc.protocol == "grpc":
                url, ssl = grpc_endpoint(options.grpc_host, host)
            else:
                url, ssl = http_endpoint(host)
            key = (uc.protocol, url, model, version)
            if key in checked:
                continue
            checked.add(key)
            try:
                if uc.protocol == "grpc":
                    client = grpc_client(url, ssl)
                else:
                    client = httpclient.InferenceServerClient(url=url, ssl=ssl, connection_timeout=10,
                                                              network_timeout=10)
                try:
                    resolve_plan(client, uc.protocol, model, version, options, url)
                finally:
                    client.close()
            except ServerUnreachable as exc:
                errors.append(f"{uc.__name__}: {exc}")
            except ModelNotFound as exc:
                errors.append(f"{uc.__name__} ({uc.protocol} {url}): {exc}")
            except Exception as exc:  # noqa: BLE001 - connection refused, DNS, TLS
                errors.append(
                    f"{uc.__name__}: cannot reach the server at {url} over {uc.protocol} ({exc}); "
                    f"check --host/--grpc-host and that the server is up (tritonctl serve)"
                )
    return errors


@events.test_start.add_listener
def _on_test_start(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    errors = preflight(environment)
    if not errors:
        return
    for e in errors:
        log.error("preflight: %s", e)
    environment.process_exit_code = 2
    if getattr(environment.parsed_options, "headless", False):
        gevent.spawn_later(0.1, environment.runner.quit)
    else:
        gevent.spawn_later(0.1, environment.runner.stop)


# ------------------------------------------------------------------------------------------
# thresholds
# ------------------------------------------------------------------------------------------
def check_thresholds(stats, options) -> list[str]:
    """Broken thresholds, one line each (empty: the run passes)."""
    broken = []
    total = stats.total
    if options.max_fail_ratio is not None and total.fail_ratio > options.max_fail_ratio:
        broken.append(
            f"failure ratio {total.fail_ratio:.4f} > --max-fail-ratio {options.max_fail_ratio} "
            f"({total.num_failures} of {total.num_requests} requests failed)"
        )
    if options.max_p99_ms is not None and total.num_requests:
        p99 = total.get_response_time_percentile(0.99)
        if p99 > options.max_p99_ms:
            broken.append(f"p99 response time {p99:.0f} ms > --max-p99-ms {options.max_p99_ms:g}")
    if options.min_requests is not None:
        entries = [e for e in stats.entries.values() if not e.name.endswith("/metadata")]
        if not entries:
            broken.append(f"no requests were sent (--min-requests {options.min_requests})")
        for e in entries:
            if e.num_requests < options.min_requests:
                broken.append(f"{e.method} {e.name}: {e.num_requests} requests < --min-requests {options.min_requests}")
    return broken


@events.quitting.add_listener
def _on_quitting(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    if environment.process_exit_code == 2:  # preflight already failed the run
        return
    o = environment.parsed_options
    if o.max_fail_ratio is None and o.max_p99_ms is None and o.min_requests is None:
        return
    broken = check_thresholds(environment.stats, o)
    for b in broken:
        log.error("threshold broken: %s", b)
    if not broken:
        log.info("thresholds passed")
    environment.process_exit_code = 1 if broken else 0
