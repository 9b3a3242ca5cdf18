"""The face check (jaxgeo.predict.faces) on real photos: faces found, scenes left alone."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mtcnn", reason="the face detector's weights: pip install 'jaxgeo[faces]'")

from jaxgeo.predict import faces  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
PHOTOS = REPO / "tests" / "real_photos"  # sources and licences in its README
EXAMPLES = REPO / "demo" / "examples"


def _photo(name: str) -> Image.Image:
  return Image.open(PHOTOS / name).convert("RGB")


def test_real_faces_are_found_where_they_are():
  astronaut = faces.find_faces(_photo("astronaut.jpg"))
  assert len(astronaut) == 1 and astronaut.scores[0] > 0.99
  x, y, w, h = astronaut.boxes[0]  # Eileen Collins' face, between her hairline and chin
  assert 170 < x < 200 and 50 < y < 80 and 70 < w < 100 and 95 < h < 125
  cameraman = faces.find_faces(_photo("cameraman.jpg"))  # turned, half behind the camera
  assert len(cameraman) == 1 and cameraman.scores[0] > 0.99
  x, y, w, h = cameraman.boxes[0]
  assert 185 < x < 215 and 100 < y < 135


@pytest.mark.parametrize("name", ["coffee.jpg", "chelsea_cat.jpg", "rocket.jpg", "coins.jpg",
                                  "summer_palace.jpg"])
def test_real_scenes_without_people_have_no_face(name):
  # A cat's face, heads in relief on coins and a tower are what fooled the earlier check.
  assert len(faces.find_faces(_photo(name))) == 0


def test_the_demo_examples_have_no_face():
  for path in EXAMPLES.glob("*.jpg"):
    assert len(faces.find_faces(Image.open(path))) == 0, path.name


def test_a_24_px_face_in_a_12_megapixel_phone_photo_is_found():
  """The astronaut's photo shrunk until her face is 24 px tall, in a 4032x3024 frame of the
  Summer Palace: the size of a face across a square in a phone photo."""
  person = _photo("astronaut.jpg")
  shrink = 24 / 110  # her face is ~110 px tall in the original
  person = person.resize((round(512 * shrink), round(512 * shrink)), Image.Resampling.LANCZOS)
  frame = _photo("summer_palace.jpg").resize((4032, 3024), Image.Resampling.BICUBIC)
  frame.paste(person, (2600, 1900))
  found = faces.find_faces(frame)
  assert len(found) >= 1
  centres = found.boxes[:, :2] + found.boxes[:, 2:] / 2
  face_centre = np.array([2600 + 225 * shrink, 1900 + 117 * shrink])
  best = np.linalg.norm(centres - face_centre, axis=1).argmin()
  assert np.linalg.norm(centres[best] - face_centre) < 15
  assert 15 < found.boxes[best, 3] < 40


def test_tiles_answer_exactly_as_the_whole_level():
  level = (np.asarray(_photo("astronaut.jpg").resize((300, 277)), np.float32) - 127.5) / 128
  tiles, grid, windows = faces._tiles(level)
  assert grid == (2, 2) and windows == (133, 145)
  offsets, scores = faces._batched(0, tiles)
  whole_offsets, whole_scores = faces._run(0, level[None])
  # The whole level also answers for a last row of windows that overhangs its edge by a pixel;
  # the tiles answer for the windows inside it.
  inside = (slice(0, windows[0]), slice(0, windows[1]))
  np.testing.assert_allclose(faces._stitched(scores, grid, windows), whole_scores[0][inside],
                             atol=1e-5)
  np.testing.assert_allclose(faces._stitched(offsets, grid, windows), whole_offsets[0][inside],
                             atol=1e-5)


def test_nms_keeps_the_best_of_overlapping_boxes():
  boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 4, 4]], float)
  scores = np.array([0.8, 0.9, 0.7, 0.95])
  assert faces.nms(boxes, scores, 0.5).tolist() == [3, 1, 2]
  # By the smaller box's area, a box mostly inside a better one is the same face (O-Net's rule).
  assert faces.nms(boxes, scores, 0.5, by_min=True).tolist() == [3, 2]
  assert faces.nms(boxes[:3], scores[:3], 0.5, by_min=True).tolist() == [1, 2]


def test_face_area_ratio_of_a_portrait():
  ratio = faces.face_area_ratio(_photo("astronaut.jpg"))
  assert 0.030 < ratio < 0.037  # her ~85 x 105 px face of 512 x 512
  assert faces.face_area_ratio(_photo("coffee.jpg")) == 0.0
