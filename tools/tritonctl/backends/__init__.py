"""The local CPU backends that let the local Triton serve ``onnxruntime_onnx`` and ``pytorch_libtorch``
models unchanged: ``onnxruntime/model.py`` and ``pytorch/model.py`` (Python-based backends, copied
into the server's backend directory by ``tritonctl.server.distribution``) over ``runtime`` (what they
share: the model config, the dynamic batcher, the thread parameters). All of it runs inside Triton's
Python backend stub; nothing heavy is imported here.
"""
