"""Dynamic batching really merges requests, results are split back to the right request, and a
bad request fails alone while its batch neighbours succeed."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tritonctl import client as tc

pytestmark = pytest.mark.integration


def model_stats(client, model: str) -> tuple[int, int]:
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"]
    s = stats[0]
    return int(s.get("inference_count", 0)), int(s.get("execution_count", 0))


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
    return results


def test_concurrent_requests_are_merged_into_fewer_executions(server, eager_models):
    """digits (max_batch_size 32, one instance): 24 simultaneous requests, fewer model executions."""
    c = tc.make_client(server.grpc_url, "grpc")
    inf0, exe0 = model_stats(c, "digits")
    rng = np.random.default_rng(1)
    feeds = [{"image": rng.random((1 + i % 2, 1, 28, 28), dtype=np.float32)} for i in range(24)]
    results = fire_concurrently(server, "digits", feeds)
    inf1, exe1 = model_stats(c, "digits")
    c.close()
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    sent = sum(f["image"].shape[0] for f in feeds)
    assert inf1 - inf0 == sent
    assert exe1 - exe0 < len(feeds), f"{len(feeds)} requests ran in {exe1 - exe0} executions: nothing merged"
    import torch

    module = eager_models("digits")
    for feed, res in zip(feeds, results):  # each request got its own rows back
        with torch.no_grad():
            want = module(torch.from_numpy(feed["image"])).numpy()
        np.testing.assert_allclose(res["logits"], want, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("model", ["text_classifier", "text_classifier_torchscript"])
def test_a_bad_request_fails_alone_in_a_merged_batch(server, model, eager_models):
    """Token ids beyond the vocabulary make the model call fail: only that request errors."""
    c = tc.make_client(server.grpc_url, "grpc")
    names = [i["name"] for i in tc.get_config(c, model)["input"]]
    c.close()
    rng = np.random.default_rng(2)
    feeds = []
    for i in range(12):
        ids = rng.integers(0, 1000, size=(1, 16)).astype(np.int64)
        if i == 5:
            ids[0, 3] = 50_000  # out of the embedding's range
        feeds.append(dict(zip(names, [ids, np.ones((1, 16), np.int64)])))
    results = fire_concurrently(server, model, feeds)
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
