"""Load generation and measurement: ``tritonctl bench`` and the Locust runner.

* ``sweep``        closed-loop concurrency sweep with tritonclient's asyncio clients
* ``stability``    perf_analyzer-like measurement windows and stability rule
* ``report``       CSV, side-by-side tables and the throughput/p99 plot
* ``perf_analyzer`` installs Triton's perf_analyzer from the tritonclient 2.41.0 wheel and runs it
* ``crosscheck``   ``--perf-analyzer``: both tools level by level, a verdict per level, a CSV
* ``locust_run``   ``run_headless``: a short headless Locust run of loadtest/locustfile.py

Nothing heavy is imported here.
"""
