"""XMP sidecars with the predicted position: exiftool reads back the same coordinates, the photo
is never touched, and the rules (faces, coarse, GPS, existing sidecars) hold."""

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from jaxgeo.predict import answers, xmp
from tests.conftest import REPO

SYDNEY_OPERA_HOUSE = (-33.856784, 151.215297)
GOLDEN_GATE = (37.819929, -122.478255)


def _exiftool_gps(path) -> tuple[float, float, str]:
  if shutil.which("exiftool") is None:
    pytest.skip("exiftool not installed (Debian: apt-get install libimage-exiftool-perl; "
                "`make test` installs it)")
  out = subprocess.run(["exiftool", "-json", "-n", "-GPSLatitude", "-GPSLongitude",
                        "-GPSProcessingMethod", str(path)], capture_output=True, text=True,
                       check=True)
  (tags,) = json.loads(out.stdout)
  return tags["GPSLatitude"], tags["GPSLongitude"], tags["GPSProcessingMethod"]


def _prediction(lat, lon, *, coarse=False, gps=None) -> answers.Prediction:
  place = answers.Place(lat, lon, 0.4, "cells_fine", 3, "47e66f", "Somewhere, Earth", "AU")
  truth = answers.TrueLocation(*gps, "exif", 1.0) if gps else None
  return answers.Prediction(
      source="photo.jpg", places=[place], granularities=[], tags=[], tag_source="none",
      tag_location=None, landmark=None, neighbours=None, true_location=truth, coarse=coarse,
      five_crop=False, method="hybrid", within_km={25.0: 0.41, 200.0: 0.62, 750.0: 0.8})


@pytest.mark.parametrize("place", [SYDNEY_OPERA_HOUSE, GOLDEN_GATE])
def test_exiftool_reads_the_predicted_position_back(tmp_path, place):
  path = tmp_path / "photo.jpg.xmp"
  xmp.write_sidecar(_prediction(*place), str(path))
  lat, lon, method = _exiftool_gps(path)
  assert (lat, lon) == pytest.approx(place, abs=1e-6)  # southern and western: negative
  assert method.startswith("Predicted by jaxgeo (hybrid), not measured")
  assert "chance within 25 km 41%, 200 km 62%, 750 km 80%" in method


def test_rules_refuse_faces_coarse_gps_and_existing_sidecars(tmp_path):
  path = str(tmp_path / "a.jpg.xmp")
  fine = _prediction(*GOLDEN_GATE)
  assert xmp.sidecar_refusal(fine, path, faces=0) is None
  assert xmp.sidecar_refusal(fine, path, faces=2) == "faces"
  assert xmp.sidecar_refusal(fine, path, faces=None) == "no_face_check"
  assert xmp.sidecar_refusal(_prediction(*GOLDEN_GATE, coarse=True), path, 0) == "coarse"
  assert xmp.sidecar_refusal(_prediction(*GOLDEN_GATE, gps=GOLDEN_GATE), path, 0) == "has_gps"
  (tmp_path / "a.jpg.xmp").write_text("darktable's edits")
  assert xmp.sidecar_refusal(fine, path, faces=0) == "sidecar_exists"
  with pytest.raises(FileExistsError):
    xmp.write_sidecar(fine, path)
  assert (tmp_path / "a.jpg.xmp").read_text() == "darktable's edits"
  assert xmp.sidecar_path("/photos/2019/a.jpg") == "/photos/2019/a.jpg.xmp"
  assert xmp.sidecar_path("/photos/2019/a.jpg", "/out") == "/out/a.jpg.xmp"


def test_cli_writes_sidecars_and_leaves_the_photos_alone(runlocal_workdir, tmp_path):
  photos = tmp_path / "photos"
  photos.mkdir()
  for src in sorted((runlocal_workdir / "toy_world" / "im2gps3k" / "images").glob("*.jpg"))[:3]:
    shutil.copy(src, photos)
  digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in photos.iterdir()}
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, "-m", "jaxgeo.predict", "--workdir", str(runlocal_workdir),
       "--output_dir", str(out), "--write_xmp", str(photos)], cwd=REPO, capture_output=True,
      text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "XMP sidecars: 3 written" in result.stdout
  rows = {r.split(",")[0]: r.split(",") for r in (out / "predictions.csv").read_text()
          .splitlines()[1:]}
  for name, digest in digests.items():
    assert hashlib.sha256((photos / name).read_bytes()).hexdigest() == digest
    lat, lon, _ = _exiftool_gps(photos / f"{name}.xmp")
    row = rows[str(photos / name)]
    assert (lat, lon) == pytest.approx((float(row[1]), float(row[2])), abs=1e-6)
  # A new run over the same photos (another output folder: the same one would resume the
  # finished run and redo nothing): the sidecars exist now and are never replaced.
  sidecars = {p.name: p.read_bytes() for p in photos.glob("*.xmp")}
  again = subprocess.run(
      [sys.executable, "-m", "jaxgeo.predict", "--workdir", str(runlocal_workdir),
       "--output_dir", str(tmp_path / "again"), "--write_xmp", str(photos)], cwd=REPO,
      capture_output=True, text=True, timeout=300)
  assert "XMP sidecars: 0 written; none for sidecar_exists: 3" in again.stdout
  assert {p.name: p.read_bytes() for p in photos.glob("*.xmp")} == sidecars
