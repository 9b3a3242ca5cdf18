"""The batch CLI's files: a CSV row and a GeoJSON feature per answer, and the run's report.

The demo's exports write the same rows (demo/library.py), so a file from either reads the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jaxgeo.evaluators import calibration
from jaxgeo.predict.answers import Prediction
from jaxgeo.predict.assembler import HIERARCHY


def counted(n: int, singular: str, plural: str | None = None) -> str:
  """`1 photo`, `2 photos`, `1,200 photos`: every count shown to people (the batch CLI's report,
  the demo's status lines) goes through here, so none reads "1 photos".

  Args:
    n: how many.
    singular: the noun for one.
    plural: the noun for any other number; `singular` + "s" when not given ("process" needs
      "processes").
  """
  return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def _levels(partition_names: Sequence[str]) -> tuple[str, ...]:
  return (*partition_names, HIERARCHY) if partition_names else ()


def csv_header(partition_names: Sequence[str]) -> list[str]:
  return (["source", "latitude", "longitude", "probability", "place", "cell", "method"]
          + [f"p_within_{r:g}km" for r in calibration.RADII_KM]
          + [f"prob_{n}" for n in _levels(partition_names)]
          + ["tags", "landmark_id", "landmark", "landmark_confidence", "true_latitude",
             "true_longitude", "true_source", "distance_km", "gallery_photos",
             "gallery_coordinates", "warning"])


def _fmt(x, digits: int = 6) -> str:
  return "" if x is None else f"{x:.{digits}f}"


def csv_row(p: Prediction, partition_names: Sequence[str]) -> list[str]:
  top, by_name = p.top, {g.name: g.probability for g in p.granularities}
  landmark, truth, matches = p.landmark, p.true_location, p.gallery_matches or []
  return ([p.source, _fmt(top and top.latitude), _fmt(top and top.longitude),
           _fmt(top and top.probability), top.name if top else "", top.cell if top else "",
           p.method]
          + [_fmt(p.within_km and p.within_km[r], 4) for r in calibration.RADII_KM]
          + [_fmt(by_name.get(n)) for n in _levels(partition_names)]
          + [";".join(t.tag for t in p.tags),
             "" if landmark is None or not landmark.found else str(landmark.landmark_id),
             "" if landmark is None else (landmark.name if landmark.found else "no landmark"),
             _fmt(landmark and landmark.confidence, 4),
             _fmt(truth and truth.latitude), _fmt(truth and truth.longitude),
             truth.source if truth else "", _fmt(truth and truth.distance_km, 3),
             " ".join(m.photo_id for m in matches),
             ";".join(f"{_fmt(m.latitude)} {_fmt(m.longitude)}" for m in matches), p.warning])


def geojson_feature(p: Prediction) -> dict[str, Any]:
  """A GeoJSON Feature (RFC 7946: [longitude, latitude]) at the top-1 place; null geometry
  when the run predicts no places."""
  props = p.to_dict()
  top = p.top
  geometry = {"type": "Point", "coordinates": [top.longitude, top.latitude]} if top else None
  props.update({"place": top.name if top else None,
                "probability": top.probability if top else None})
  return {"type": "Feature", "geometry": geometry, "properties": props}


def format_report(report: dict[str, Any]) -> str:
  lines = []
  if report.get("model"):  # what the model knows (jaxgeo.predict.model_card), before its answers
    lines.append(f"Model {report['model']['workdir']}: {report['model']['description']}")
    if report["model"]["warning"]:
      lines.append(f"WARNING: {report['model']['warning']}")
  lines += [f"Predicted {report['predicted']:,} of {counted(report['inputs'], 'photo')}; skipped "
           f"{report['skipped']:,}" + (" (" + ", ".join(
               f"{k}: {v}" for k, v in sorted(report["skipped_by_reason"].items())) + ")"
               if report["skipped"] else "") + "."]
  lines += [f"  skipped {s['source']}: {s['reason']}: {s['detail']}"
            for s in report["skipped_files"]]
  if report.get("xmp"):
    refused = report["xmp"]["refused"]
    lines.append(f"XMP sidecars: {report['xmp']['written']} written"
                 + ("; none for " + ", ".join(f"{k}: {v}" for k, v in sorted(refused.items()))
                    if refused else "") + " (faces, coarse answers, photos with GPS and "
                 "existing sidecars never get one).")
  if report.get("gallery"):
    lines.append(f"Top-1 places by the hybrid: the best cells refined by the gallery photos of "
                 f"{report['gallery']} inside them (gallery_photos in the CSV).")
  if report.get("seconds"):
    lines.append(format_seconds(report))
  lines += [f"CSV: {report['csv']}", f"GeoJSON: {report['geojson']}"]
  return "\n".join(lines) + "\n"


def format_seconds(report: dict[str, Any]) -> str:
  """Where the time went: decoding (summed over the decode threads), the model's waits for
  photos, the model, the answers' assembly and writing, and the photos per second."""
  s = report["seconds"]
  rate = report["predicted"] / s["wall"] if s["wall"] else 0.0
  processes = counted(report["processes"], "process", "processes")
  return (f"Time ({counted(report['shards'], 'shard')} of {counted(report['shard_size'], 'input')}"
          f", {processes}): {s['wall']:.1f} s, {rate:.1f} photos/s a process; decoding "
          f"{s['decode']:.1f} s over {counted(report['decode_threads'], 'thread')} "
          f"(the model waited {s['waiting']:.1f} s for photos), model {s['model']:.1f} s, "
          f"answers {s['answers']:.1f} s, writing {s['writing']:.1f} s.")
