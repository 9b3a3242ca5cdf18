"""Reference implementations that tests and benchmarks check jaxgeo against (not used at run
time)."""
