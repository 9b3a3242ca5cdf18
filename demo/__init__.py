"""The jaxgeo web demo: `python -m demo --workdir DIR` (see app.py) and its parts."""

# Before anything else: Gradio reads its environment when it is imported, and every module of
# the demo that imports it is imported after this one.
from demo import gradio_env  # noqa: F401
