"""`make bench-build`: time a cold `tritonctl build` of every example and a no-change rebuild.

Both runs go through the CLI in a fresh process (imports included, as a user sees it), into a
temporary repository so the working tree is untouched. Targets (2 cores): cold <= 60 s, rebuild <= 3 s.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tritonctl", "-q", *args], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> int:
    spec = os.environ.get("SPEC", "models.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        repo = str(Path(tmp) / "model_repository")
        cold = timed("build", spec, "--repository", repo)
        warm = timed("build", spec, "--repository", repo)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}; {time.strftime('%Y-%m-%d')}")
    print(f"{'run':<22}{'seconds':>9}{'target':>9}")
    print(f"{'cold build (all)':<22}{cold:>9.1f}{'60':>9}")
    print(f"{'no-change rebuild':<22}{warm:>9.2f}{'3':>9}")
    return 0 if cold <= 60 and warm <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
