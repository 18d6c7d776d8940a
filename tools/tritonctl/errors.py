"""One root error type with a few meaningful subclasses.

The CLI prints ``str(error)`` on one line and exits non-zero; the traceback only with ``-v``.
Every message names where the problem is (file, model, field or request) and the fix.
"""


class TritonctlError(Exception):
    """Root of every error tritonctl reports to a user."""

    exit_code = 1


class SpecError(TritonctlError):
    """models.yaml is invalid: names the file, the model and the field."""

    exit_code = 2


class ExportError(TritonctlError):
    """A model could not be loaded, traced, scripted or exported."""


class ParityError(TritonctlError):
    """An exported artifact disagrees with eager PyTorch."""


class ShapeError(ParityError):
    """An output's shape differs from the declared or eager one."""


class ToleranceError(ParityError):
    """An output differs from eager PyTorch beyond the tolerance."""


class RepositoryError(TritonctlError):
    """The model repository could not be written or read."""


class CheckError(TritonctlError):
    """`tritonctl check` found errors in a repository."""


class ServeError(TritonctlError):
    """The local Triton server could not start, or a model failed to load."""


class ClientError(TritonctlError):
    """An inference or repository request to Triton failed."""


class StorageError(TritonctlError):
    """A repository location (directory, s3://, gs://, as://) could not be read or written; names the
    bucket, the endpoint and where the credentials came from."""
