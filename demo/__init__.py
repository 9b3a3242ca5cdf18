"""The jaxgeo web demo: `python demo/app.py --workdir DIR` (see app.py) and its parts."""
