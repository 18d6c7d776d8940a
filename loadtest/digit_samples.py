"""Write real digit images as PNG files for the digits_pipeline users (``--samples``).

    python loadtest/digit_samples.py examples/digits_samples -n 20

Takes scikit-learn's digits, the same held-out test split the example model was not trained
on (``examples.digits.dataset``), upscaled to 28x28 with PIL, white digit on black as the
model expects. Files are named ``<index>_label<digit>.png`` so a check can compare labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _test_split():
    """(images 8x8 in 0..16, labels) of the held-out split."""
    import numpy as np
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    try:
        import torch

        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0)).numpy()
    except ImportError:  # same idea without torch: a seeded permutation
        order = np.random.RandomState(0).permutation(len(labels))
    test = order[int(0.8 * len(labels)):]
    return images[test].reshape(-1, 8, 8), labels[test]


def write_samples(out: Path, count: int = 20, size: int = 28) -> list[Path]:
    """Write ``count`` PNGs (balanced over the ten digits when count >= 10); return their paths."""
    import numpy as np
    from PIL import Image

    images, labels = _test_split()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    picked: list[int] = []
    for round_ in range(len(labels)):
        for digit in range(10):
            idx = np.flatnonzero(labels == digit)
            if round_ < len(idx) and len(picked) < count:
                picked.append(int(idx[round_]))
        if len(picked) >= count:
            break
    paths = []
    for n, i in enumerate(picked):
        pixels = (images[i] / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(pixels, mode="L").resize((size, size), Image.BILINEAR)
        path = out / f"{n:03d}_label{int(labels[i])}.png"
        img.save(path, format="PNG")
        paths.append(path)
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default=str(REPO / "examples" / "digits_samples"))
    p.add_argument("-n", "--count", type=int, default=20)
    p.add_argument("--if-missing", action="store_true", help="do nothing when OUT already holds PNG files")
    a = p.parse_args(argv)
    if a.if_missing and any(Path(a.out).glob("*.png")):
        return 0
    paths = write_samples(Path(a.out), a.count)
    print(f"wrote {len(paths)} digit PNGs to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
