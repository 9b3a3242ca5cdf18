"""Gradio's environment, set before Gradio is imported (demo/__init__.py imports this first).

Gradio reads these when it is imported: no analytics calls to the network, and a private cache
folder for uploads, removed when the process exits (and at once on Ctrl-C: app.py).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

CACHE = tempfile.mkdtemp(prefix="jaxgeo-demo-")  # Gradio's copies of this process's uploads
os.environ["GRADIO_TEMP_DIR"] = CACHE
atexit.register(shutil.rmtree, CACHE, ignore_errors=True)
