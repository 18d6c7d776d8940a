"""No scenario in helm/triton/ci pins an image digest nobody read from a registry.

A digest of no image, copied into a real cluster's values, fails every pull with `manifest
unknown`. A digest may appear in a ci file only when it is listed in VERIFIED below with the image
it belongs to and where it was read (`crane digest <image>:<tag>`, `docker buildx imagetools
inspect`, the registry's page); none is listed today, so every scenario uses the release tag."""

from __future__ import annotations

import re

import helm_engine

# {"sha256:<64 hex>": "<registry>/<repository>:<tag>, read with <command or page> on <date>"}
VERIFIED: dict[str, str] = {}

DIGEST = re.compile(r"sha256:[0-9a-fA-F]{8,}")


def test_every_digest_in_a_ci_scenario_should_be_one_listed_as_read_from_a_registry():
    found = {f"{path.name}:{n}: {m.group(0)}"
             for path in helm_engine.scenario_files()
             for n, line in enumerate(path.read_text().splitlines(), 1)
             for m in DIGEST.finditer(line) if m.group(0) not in VERIFIED}
    assert not found, ("image digests in ci/ scenarios that nobody recorded reading from a registry "
                       "(use the release tag, or add the digest to VERIFIED in this file with where it "
                       f"was read): {sorted(found)}")

