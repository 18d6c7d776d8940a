"""The local Triton: the real ``tritonserver`` from the nvidia-pytriton wheel, with CPU backends.

``distribution`` finds the binary and assembles the backend directory; ``launcher`` starts,
waits for and stops the server; ``health`` reads server and model readiness (typed model
states, ``wait_for_model_ready``) from any Triton; ``process`` holds the pid and process-group
helpers; ``stubs`` notices a backend stub that died while its model is loaded; ``batching`` is
the shared runtime of the CPU backends (it runs inside Triton's Python stub). Nothing heavy is
imported here.
"""
