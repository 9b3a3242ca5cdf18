"""XMP sidecars: a predicted position that photo managers (digiKam, darktable, Lightroom) show on
their maps, without touching the photo.

`photo.jpg.xmp` beside `photo.jpg` holds `exif:GPSLatitude` / `exif:GPSLongitude` in the EXIF-in-
XMP coordinate form ("48,51.3504N"), the WGS-84 datum, and in `exif:GPSProcessingMethod` the
note that the position is jaxgeo's prediction with its confidence. A sidecar is never written
over an existing one (darktable keeps its edits in `photo.jpg.xmp`), nor for a photo that has
GPS already, shows faces, or was answered coarsely: `sidecar_refusal` says why.
"""

from __future__ import annotations

import os
from xml.sax import saxutils

from jaxgeo.predict.answers import Prediction

SUFFIX = ".xmp"


def _coordinate(value: float, positive: str, negative: str) -> str:
  """EXIF-in-XMP GPSCoordinate: "DDD,MM.mmmmmmk" (degrees, decimal minutes, hemisphere)."""
  hemisphere = positive if value >= 0 else negative
  value = abs(value)
  degrees = int(value)
  minutes = (value - degrees) * 60
  return f"{degrees},{minutes:.6f}{hemisphere}"


def note(prediction: Prediction) -> str:
  """What the sidecar says of the position: predicted, by what, how sure."""
  top = prediction.top
  parts = [f"Predicted by jaxgeo ({prediction.method}), not measured: {top.name}"]
  if prediction.within_km:
    parts.append("chance within " + ", ".join(
        f"{r:g} km {p:.0%}" for r, p in prediction.within_km.items()))
  if prediction.warning:
    parts.append(prediction.warning)
  return "; ".join(parts)


def sidecar(prediction: Prediction) -> str:
  """The XMP packet of a prediction's top-1 place."""
  top = prediction.top
  text = saxutils.escape(note(prediction))
  return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    exif:GPSVersionID="2.3.0.0"
    exif:GPSLatitude="{_coordinate(top.latitude, "N", "S")}"
    exif:GPSLongitude="{_coordinate(top.longitude, "E", "W")}"
    exif:GPSMapDatum="WGS-84"
    exif:GPSProcessingMethod="{text}"
    xmp:CreatorTool="jaxgeo"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def sidecar_path(photo_path: str, output_dir: str | None = None) -> str:
  """`photo.jpg.xmp` beside the photo, or in `output_dir`."""
  folder = output_dir if output_dir else os.path.dirname(photo_path)
  return os.path.join(folder, os.path.basename(photo_path) + SUFFIX)


def sidecar_refusal(prediction: Prediction, path: str | None, faces: int | None) -> str | None:
  """Why no sidecar may be written (None: it may), as a short reason for the report.

  `path`: where it would go (None: into a zip, where nothing exists yet). `faces`: frontal
  faces found in the photo (None: no face check possible, so no sidecar).
  """
  if prediction.coarse:
    return "coarse"
  if prediction.top is None:
    return "no_place"
  if prediction.true_location is not None and prediction.true_location.source == "exif":
    return "has_gps"
  if faces is None:
    return "no_face_check"
  if faces:
    return "faces"
  if path is not None and os.path.exists(path):
    return "sidecar_exists"
  return None


def write_sidecar(prediction: Prediction, path: str) -> None:
  """Writes the sidecar (exclusively: an existing file is never replaced)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "x", encoding="utf-8") as f:
    f.write(sidecar(prediction))
