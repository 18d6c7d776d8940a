"""tritonctl tune: pick a model configuration from served measurements.

* ``session``    - one tune run as a library call: ``TuneSession(TuneRequest(...)).run()`` validates
  the request, measures the grid, picks the winner and (with ``write``) applies it, returning a
  ``TuneOutcome``; ``commands/tune.py`` only parses options into the request;
* ``candidates`` - the search space (format, max_batch_size, preferred batch sizes, queue delay,
  instance count, threads) and each candidate's ``ModelConfig`` override;
* ``objective``  - measurements and the choice: highest throughput whose p99 fits the budget;
* ``measure``    - what a candidate is measured with: Triton request functions and the per-level
  record (``LevelResult``). The closed loop itself is ``bench.sweep.measure_level``, the one load generator of
  bench, tune and benchmarks/peers.py;
* ``runner``     - loads each candidate through the repository API (``config`` override, nothing
  on disk touched), measures it, and restores the served model on every exit;
* ``writeback``  - the winner into models.yaml (a surgical, comment-keeping patch) and config.pbtxt,
  both written by the repository writer;
* ``report``     - the outcome for people and files: table, plot, JSON, closing lines.
"""
