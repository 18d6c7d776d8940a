"""The local Triton: the real ``tritonserver`` from the nvidia-pytriton wheel, with CPU backends.

``distribution`` finds the binary and assembles the backend directory (the CPU backends
themselves, and the runtime they share inside Triton's Python stub, are ``tritonctl.backends``);
``launcher`` starts, waits for and stops the server; ``health`` reads server and model readiness
(typed model states, ``wait_for_model_ready``) from any Triton; ``stubs`` notices a backend stub
that died while its model is loaded. Nothing heavy is imported here.
"""
