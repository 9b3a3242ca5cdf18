"""jaxgeo: planet-scale photo geolocation in JAX."""

__version__ = "0.1.0"
