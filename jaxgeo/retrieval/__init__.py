"""Retrieval over a geotagged gallery: exact nearest neighbours, sharded over the devices."""
