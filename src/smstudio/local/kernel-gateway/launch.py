"""Start Jupyter Kernel Gateway from the mounted runtime.

PYTHONHOME points this interpreter at the mounted stdlib; it is removed before any
kernel starts so kernels run on the image's own Python, untouched.
"""

import os

os.environ.pop("PYTHONHOME", None)

from kernel_gateway import launch_instance

launch_instance()
