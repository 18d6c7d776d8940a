"""The wire layer: what every client of Triton needs to know, and nothing else.

numpy and the standard library only, importing nothing from the rest of tritonctl, so that every
other module can import it and the two programs that run without tritonctl (the Locust files in a
plain Locust image, the chart's ``helm test`` script in the Triton SDK image) receive a generated
copy of it (``triton_wire.py``, written by ``tools/chart/wire_bundle.py``; a test fails when a copy is
stale):

* ``dtypes``: the one data-type table (models.yaml, config.pbtxt, wire, numpy, ONNX names);
* ``shapes``: how long a dynamic dimension is when nobody says, and request shapes;
* ``inputs``: random valid inputs, honouring each integer input's ``values:`` range (which build
  writes into config.pbtxt, so a client that sees only the server draws from it too) and BYTES;
* ``urls``: Triton's default ports and the one URL parser (TLS kept);
* ``stats``: the arithmetic of Triton's statistics extension (counters, differences, breakdown).

The bundle is these files concatenated in that order, with the lines that import a sibling
(``from tritonctl.wire.<module> import ...``) dropped: so a module imports siblings only that way,
one line per import, and no two modules define the same top-level name (the bundle test checks).
"""
