"""tritonctl: PyTorch models -> a proven Triton model repository, served locally and on Kubernetes."""

__version__ = "0.1.0"
