"""digits_preprocess: raw image bytes (PNG, JPEG, ... as TYPE_STRING) -> the digits model's input.

A Triton Python-backend model (the first step of the digits_pipeline ensemble), doing what a
TorchServe handler's ``preprocess`` does: decode, grayscale, resize to 28x28, scale to [0, 1],
and invert light-background images (mean > 0.5) so dark ink on white paper looks like the
white-on-black digits the classifier was trained on.

Config (written by `tritonctl build` from models.yaml):
  input  IMAGE  TYPE_STRING [1]          (with max_batch_size > 0: [batch, 1])
  output image  TYPE_FP32   [1, 28, 28]
  parameters: max_image_bytes (default 4 MiB): larger payloads are refused per request.

Each request is answered on its own: bytes that are not an image, or too many of them, fail
that request with a message naming it; its batch neighbours get their results. Self-contained
(numpy + Pillow): it runs unchanged in the official Triton image, which has numpy; Pillow is
declared in models.yaml (`requirements:`) and vendored into the version directory by the build.
"""

from __future__ import annotations

import io
import json

import numpy as np
import triton_python_backend_utils as pb_utils

DEFAULT_MAX_IMAGE_BYTES = 4 * 1024 * 1024


class TritonPythonModel:
    def initialize(self, args):
        from PIL import Image  # noqa: F401  (fail at load time, with a clear reason, if Pillow is absent)

        config = json.loads(args["model_config"])
        self.name = config.get("name", "digits_preprocess")
        self.batching = int(config.get("max_batch_size", 0) or 0) > 0
        out = pb_utils.get_output_config_by_name(config, "image")
        if out is None:
            raise ValueError(f"model '{self.name}': config.pbtxt needs an output named 'image'")
        dims = [int(d) for d in out["dims"]]
        if len(dims) != 3 or dims[0] != 1 or min(dims) <= 0:
            raise ValueError(f"model '{self.name}': output 'image' must have dims [1, H, W], got {dims}")
        self.height, self.width = dims[1], dims[2]
        params = config.get("parameters") or {}
        raw = (params.get("max_image_bytes") or {}).get("string_value") or str(DEFAULT_MAX_IMAGE_BYTES)
        try:
            self.max_bytes = int(raw)
        except ValueError as exc:
            raise ValueError(f"model '{self.name}': parameter max_image_bytes must be an integer, got '{raw}'") from exc

    def _decode(self, data) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray)) or len(data) == 0:
            raise ValueError("IMAGE is empty; send the bytes of a PNG or JPEG file")
        if len(data) > self.max_bytes:
            raise ValueError(
                f"IMAGE is {len(data)} bytes, above this model's limit of {self.max_bytes} "
                "(config parameter max_image_bytes)"
            )
        try:
            img = Image.open(io.BytesIO(bytes(data)))
            img.load()
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ValueError(f"IMAGE is not a decodable image ({len(data)} bytes): {exc}") from exc
        img = img.convert("L").resize((self.width, self.height), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        if arr.mean() > 0.5:  # dark ink on a light background: make it white on black
            arr = 1.0 - arr
        return arr[None, :, :]

    def execute(self, requests):
        responses = []
        for n, request in enumerate(requests):
            try:
                items = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
                flat = items.reshape(-1) if items.size else items
                batch = items.shape[0] if self.batching else 1
                if flat.size != batch:
                    raise ValueError(f"IMAGE must hold one image per batch entry, got shape {list(items.shape)}")
                images = []
                for b, data in enumerate(flat):
                    try:
                        images.append(self._decode(data))
                    except ValueError as exc:
                        raise ValueError(f"batch entry {b}: {exc}") from None
                out = np.stack(images) if self.batching else images[0]
                responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("image", out.astype(np.float32))]))
            except Exception as exc:
                rid = request.request_id() or f"#{n} of the batch"
                responses.append(
                    pb_utils.InferenceResponse(
                        output_tensors=[],
                        error=pb_utils.TritonError(f"model '{self.name}', request {rid}: {exc}"),
                    )
                )
        return responses
