"""Share of a photo covered by frontal faces (OpenCV's Haar cascade).

Portraits and selfies say little about where a photo was taken; the DeepLocation report filtered
training photos whose face area exceeded 3.5% of the image. This is the same detector the demo
uses to decide when to show only a coarse region. OpenCV is an optional extra (`jaxgeo[build]`).
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

# DeepLocation's threshold for "portrait" photos.
PORTRAIT_FACE_RATIO = 0.035
# The cascade is run on images at most this large (shorter side), which keeps it fast and its
# result independent of the stored resolution.
_DETECT_SIZE = 320


@functools.cache
def _cascade():
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("Face detection needs OpenCV: pip install 'jaxgeo[build]' "
                      "(opencv-python-headless).") from e
  path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
  cascade = cv2.CascadeClassifier(path)
  if cascade.empty():
    raise RuntimeError(f"OpenCV could not load its face cascade {path}; opencv-python-headless "
                       "5.x no longer ships it, use the 4.x version pinned by jaxgeo[build].")
  return cv2, cascade


def face_boxes(image: Image.Image) -> np.ndarray:
  """Frontal-face boxes (x, y, w, h) in the coordinates of `image`, shape (num_faces, 4)."""
  cv2, cascade = _cascade()
  scale = min(1.0, _DETECT_SIZE / min(image.size))
  small = image if scale == 1.0 else image.resize(
      (max(1, round(image.width * scale)), max(1, round(image.height * scale))))
  grey = cv2.equalizeHist(np.asarray(small.convert("L")))
  boxes = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
  boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
  return np.round(boxes / scale).astype(np.int64)


def face_area_ratio(image: Image.Image) -> float:
  """Area covered by detected faces over the image area, in [0, 1] (overlaps counted once)."""
  boxes = face_boxes(image)
  if boxes.size == 0:
    return 0.0
  covered = np.zeros((image.height, image.width), dtype=bool)
  for x, y, w, h in boxes:
    covered[y:y + h, x:x + w] = True
  return float(covered.mean())
