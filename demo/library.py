"""The photo library of one browser session: each upload's answer, thumbnail and exports.

The library lives in the server's memory only (demo/sessions.py): thumbnails are small JPEGs
inlined as data: URIs, and the exports (CSV, GeoJSON, a zip of XMP sidecars) are built in memory
and handed to the browser as data: links, so nothing derived from a photo is written to disk.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import zipfile
from collections.abc import Sequence

from PIL import Image

from demo import privacy, report
from jaxgeo.predict import formats, model_card, xmp
from jaxgeo.predict.answers import Prediction

LIST_THUMBNAIL = 96
PREVIEW = 320
TOY_MARK = "toy model"  # on the rows of a toy-world model's answers (jaxgeo.predict.model_card)


@dataclasses.dataclass(frozen=True)
class Entry:
  """One upload: its answer (prediction and privacy decision), or the reason it has none."""
  name: str
  thumbnail: str = ""  # data: URI of a LIST_THUMBNAIL px JPEG
  preview: str = ""  # data: URI of a PREVIEW px JPEG, for the inspector
  prediction: Prediction | None = None
  decision: privacy.Decision | None = None
  error: str = ""

  @property
  def placed(self) -> bool:
    return self.prediction is not None and self.prediction.top is not None


def entry_of(name: str, image: Image.Image, prediction: Prediction,
             decision: privacy.Decision) -> Entry:
  return Entry(name=name,
               thumbnail=report.data_uri(report.thumbnail(image, LIST_THUMBNAIL), "JPEG"),
               preview=report.data_uri(report.thumbnail(image, PREVIEW), "JPEG"),
               prediction=prediction, decision=decision)


def _caption(entry: Entry) -> str:
  if entry.error:
    return entry.error
  if not entry.placed:
    return "no place (a landmarks-only model)"
  top = entry.prediction.top
  if entry.decision.coarse:
    return f"{top.name} (coarse region)"
  return f"{top.name} · {top.probability:.0%}"


def _toy_mark(entry: Entry) -> str:
  """A red "toy model" tag on rows answered by a model trained on the toy world only: a list of
  confident real city names ("Berlin · 90%") must not pass for real answers, even before the
  inspector's warning is opened. Its own element, so the caption stays the place alone."""
  if entry.prediction is None or entry.prediction.warning != model_card.TOY_WORLD_WARNING:
    return ""
  return (f'<em class="jg-toy" title="{html.escape(model_card.TOY_WORLD_WARNING)}">'
          f"{TOY_MARK}</em>")


def items_html(entries: Sequence[Entry]) -> str:
  """The library list: one focusable row per upload, thumbnail, name and predicted place."""
  rows = []
  for i, e in enumerate(entries):
    image = (f'<img src="{e.thumbnail}" alt="">' if e.thumbnail
             else '<span class="jg-noimage">!</span>')
    state = "error" if e.error else "coarse" if e.decision and e.decision.coarse else "fine"
    rows.append(f'<li class="jg-item jg-{state}" role="option" data-index="{i}" '
                f'data-name="{html.escape(e.name)}">{image}<span class="jg-text">'
                f'<b title="{html.escape(e.name)}">{html.escape(e.name)}</b>'  # cut: whole on hover
                f'<small>{html.escape(_caption(e))}</small>{_toy_mark(e)}'
                "</span></li>")
  return "".join(rows)


def _exportable(entry: Entry) -> Prediction:
  """The prediction as exported: a coarse answer keeps no coordinates of the photo's own GPS."""
  p = entry.prediction
  return dataclasses.replace(p, true_location=None) if entry.decision.coarse else p


def export_csv(entries: Sequence[Entry], partition_names: Sequence[str]) -> bytes:
  """The library as the batch CLI's predictions.csv."""
  out = io.StringIO()
  writer = csv.writer(out)
  writer.writerow(formats.csv_header(partition_names))
  for e in entries:
    if e.prediction is not None:
      writer.writerow(formats.csv_row(_exportable(e), partition_names))
  return out.getvalue().encode("utf-8")


def export_geojson(entries: Sequence[Entry]) -> bytes:
  """The library as the batch CLI's predictions.geojson (a FeatureCollection)."""
  features = [formats.geojson_feature(_exportable(e)) for e in entries
              if e.prediction is not None]
  return json.dumps({"type": "FeatureCollection", "features": features}).encode("utf-8")


def export_xmp_zip(entries: Sequence[Entry]) -> tuple[bytes, dict[str, int]]:
  """A zip of `photo.jpg.xmp` sidecars, and how many photos got none, by reason.

  The rules are the batch CLI's (jaxgeo.predict.xmp): no sidecar for coarse answers, photos with
  GPS or faces; a second upload of the same file name gets none either ("duplicate_name").
  """
  refused: dict[str, int] = {}
  written = set()
  out = io.BytesIO()
  with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
    for e in entries:
      if e.prediction is None:
        continue
      name = e.name + xmp.SUFFIX
      reason = xmp.sidecar_refusal(e.prediction, None, e.decision.faces)
      if reason is None and name in written:
        reason = "duplicate_name"
      if reason is not None:
        refused[reason] = refused.get(reason, 0) + 1
        continue
      archive.writestr(name, xmp.sidecar(e.prediction))
      written.add(name)
  return out.getvalue(), refused
