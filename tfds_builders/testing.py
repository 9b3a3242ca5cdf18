"""Test helper: run Python code in a fresh interpreter where TensorFlow looks uninstalled.

Builders must build, and the input pipeline read, without TensorFlow. Every import finder is
wrapped so that none finds `tensorflow`: `import tensorflow` fails and importlib.util.find_spec
returns None, which is how tfds and etils probe for it. (A `None` entry in sys.modules would not
do: tfds takes any "tensorflow" key there to mean TensorFlow is loaded.)
"""

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_HIDE_TENSORFLOW = textwrap.dedent("""\
    import importlib.util
    import sys


    class _HideTensorFlow:

      def __init__(self, finder):
        self.finder = finder

      def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
          return None
        find_spec = getattr(self.finder, "find_spec", None)
        return find_spec(name, path, target) if find_spec else None

      def __getattr__(self, attr):
        return getattr(self.finder, attr)


    sys.meta_path[:] = [_HideTensorFlow(finder) for finder in sys.meta_path]
    assert importlib.util.find_spec("tensorflow") is None
    """)


def run_without_tensorflow(code: str, *args: str,
                           timeout: float = 300) -> subprocess.CompletedProcess:
  """Runs `code` (dedented; `sys.argv[1:]` = args) and returns the finished process.

  The code runs from the repository root; at its end the helper prints
  `tensorflow imported: <bool>` so callers can assert that nothing loaded TensorFlow.
  """
  program = (_HIDE_TENSORFLOW + textwrap.dedent(code)
             + '\nprint("tensorflow imported:", "tensorflow" in sys.modules)\n')
  return subprocess.run([sys.executable, "-c", program, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout)
