"""When the demo shows only a coarse region instead of a point, and why.

Photo geolocation can be turned against the people in a photo. The demo therefore answers with a
coarse region (a 10-degree grid cell, ~1,000 km, and the country; `jaxgeo.predict.coarse`)
instead of places, alternatives, landmarks and distances when:
- the photo shows a face (MTCNN tuned for recall, `jaxgeo.predict.faces`: a missed face costs
  more than a needless coarse answer);
- the face check cannot run (the detector's weights are not installed): failing safe, every
  photo is coarse, and the UI says how to install them;
- the app was started with a public share link (`--share`) or with `--coarse`.
"""

from __future__ import annotations

import dataclasses

from PIL import Image

from jaxgeo.predict import faces

NO_DETECTOR_NOTE = ("Face check unavailable: the face detector is not installed (pip install "
                    "'jaxgeo[demo]'), so every photo gets the coarse answer.")


@dataclasses.dataclass(frozen=True)
class Decision:
  """Whether a photo's answer is coarse, and the sentences that explain it to the user."""
  coarse: bool
  reasons: tuple[str, ...] = ()
  faces: int | None = None  # None when the detector could not run


def count_faces(image: Image.Image) -> int | None:
  """Faces found in `image`, or None when the detector is not installed."""
  try:
    return len(faces.find_faces(image))
  except ImportError:
    return None


def decide(num_faces: int | None, *, share: bool = False, coarse: bool = False) -> Decision:
  """The coarse/fine decision for one photo (pure: `count_faces` gives `num_faces`)."""
  reasons = []
  if share:
    reasons.append("This demo runs with a public share link, so every photo gets only a coarse "
                   "region.")
  elif coarse:
    reasons.append("This demo was started with --coarse, so every photo gets only a coarse "
                   "region.")
  if num_faces is None:
    reasons.append(NO_DETECTOR_NOTE)
  elif num_faces > 0:
    reasons.append(f"The photo shows {num_faces} face{'s' if num_faces > 1 else ''}: to protect "
                   "the people in it, only a coarse region is shown.")
  return Decision(coarse=bool(reasons), reasons=tuple(reasons), faces=num_faces)
