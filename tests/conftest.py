"""Session set-up for the unit tests.

TenSEAL must be imported before TensorFlow in a process: loaded after it, its
ciphertexts crash the process when serialised (the two bring their own protobuf
runtimes). Several test modules import TensorFlow, so TenSEAL is loaded first here.
"""

import tenseal  # noqa: F401  (import order matters; see the docstring)
