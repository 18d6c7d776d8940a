"""tritonctl bench: argument parsing, CSV round trip, plot, Locust run helpers."""

from __future__ import annotations

import pytest

from tritonctl.bench import locust_run, report
from tritonctl.bench.stability import Measurement
from tritonctl.bench.sweep import CLIENT_BOUND_PCT, Point, Series, Target, parse_concurrency, parse_target
from tritonctl.errors import ClientError


@pytest.mark.parametrize("text, protocol, expected", [
    ("grpc://triton:8001", "http", [Target("grpc", "triton:8001")]),
    ("http://triton", "grpc", [Target("http", "triton:8000")]),
    ("https://triton.example.com/v2prefix/", "grpc", [Target("http", "triton.example.com:443/v2prefix", True)]),
    ("grpcs://triton.example.com", "grpc", [Target("grpc", "triton.example.com:443", True)]),
    ("localhost", "both", [Target("grpc", "localhost:8001"), Target("http", "localhost:8000")]),
    ("localhost:9001", "grpc", [Target("grpc", "localhost:9001")]),
])
def test_urls_become_targets(text, protocol, expected):
    assert parse_target(text, protocol) == expected


@pytest.mark.parametrize("text, msg", [("ftp://x", "scheme 'ftp'"), ("localhost:9000", "two --url options")])
def test_bad_urls_say_what_to_write(text, msg):
    with pytest.raises(ClientError, match=msg):
        parse_target(text, "both")


@pytest.mark.parametrize("text, levels", [("1,2,4,8", [1, 2, 4, 8]), ("1:4", [1, 2, 3, 4]), ("2:8:3", [2, 5, 8])])
def test_concurrency_lists_and_ranges(text, levels):
    assert parse_concurrency(text) == levels


@pytest.mark.parametrize("text", ["", "0,1", "a,b", "1:x"])
def test_bad_concurrency_is_refused(text):
    with pytest.raises(ClientError, match="--concurrency"):
        parse_concurrency(text)


def _series(label="linear grpc", batch=1, cpu=10.0):
    s = Series(label, "linear", "grpc", "localhost:8001", batch)
    for c, rps, p99 in ((1, 500.0, 3.0), (2, 800.0, 4.5)):
        m = Measurement(requests=int(rps * 6), errors=0, duration_s=6.0, throughput=rps, avg_ms=1.5, p50_ms=1.2,
                        p95_ms=2.5, p99_ms=p99, stable=True, windows=3, client_cpu_pct=cpu)
        s.points.append(Point(c, m, batch))
    return s


def test_csv_round_trip_keeps_series_levels_and_figures(tmp_path):
    path = report.write_csv([_series(batch=4)], tmp_path / "b.csv")
    (back,) = report.read_csv(path, label_suffix=" (old)")
    assert back.label == "linear grpc (old)" and back.batch_size == 4
    assert [p.concurrency for p in back.points] == [1, 2]
    assert back.points[1].infer_per_s == pytest.approx(3200.0)
    assert back.points[1].m.p99_ms == pytest.approx(4.5) and back.points[0].m.stable


def test_a_csv_that_is_not_from_bench_is_refused(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ClientError, match="not a `tritonctl bench` CSV"):
        report.read_csv(bad)


def test_the_plot_is_a_png_with_every_series(tmp_path):
    path = report.plot([_series(), _series("linear http")], tmp_path / "p.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_client_bound_follows_the_client_cpu():
    assert not _series(cpu=CLIENT_BOUND_PCT - 1).points[0].client_bound
    assert _series(cpu=CLIENT_BOUND_PCT + 1).points[0].client_bound


def test_locust_user_classes_follow_model_and_protocol():
    assert locust_run.user_classes_for("linear", "both") == ["ModelGrpcUser", "ModelHttpUser"]
    assert locust_run.user_classes_for("digits_pipeline", "http") == ["DigitsPipelineHttpUser"]
    with pytest.raises(ClientError):
        locust_run.user_classes_for("linear", "udp")


def test_locust_command_carries_target_thresholds_and_reports(tmp_path):
    cmd = locust_run.locust_command("localhost:8000", "linear", 3, 5, protocol="grpc", grpc_host="localhost:8001",
                                    out_prefix=tmp_path / "r", html=tmp_path / "r.html", max_fail_ratio=0.0,
                                    max_p99_ms=250, shape="spike")
    joined = " ".join(cmd)
    assert "--headless" in cmd and "--host http://localhost:8000" in joined and "--grpc-host localhost:8001" in joined
    assert "--models linear" in joined and "--max-fail-ratio 0.0" in joined and "--max-p99-ms 250" in joined
    assert cmd[cmd.index("-f") + 1].endswith("loadtest/locustfile.py," + str(locust_run.locustfile_path().parent / "shapes" / "spike.py"))
    assert cmd[-1] == "ModelGrpcUser"


def test_summary_reads_locust_stats_csv(tmp_path):
    csv_text = (
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
        "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        "grpc,linear/1,100,0,2,2.5,1,9,8,50.0,0,2,2,3,3,4,5,6,7,9,9,9\n"
        ",Aggregated,100,0,2,2.5,1,9,8,50.0,0,2,2,3,3,4,5,6,7,9,9,9\n"
    )
    (tmp_path / "s.csv").write_text(csv_text)
    s = locust_run.summarize(locust_run.read_stats_csv(tmp_path / "s.csv"))
    assert s["requests"] == 100 and s["p99_ms"] == 7 and s["rps"] == 50.0
    assert s["per_name"] == [{"type": "grpc", "name": "linear/1", "requests": 100, "failures": 0, "rps": 50.0,
                              "avg_ms": 2.5, "p50_ms": 2.0, "p95_ms": 5.0, "p99_ms": 7.0}]


def test_perf_analyzer_command_matches_the_bench_rule_and_gets_valid_integer_data(tmp_path):
    from pathlib import Path

    from tritonctl.bench import perf_analyzer as pa

    tool = pa.PerfAnalyzer(Path("/x/perf_analyzer"), Path("/x/lib"))
    cfg = {"name": "text_classifier", "max_batch_size": 8, "input": [
        {"name": "input_ids", "data_type": "TYPE_INT64", "dims": [-1]},
        {"name": "attention_mask", "data_type": "TYPE_INT64", "dims": [-1]}]}
    shapes = pa._shape_args(cfg, 16)
    assert shapes == ["--shape", "input_ids:16", "--shape", "attention_mask:16", "--input-data", "zero"]
    cmd = pa.command(tool, "text_classifier", "localhost:8001", "grpc", 4, batch_size=2, window_ms=3000,
                     stability_pct=10, max_trials=10, shape_args=shapes, csv_path=tmp_path / "o.csv")
    joined = " ".join(cmd)
    for part in ("-m text_classifier", "-u localhost:8001", "-i grpc", "-b 2", "--concurrency-range 4:4",
                 "--measurement-interval 3000", "--stability-percentage 10", "--max-trials 10", "-f "):
        assert part in joined
    assert tool.env()["LD_LIBRARY_PATH"].split(":")[0] == "/x/lib"


def test_perf_analyzer_cross_check_refuses_encoded_image_inputs_with_the_reason():
    from tritonctl.bench import perf_analyzer as pa

    cfg = {"name": "digits_pipeline", "input": [{"name": "IMAGE", "data_type": "TYPE_STRING", "dims": [1]}]}
    with pytest.raises(ClientError, match="IMAGE is BYTES"):
        pa._shape_args(cfg, 16)
