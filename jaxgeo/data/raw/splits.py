"""Stable train/validation assignment by a hash of the record id.

A random draw would change with the seed, the order of the files or the number of workers; a hash
of the id puts a photo in the same split in every build, on every machine and runner.
"""

import hashlib


def hash_fraction(record_id: str) -> float:
  """A number in [0, 1) fixed by the id alone."""
  digest = hashlib.sha256(record_id.encode("utf-8")).digest()
  return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(record_id: str, validation_fraction: float) -> str:
  """`validation` for about `validation_fraction` of ids, `train` for the rest."""
  return "validation" if hash_fraction(record_id) < validation_fraction else "train"
