"""`tritonctl import`: TorchServe model archives -> models.yaml entries (+ the files they need).

archive.py reads .mar files and model stores, settings.py maps config.properties and the
archive's model-config.yaml, probe.py analyses the handler on sample requests (in a subprocess,
with handler_runtime.py, the same code the imported Triton models run), writer.py writes the
entries and files (staged, then renamed into place: a failed import writes nothing), verify.py
serves the archive on TorchServe and the import on Triton and compares their answers.
"""

from tritonctl.importer.archive import ArchiveError
from tritonctl.importer.writer import ImportResult, import_archives

__all__ = ["ArchiveError", "ImportResult", "import_archives"]
