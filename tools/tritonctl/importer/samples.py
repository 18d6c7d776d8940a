"""Sample request bodies for handlers whose input kind is not given (`--sample` overrides them).

Each group holds two requests of one kind that differ in size, so a dimension the handler does
not fix (a sentence's length) shows up as dynamic.
"""

from __future__ import annotations

import io


def _png(size: tuple[int, int], mode: str, seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = {"L": (), "RGB": (3,)}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], *channels), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def candidate_groups() -> list[list[bytes]]:
    return [
        [_png((28, 28), "L", 1), _png((40, 40), "L", 2)],  # MNIST-style digits
        [_png((256, 256), "RGB", 3), _png((320, 240), "RGB", 4)],  # ImageNet-style photos
        [b"the movie was wonderful", b"the plot was thin but the actors were very good and the music was great"],
        [b'{"data": [[0.0, 1.0, 2.0, 3.0]]}', b'{"data": [[4.0, 5.0, 6.0, 7.0]]}'],
    ]
