"""One photo's answer as HTML (the inspector; thumbnails inlined) and as a JSON-able summary.

Pictures are inlined as data: URIs rather than returned as Gradio image outputs, which Gradio
would write to its cache folder: the demo keeps what it derives from a photo in memory only.
The coarse answer shows only a fixed 10-degree box and the country (see demo/privacy.py): no
coordinates, alternatives, fine granularities, tags (they often name the place), landmark, index
photos or GPS position. The map (demo/map_view.py) draws the places.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

from demo import privacy
from jaxgeo.predict import coarse as coarse_lib
# One plural rule for every count the demo and the batch CLI show ("1 photo", "2 photos").
from jaxgeo.predict.formats import counted

THUMBNAIL = 224


def data_uri(image: Image.Image, fmt: str = "PNG") -> str:
  out = io.BytesIO()
  image.save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
  return f"data:image/{fmt.lower()};base64,{base64.b64encode(out.getvalue()).decode()}"


def thumbnail(image: Image.Image, size: int = THUMBNAIL) -> Image.Image:
  small = image.copy()
  small.thumbnail((size, size))
  return small


def _img(uri: str, alt: str, css_class: str) -> str:
  return f'<img class="{css_class}" src="{uri}" alt="{html.escape(alt)}">'


def _fmt_km(km: float) -> str:
  return f"{km:,.0f} km" if km >= 10 else f"{km:.1f} km"


def summary(name: str, prediction, decision: privacy.Decision) -> dict[str, Any]:
  """What the page shows, as plain values (the API's JSON output and the tests read this)."""
  out: dict[str, Any] = {"name": name, "coarse": decision.coarse,
                         "reasons": list(decision.reasons), "faces": decision.faces}
  if prediction.warning:  # what the model's training says of every answer (a toy-world model)
    out["warning"] = prediction.warning
  top = prediction.top
  if top is not None:
    out["place"] = top.name
    out["probability"] = round(top.probability, 4)
    if decision.coarse:
      out["region"] = list(coarse_lib.box(top.latitude, top.longitude))
    else:
      out["latitude"], out["longitude"] = round(top.latitude, 5), round(top.longitude, 5)
      out["method"] = prediction.method
      if prediction.within_km:
        out["within_km"] = {f"{r:g}": round(p, 4) for r, p in prediction.within_km.items()}
      if prediction.gallery_matches:
        out["gallery_photos"] = [{"photo_id": m.photo_id, "latitude": round(m.latitude, 5),
                                  "longitude": round(m.longitude, 5),
                                  "similarity": round(m.similarity, 4)}
                                 for m in prediction.gallery_matches]
      out["alternatives"] = [{"place": p.name, "latitude": round(p.latitude, 5),
                              "longitude": round(p.longitude, 5),
                              "probability": round(p.probability, 4)}
                             for p in prediction.places[1:]]
  levels = prediction.granularities[:1] if decision.coarse else prediction.granularities
  out["granularities"] = {g.name: round(g.probability, 4) for g in levels}
  if not decision.coarse:  # tags name places too ("paris", "eiffel tower")
    out["tags"] = [t.tag for t in prediction.tags]
    out["tag_source"] = prediction.tag_source
    if prediction.landmark is not None:
      out["landmark"] = prediction.landmark.label
    if prediction.true_location is not None:
      t = prediction.true_location
      out["true_location"] = {"latitude": round(t.latitude, 5), "longitude": round(t.longitude, 5),
                              "source": t.source,
                              "distance_km": None if t.distance_km is None
                              else round(t.distance_km, 2)}
  return out


def _photo_strip(title: str, photos: Sequence[tuple[str, Image.Image]], css_class: str) -> str:
  return (f"<p><b>{html.escape(title)}</b></p><div class='jaxgeo-pictures'>"
          + "".join("<figure>" + _img(data_uri(thumbnail(im, 128), "JPEG"), label, css_class)
                    + f"<figcaption><small>{html.escape(label)}</small></figcaption></figure>"
                    for label, im in photos) + "</div>")


def prediction_html(name: str, prediction, decision: privacy.Decision, preview: str,
                    index_photos: Sequence[tuple[str, Image.Image]] = (),
                    gallery_photos: Sequence[tuple[str, Image.Image]] = ()) -> str:
  """The answer for one photo: its picture (`preview`, a data: URI), place, probabilities,
  tags, landmark, GPS, and the photos behind it (the gallery photos of a hybrid answer, the
  nearest index photos)."""
  s = summary(name, prediction, decision)
  parts = [f'<div class="jaxgeo-result" data-name="{html.escape(name)}">',
           f"<h3>{html.escape(name)}</h3>"]
  if prediction.warning:
    parts.append(f'<div class="jaxgeo-warning">{html.escape(prediction.warning)}</div>')
  for reason in decision.reasons:
    parts.append(f'<div class="jaxgeo-notice">{html.escape(reason)}</div>')
  parts.append(_img(preview, f"{name} (your photo)", "jaxgeo-photo"))
  if "place" not in s:
    parts.append("<p>This model predicts no places (a landmarks-only run).</p>")
  elif decision.coarse:
    south, west, north, east = s["region"]
    parts.append(
        f'<p class="jaxgeo-place"><b>Coarse region:</b> {html.escape(s["place"])}, somewhere in '
        f"{abs(south):.0f}-{abs(north):.0f}&deg;{'N' if south >= 0 else 'S'}, "
        f"{abs(west):.0f}-{abs(east):.0f}&deg;{'E' if west >= 0 else 'W'} "
        f"(probability {s['probability']:.1%})</p>")
  else:
    parts.append(
        f'<p class="jaxgeo-place" data-lat="{s["latitude"]}" data-lon="{s["longitude"]}">'
        f"<b>Predicted place:</b> {html.escape(s['place'])} "
        f"({s['latitude']:.4f}, {s['longitude']:.4f}), probability {s['probability']:.1%}"
        + (f" <small>(the cell's; the point comes from "
           f"{counted(len(s['gallery_photos']), 'gallery photo')} in it)</small>"
           if s.get("gallery_photos") else "") + "</p>")
    if s.get("within_km"):
      parts.append('<p class="jaxgeo-within"><b>Chance the true place is within</b> '
                   + ", ".join(f"{r} km: {p:.0%}" for r, p in s["within_km"].items())
                   + " <small>(the model's own estimate; docs/evaluation.md gives how well it "
                   "held on the test sets)</small></p>")
    if s["alternatives"]:
      rows = "".join(f"<tr><td>{i}</td><td>{html.escape(a['place'])}</td>"
                     f"<td>{a['latitude']:.4f}, {a['longitude']:.4f}</td>"
                     f"<td>{a['probability']:.1%}</td></tr>"
                     for i, a in enumerate(s["alternatives"], start=2))
      parts.append("<table><tr><th>#</th><th>alternative</th><th>lat, lon</th>"
                   f"<th>probability</th></tr>{rows}</table>")
  if s["granularities"]:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1%}</td></tr>"
                   for k, v in s["granularities"].items())
    parts.append("<table><tr><th>granularity (coarse to fine)</th><th>probability of its top "
                 f"cell</th></tr>{rows}</table>")
  if prediction.tags and decision.coarse:
    parts.append("<p>Tags are not shown in coarse mode: they often name the place.</p>")
  elif prediction.tags:
    where = prediction.tag_location
    source = {"locsens": f"LocSens, ranked for ({where[0]:.2f}, {where[1]:.2f})" if where
              else "LocSens",
              "tag_head": "the tag head (not location-aware)"}.get(prediction.tag_source, "")
    tags = ", ".join(f"{html.escape(t.tag)} <small>({t.score:.2f})</small>"
                     for t in prediction.tags)
    parts.append(f'<p class="jaxgeo-tags"><b>Tags</b> <small>from {source}</small>: {tags}</p>')
  if "landmark" in s:
    parts.append(f'<p><b>Landmark:</b> {html.escape(s["landmark"])}'
                 + (f" ({prediction.landmark.confidence:.1%})"
                    if prediction.landmark.found else "") + "</p>")
  if gallery_photos and not decision.coarse:
    parts.append(_photo_strip("Gallery photos that decided the place:", gallery_photos,
                              "jaxgeo-gallery"))
  if index_photos:
    parts.append(_photo_strip("Nearest landmark-index photos:", index_photos, "jaxgeo-index"))
  if "true_location" in s:
    t = s["true_location"]
    km = t["distance_km"]
    parts.append(f'<p class="jaxgeo-truth"><b>True place (EXIF GPS):</b> {t["latitude"]:.4f}, '
                 f"{t['longitude']:.4f}"
                 + (f"; the prediction is <b>{_fmt_km(km)}</b> away" if km is not None else "")
                 + "</p>")
  elif decision.coarse and prediction.true_location is not None:
    parts.append("<p>The photo carries GPS coordinates; they are not shown in coarse mode.</p>")
  parts.append("</div>")
  return "\n".join(parts)


def error_html(message: str) -> str:
  return f'<div class="jaxgeo-error">{html.escape(message)}</div>'
