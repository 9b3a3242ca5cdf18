"""`python -m jaxgeo.predict`: the batch command line (jaxgeo.predict.cli)."""

from absl import app

from jaxgeo.predict import cli

__doc__ = cli.__doc__  # what --help shows

if __name__ == "__main__":
  cli.define_flags()
  app.run(cli.main)
