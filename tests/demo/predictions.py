"""Predictions as the Predictor returns them (its own dataclasses), for tests of the demo."""

from __future__ import annotations


def paris_prediction(coarse: bool = False, **changes):
  """A Prediction as the Predictor returns it (its own dataclasses), for a photo of Paris."""
  from jaxgeo.predict import answers  # pylint: disable=g-import-not-at-top
  places = [answers.Place(48.8584, 2.2945, 0.6, "cells_fine", 3, "47e66f", "Paris, France",
                             "FR"),
            answers.Place(51.5074, -0.1278, 0.3, "cells_fine", 7, "487604",
                             "London, United Kingdom", "GB")]
  fields = dict(
      source="photo.jpg", places=places,
      granularities=[answers.Granularity("cells_coarse", 10, 1, 0.8),
                     answers.Granularity("cells_fine", 40, 3, 0.5),
                     answers.Granularity("hierarchy", 40, 3, 0.6)],
      tags=[answers.Tag("eiffel tower", 0.4), answers.Tag("paris", 0.3)],
      tag_source="locsens",
      tag_location=(48.85656, 2.29236),
      landmark=answers.Landmark(True, 1234, "Eiffel Tower", 0.9, 0.5, 3),
      neighbours=[answers.IndexMatch("abc", 1234, 0.87)],
      true_location=answers.TrueLocation(48.85656, 2.29236, "exif", 0.16), coarse=coarse,
      five_crop=False)
  return answers.Prediction(**{**fields, **changes})
