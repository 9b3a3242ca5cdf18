"""`python -m jaxgeo.toy_world --out DIR`: generates the toy world (jaxgeo.toy_world.generator)."""

from jaxgeo.toy_world import generator

__doc__ = generator.__doc__  # what --help shows

if __name__ == "__main__":
  generator.run_command_line()
