"""The model's answer to one uploaded or explored photo, as the tabs show it.

The Library and Explore tabs both answer photos with the same face check, coarse rule and
inspector page, so they share one Answerer rather than one tab reaching into the other.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable

from absl import logging
from PIL import Image

from demo import library as library_lib, privacy, report, uploads
from jaxgeo.data.raw.images import BadImage
from jaxgeo.predict import predictor as predictor_lib


class Answerer:
  """Answers photos with the loaded model: coarse for faces, or for all with `share`/`coarse`."""

  def __init__(self, predictor: predictor_lib.Predictor, share: bool = False,
               coarse: bool = False):
    self.predictor = predictor
    self.share = share
    self.coarse = coarse

  def answer(self, name: str, data: bytes | uploads.UploadError, five_crop: bool,
             location: tuple[float, float] | None = None) -> library_lib.Entry:
    """One upload's library entry: its answer, or the message saying why it has none."""
    try:
      if isinstance(data, uploads.UploadError):
        raise data
      image = uploads.decode_photo(data, name)
      decision = privacy.decide(privacy.count_faces(image), share=self.share, coarse=self.coarse)
      prediction = self.predictor.predict(image, name=name, location=location,
                                          coarse=decision.coarse, five_crop=bool(five_crop),
                                          heat=True)
    except (uploads.UploadError, BadImage) as e:
      return library_lib.Entry(name=name, error=str(e))
    except Exception as e:  # pylint: disable=broad-except  (one photo never stops the others)
      # The details (which may name server paths) go to the server's log only.
      logging.exception("Predicting %s failed", name)
      return library_lib.Entry(name=name, error=(
          f"{name}: could not be processed ({type(e).__name__}; the details are in the "
          "server's log)."))
    return library_lib.entry_of(name, image, prediction, decision)

  def html(self, entry: library_lib.Entry) -> str:
    """The inspector's page of an entry: its error, or its answer with the index and gallery
    photos that decided it."""
    if entry.error:
      return report.error_html(entry.error)
    return report.prediction_html(entry.name, entry.prediction, entry.decision, entry.preview,
                                  self._index_photos(entry.prediction),
                                  self._gallery_photos(entry.prediction))

  @staticmethod
  def _photos(found: list[tuple[str, float, Callable[[], bytes]]]
              ) -> list[tuple[str, Image.Image]]:
    """(caption, image) of each (id, similarity, read its JPEG); unreadable ones left out."""
    out = []
    for photo_id, similarity, read in found:
      try:
        out.append((f"{photo_id} ({similarity:.2f})",
                    Image.open(io.BytesIO(read())).convert("RGB")))
      except (OSError, KeyError, ValueError, IndexError):
        continue
    return out

  def _index_photos(self, prediction) -> list[tuple[str, Image.Image]]:
    """The nearest landmark-index photos."""
    if not prediction.neighbours or not self.predictor.has_index:
      return []
    index = self.predictor.landmark_index
    return self._photos([(m.image_id, m.similarity, functools.partial(index.photo, m.image_id))
                         for m in prediction.neighbours])

  def _gallery_photos(self, prediction) -> list[tuple[str, Image.Image]]:
    """The gallery photos that decided a hybrid answer."""
    if not prediction.gallery_matches or not self.predictor.has_gallery:
      return []
    gallery = self.predictor.gallery
    return self._photos([(m.photo_id, m.similarity, functools.partial(gallery.photo, m.record))
                         for m in prediction.gallery_matches])
