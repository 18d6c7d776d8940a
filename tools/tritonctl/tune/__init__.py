"""tritonctl tune: pick a model configuration from served measurements.

* ``candidates`` - the search space (format, max_batch_size, preferred batch sizes, queue delay,
  instance count) and each candidate's ``ModelConfig`` override;
* ``objective``  - measurements and the choice: highest throughput whose p99 fits the budget;
* ``load``       - the closed-loop load generator (pluggable request functions: Triton gRPC/HTTP,
  plain HTTP, in-process) shared with benchmarks/peers.py;
* ``runner``     - loads each candidate through the repository API (``config`` override, nothing
  on disk touched), measures it, and restores the served model on every exit;
* ``writeback``  - the winner into models.yaml (a surgical, comment-keeping patch) and config.pbtxt.
"""
