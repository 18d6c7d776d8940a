"""The local Triton: the real ``tritonserver`` from the nvidia-pytriton wheel, with CPU backends.

``launcher`` finds the binary, assembles the backend directory, starts, waits for and stops the
server; ``batching`` is the shared runtime of the CPU backends (it runs inside Triton's Python
stub). Nothing heavy is imported here.
"""
