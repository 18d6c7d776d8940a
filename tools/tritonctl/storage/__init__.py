"""Where a model repository lives and how to read and write it there: a directory, or a prefix in
S3, GCS or Azure Blob storage, through fsspec's filesystems (the ``storage`` extra).

``location`` parses every URL form Triton accepts for ``--model-repository`` (``Location``, ``parse``)
and says where its credentials come from; ``store`` reads, lists, writes and deletes objects there
with errors that name the bucket, the endpoint and the credentials (``Store``). Used by
``tritonctl push`` (``tritonctl.push``), ``tritonctl serve s3://...`` (``server.launcher`` checks the
bucket before Triton starts) and ``tritonctl check s3://...`` (``check.remote``). Nothing heavy is
imported here: the filesystems are imported when a location is opened.
"""
