"""Dynamic batching really merges requests, results are split back to the right request, and a
bad request fails alone while its batch neighbours succeed."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import numpy as np
import pytest

from tritonctl import client as tc

pytestmark = pytest.mark.integration


# A merge is a matter of timing on Triton's default 200 us queue delay; on a busy 2-core machine
# concurrent requests may well arrive one by one. The merge tests therefore serve copies of the
# built example models whose dynamic batcher waits (up to QUEUE_DELAY_S) for exactly the batch the
# test sends: the requests are then merged into ONE execution as soon as the last one arrives,
# which Triton's statistics (execution vs inference counts) prove.
QUEUE_DELAY_S = 20


@pytest.fixture(scope="module")
def merging_server(copy_example_models, tmp_path_factory):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc
    from serverkit import start_server, stop_server

    root = tmp_path_factory.mktemp("merging")
    repo = root / "repo"
    for model, preferred in (("digits", 24), ("text_classifier", 12), ("text_classifier_torchscript", 12)):
        copy_example_models([model], repo)
        path = repo / model / "config.pbtxt"
        cfg = text_format.Parse(path.read_text(), mc.ModelConfig())
        cfg.dynamic_batching.max_queue_delay_microseconds = QUEUE_DELAY_S * 1_000_000
        cfg.dynamic_batching.preferred_batch_size[:] = [preferred]
        path.write_text(text_format.MessageToString(cfg))
    served = start_server(repo, root)
    try:
        yield served
    finally:
        stop_server(served)


def model_stats(served, model: str, after: tuple[int, int] | None = None, requests: int = 0) -> tuple[int, int]:
    """(inference_count, execution_count) from Triton's statistics extension: inferences count
    batch rows, executions count model runs; fewer executions than requests means a merge.

    A backend reports its statistics just after it sends the responses, so a client can read them
    before they include its own requests: with ``after`` (an earlier reading) the call waits until
    ``requests`` more requests are counted (successful or failed) before answering."""

    def read():
        with urllib.request.urlopen(f"http://{served.http_url}/v2/models/{model}/stats", timeout=30) as resp:
            (s,) = json.loads(resp.read())["model_stats"]
        done = sum(int(s["inference_stats"][k].get("count", 0)) for k in ("success", "fail"))
        return done, (int(s.get("inference_count", 0)), int(s.get("execution_count", 0)))

    done, counts = read()
    if after is None:
        return counts
    deadline = time.monotonic() + 60
    while done < after[2] + requests and time.monotonic() < deadline:
        time.sleep(0.05)
        done, counts = read()
    assert done >= after[2] + requests, f"{model}: Triton counted {done - after[2]} of {requests} requests"
    return counts


def snapshot(served, model: str) -> tuple[int, int, int]:
    """(inference_count, execution_count, requests counted) now, to pass to model_stats(after=)."""
    with urllib.request.urlopen(f"http://{served.http_url}/v2/models/{model}/stats", timeout=30) as resp:
        (s,) = json.loads(resp.read())["model_stats"]
    done = sum(int(s["inference_stats"][k].get("count", 0)) for k in ("success", "fail"))
    return int(s.get("inference_count", 0)), int(s.get("execution_count", 0)), done


def fire_concurrently(server, model: str, feeds: list[dict], protocol: str = "grpc") -> list:
    """Send every request at the same moment from its own thread; results or exceptions, in order."""
    results: list = [None] * len(feeds)
    barrier = threading.Barrier(len(feeds))

    def worker(i):
        c = tc.make_client(server.url(protocol), protocol)
        try:
            barrier.wait()
            results[i] = tc.infer(c, model, feeds[i], request_id=f"req-{i}")
        except Exception as exc:  # collected and asserted by the caller
            results[i] = exc
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(feeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a request never came back"
    return results


def test_concurrent_requests_are_merged_into_one_execution(merging_server, eager_models):
    """digits: 16 requests of 1 or 2 rows (24 rows, the preferred batch) become one model run,
    and each request gets its own rows back."""
    before = snapshot(merging_server, "digits")
    inf0, exe0, _ = before
    rng = np.random.default_rng(1)
    feeds = [{"image": rng.random((1 + i % 2, 1, 28, 28), dtype=np.float32)} for i in range(16)]
    results = fire_concurrently(merging_server, "digits", feeds)
    inf1, exe1 = model_stats(merging_server, "digits", after=before, requests=16)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    assert inf1 - inf0 == 24
    assert exe1 - exe0 == 1, f"16 requests ran in {exe1 - exe0} executions: not merged into one"
    import torch

    module = eager_models("digits")
    for feed, res in zip(feeds, results):  # each request got its own rows back
        with torch.no_grad():
            want = module(torch.from_numpy(feed["image"])).numpy()
        np.testing.assert_allclose(res["logits"], want, atol=1e-4, rtol=1e-3)


def test_the_session_server_counts_every_row_once(server):
    """The unmodified example config (200 us delay): however the requests were grouped, Triton
    counted every row once and never ran more executions than requests."""
    before = snapshot(server, "digits")
    inf0, exe0, _ = before
    rng = np.random.default_rng(3)
    feeds = [{"image": rng.random((1 + i % 2, 1, 28, 28), dtype=np.float32)} for i in range(8)]
    results = fire_concurrently(server, "digits", feeds)
    assert not [r for r in results if isinstance(r, Exception)]
    inf1, exe1 = model_stats(server, "digits", after=before, requests=8)
    assert inf1 - inf0 == 12 and 1 <= exe1 - exe0 <= 8


@pytest.mark.parametrize("model", ["text_classifier", "text_classifier_torchscript"])
def test_a_bad_request_fails_alone_in_a_merged_batch(merging_server, model, eager_models):
    """Token ids beyond the vocabulary make the merged model call fail: only that request errors,
    and Triton's statistics show that all twelve were in one execution."""
    c = tc.make_client(merging_server.grpc_url, "grpc")
    try:
        names = [i["name"] for i in tc.get_config(c, model)["input"]]
    finally:
        c.close()
    rng = np.random.default_rng(2)
    feeds = []
    for i in range(12):
        ids = rng.integers(0, 1000, size=(1, 16)).astype(np.int64)
        if i == 5:
            ids[0, 3] = 50_000  # out of the embedding's range
        feeds.append(dict(zip(names, [ids, np.ones((1, 16), np.int64)])))
    before = snapshot(merging_server, model)
    results = fire_concurrently(merging_server, model, feeds)
    _, exe1 = model_stats(merging_server, model, after=before, requests=12)
    assert exe1 - before[1] == 1, f"12 requests ran in {exe1 - before[1]} executions: the bad one was not in a merged batch"
    bad = results[5]
    assert isinstance(bad, Exception), "the out-of-vocabulary request should fail"
    assert model in str(bad) and "req-5" in str(bad)
    import torch

    module = eager_models("text_classifier")
    for i, (feed, res) in enumerate(zip(feeds, results)):
        if i == 5:
            continue
        assert not isinstance(res, Exception), f"request {i} failed with its neighbour: {res}"
        with torch.no_grad():
            want = module(*[torch.from_numpy(a) for a in feed.values()]).numpy()
        np.testing.assert_allclose(next(iter(res.values())), want, atol=1e-4, rtol=1e-3)


def test_a_bad_image_fails_alone_in_the_pipeline(server):
    from test_serve import digit_png

    feeds = []
    labels = []
    for i in range(8):
        data, label = digit_png(-20 - i)
        if i == 3:
            data = b"GIF89a but not really an image"
        feeds.append({"IMAGE": tc.encode_image(data)})
        labels.append(label)
    results = fire_concurrently(server, "digits_pipeline", feeds, protocol="http")
    assert isinstance(results[3], Exception) and "not a decodable image" in str(results[3])
    for i, res in enumerate(results):
        if i != 3:
            assert not isinstance(res, Exception), res
            assert res["LABELS"][0][0].decode() == str(labels[i])
