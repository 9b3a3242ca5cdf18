"""`python -m jaxgeo.predict`: the batch command line (jaxgeo.predict.cli)."""

from absl import app, flags

from jaxgeo.predict import cli

__doc__ = cli.__doc__  # what --help shows

if __name__ == "__main__":
  cli.define_flags()
  # absl's --help lists the main module's own flags: these are the CLI module's.
  flags.adopt_module_key_flags(cli)
  app.run(cli.main)
