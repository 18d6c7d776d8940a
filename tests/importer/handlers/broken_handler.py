"""A handler whose import fails: it needs a package this environment does not have."""

import tritonctl_no_such_package  # noqa: F401
from ts.torch_handler.base_handler import BaseHandler


class Broken(BaseHandler):
    pass
