"""Recall and false positives of the face check on labelled real photos, per O-Net threshold.

  python benchmarks/face_check.py --photos DIR [--labels benchmarks/face_check_photos.csv]

A photo with a face gets only a coarse answer (demo/privacy.py), so what matters is per photo:
of the photos showing people, how many are flagged (recall; a miss gives a fine answer with
coordinates), and of the photos without people, how many are flagged anyway (a needless coarse
answer). The labels file lists each photo (`file`), the faces a person counts in it (`faces`,
0 = nobody), the smallest face's size and where the photo comes from with its licence;
`--photos` is the folder holding the files (`benchmarks/face_photos.py` gathers them from the
packages the labels name). The cascade runs once per photo with the lowest threshold; a higher
threshold keeps the faces scored at least that high (a box is only ever suppressed by a
higher-scoring one, so this equals running at that threshold).

Also printed: faces found over faces counted, and the seconds per photo; and the same figures
for OpenCV's Haar cascade at 320 px (the check before this one) when OpenCV is installed.

`--small PX` adds the case the real photos lack, faces of PX pixels in a 12-megapixel phone
photo: each photo with people is shrunk until its largest face (as the detector boxed it at
full size) is PX px tall and pasted into a 4032x3024 frame made of a photo without people; the
table then counts those composites flagged.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time

import numpy as np
from PIL import Image, ImageOps

from jaxgeo.predict import faces
from timing import cpu_description

LABELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "face_check_photos.csv")


def read_labels(path: str) -> list[dict[str, str]]:
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  for i, row in enumerate(rows, start=2):
    if not row.get("file") or not row.get("faces", "").isdigit():
      raise ValueError(f"{path} line {i}: needs a file name and a face count, got {row}")
  return rows


def haar_counts(images: list[Image.Image]) -> list[int] | None:
  """Faces found by OpenCV's frontal Haar cascade at 320 px (the earlier check), or None."""
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
  counts = []
  for image in images:
    scale = min(1.0, 320 / min(image.size))
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    grey = cv2.equalizeHist(np.asarray(small.convert("L")))
    counts.append(len(cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                               minSize=(20, 20))))
  return counts


def table_row(name: str, found: np.ndarray, truth: np.ndarray) -> str:
  people, nobody = truth > 0, truth == 0
  flagged = found > 0
  return (f"| {name} | {flagged[people].sum()}/{people.sum()} ({flagged[people].mean():.0%}) | "
          f"{flagged[nobody].sum()}/{nobody.sum()} ({flagged[nobody].mean():.0%}) | "
          f"{np.minimum(found, truth)[people].sum()}/{truth[people].sum()} |")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--photos", required=True, help="folder holding the labelled photos")
  parser.add_argument("--labels", default=LABELS)
  parser.add_argument("--thresholds", default="0.6,0.7,0.8,0.9,0.95,0.99",
                      help="O-Net thresholds to report (comma-separated)")
  parser.add_argument("--misses", action="store_true", help="name the photos each one gets wrong")
  parser.add_argument("--small", type=int, default=0,
                      help="also: people photos shrunk to faces of this many px in a phone photo")
  args = parser.parse_args()
  rows = read_labels(args.labels)
  thresholds = sorted(float(t) for t in args.thresholds.split(","))
  images = [ImageOps.exif_transpose(Image.open(os.path.join(args.photos, r["file"]))).convert("RGB")
            for r in rows]
  truth = np.array([int(r["faces"]) for r in rows])
  scores, seconds = [], []
  faces.find_faces(images[0])  # compiles
  for image in images:
    start = time.perf_counter()
    found = faces.find_faces(image, faces.THRESHOLDS[:2] + (min(thresholds),))
    seconds.append(time.perf_counter() - start)
    scores.append(found.scores)
  print(f"{len(rows)} photos: {np.sum(truth > 0)} with people ({truth.sum()} faces counted), "
        f"{np.sum(truth == 0)} without; CPU {cpu_description()}")
  print(f"MTCNN (P-Net {faces.THRESHOLDS[0]}, R-Net {faces.THRESHOLDS[1]}), "
        f"{faces.MAX_SIDE} px, faces from {faces.MIN_FACE} px: median "
        f"{statistics.median(seconds):.2f} s a photo (max {max(seconds):.2f} s, largest photo "
        f"{max(max(im.size) for im in images)} px)\n")
  print("| check | photos with people flagged | photos without people flagged | faces found |")
  print("| --- | --- | --- | --- |")
  for t in thresholds:
    found = np.array([int(np.sum(s >= t)) for s in scores])
    print(table_row(f"MTCNN, O-Net >= {t:g}" + (" (jaxgeo's)" if t == faces.THRESHOLDS[2]
                                                else ""), found, truth))
    if args.misses:
      for row, n, k in zip(rows, found, truth):
        if (n > 0) != (k > 0):
          print(f"    {'missed' if k else 'flagged'}: {row['file']} ({n} found, {k} counted)")
  haar = haar_counts(images)
  if haar is not None:
    print(table_row("OpenCV Haar cascade, 320 px (before)", np.array(haar), truth))
  if args.small:
    small_faces(images, truth, thresholds, args.small)


def small_faces(images: list[Image.Image], truth: np.ndarray, thresholds: list[float],
                px: int) -> None:
  """The `--small` table: people photos with PX px faces in 4032x3024 frames."""
  rng = np.random.default_rng(0)
  backgrounds = [im for im, k in zip(images, truth) if k == 0]
  scores = []
  for n, (image, k) in enumerate(zip(images, truth)):
    found = faces.find_faces(image)
    if k == 0 or not len(found):
      continue
    shrink = px / found.boxes[:, 3].max()
    if shrink >= 1:
      continue
    size = (max(1, round(image.width * shrink)), max(1, round(image.height * shrink)))
    person = image.resize(size, Image.Resampling.LANCZOS)
    frame = backgrounds[n % len(backgrounds)].resize((4032, 3024), Image.Resampling.BICUBIC)
    frame.paste(person, (int(rng.integers(0, 4032 - person.width)),
                         int(rng.integers(0, 3024 - person.height))))
    scores.append(faces.find_faces(frame, faces.THRESHOLDS[:2] + (min(thresholds),)).scores)
  print(f"\n{len(scores)} people photos shrunk to {px} px faces in 4032x3024 frames:")
  print("| check | composites flagged |\n| --- | --- |")
  for t in thresholds:
    flagged = sum(bool(np.any(s >= t)) for s in scores)
    print(f"| MTCNN, O-Net >= {t:g} | {flagged}/{len(scores)} ({flagged / len(scores):.0%}) |")


if __name__ == "__main__":
  main()
