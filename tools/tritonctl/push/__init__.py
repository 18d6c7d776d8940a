"""`tritonctl push REPOSITORY DEST`: publish a model repository where Triton reads it.

DEST is a directory (NFS, a PVC) or a prefix in S3, GCS or Azure (``tritonctl.storage``).
``planning`` reads DEST and says what a push would do (``plan`` -> ``PushPlan``, one
``ModelPushPlan`` per model); ``publishing`` carries the plan out in the order that keeps a polling
Triton safe (``push`` -> ``PushResult``); ``manifest`` is the push's record at DEST (content hashes,
retired versions). This module only re-exports the public names.
"""

from tritonctl.push.planning import ModelPushPlan, PushPlan, plan
from tritonctl.push.publishing import PushResult, push

__all__ = ["ModelPushPlan", "PushPlan", "PushResult", "plan", "push"]
