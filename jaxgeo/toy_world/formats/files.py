"""FileWriter: the one way the toy world's files reach the disk, counted for the manifest."""

from __future__ import annotations

import os
from collections.abc import Iterable


class FileWriter:
  """Writes files under a root, creating folders once, and counts files and bytes."""

  def __init__(self, root: str):
    self.root = root
    self.dirs: set[str] = set()
    self.files = 0
    self.bytes = 0

  def write(self, rel: str, data: bytes) -> None:
    path = os.path.join(self.root, rel)
    d = os.path.dirname(path)
    if d not in self.dirs:
      os.makedirs(d, exist_ok=True)
      self.dirs.add(d)
    with open(path, "wb") as f:
      f.write(data)
    self.files += 1
    self.bytes += len(data)

  def write_text(self, rel: str, lines: Iterable[str]) -> None:
    self.write(rel, "".join(line + "\n" for line in lines).encode("utf-8"))
