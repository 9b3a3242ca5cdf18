r"""Predictions for a folder of photos, or a built test split, as CSV and GeoJSON.

  python -m jaxgeo.predict --workdir runs/quickstart photos/ more.jpg tfds:geo_testsets/im2gps3k:test

Runs `jaxgeo.predict.predictor.Predictor` (see there for what each answer holds) over files, folders
(recursively, by photo extension) and `tfds:name:split`, and writes `predictions.csv`,
`predictions.geojson` and `report.txt`/`report.json` (files skipped, with the reason) to
`--output_dir`; bad files never stop it. Photos of a data set split carry their labels, so the
CSV gives each one's distance to the truth.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import tqdm
from absl import app, flags

from jaxgeo.data import pipeline
from jaxgeo.data.raw import faces, images as images_lib
from jaxgeo.evaluators import calibration
from jaxgeo.predict import predictor as predictor_lib, xmp
from jaxgeo.predict.answers import Prediction
from jaxgeo.predict.photos import LoadedPhoto, PHOTO_EXTENSIONS, load_photo
from jaxgeo.predict.predictor import DEFAULT_LANDMARK_THRESHOLD, HIERARCHY, Predictor
from jaxgeo.run import restore

TFDS_PREFIX = "tfds:"


@dataclasses.dataclass
class _Input:
  name: str
  photo: Any  # a path or JPEG bytes
  truth: tuple[float, float] | None = None


def _walk(root: str) -> Iterator[str]:
  for folder, dirs, files in os.walk(root):
    dirs.sort()
    for f in sorted(files):
      if f.lower().endswith(PHOTO_EXTENSIONS):
        yield os.path.join(folder, f)


def collect_inputs(specs: Sequence[str], data_dir: str | None) -> tuple[int, Iterator[_Input]]:
  """(how many, the photos) of files, folders (recursive, photo extensions) and `tfds:name:split`.

  A named file is taken whatever its extension (it is reported if it is not a photo); a missing
  path is passed on so that it is reported, not silently dropped.
  """
  counted, parts = 0, []
  for spec in specs:
    if spec.startswith(TFDS_PREFIX):
      name, _, split = spec[len(TFDS_PREFIX):].partition(":")
      if not data_dir:
        raise ValueError(f"{spec}: a built split needs a data dir (the run's <workdir>/tfds).")
      source = pipeline.open_split(name, split or "test", data_dir)
      counted += len(source)
      parts.append(_split_inputs(source, name))
    elif os.path.isdir(spec):
      files = list(_walk(spec))
      counted += len(files)
      parts.append(_Input(f, f) for f in files)
    else:
      counted += 1
      parts.append(iter([_Input(spec, spec)]))
  return counted, (x for part in parts for x in part)


def _split_inputs(source, name: str) -> Iterator[_Input]:
  for row in range(len(source)):
    example = source[row]
    key = next((k for k in ("image_id", "photo_id", "id") if k in example), None)
    ident = example[key] if key else str(row)
    ident = ident.decode() if isinstance(ident, bytes) else str(ident)
    lat, lon = example.get("latitude"), example.get("longitude")
    truth = ((float(lat), float(lon)) if lat is not None and lon is not None
             and np.isfinite(lat) and np.isfinite(lon) else None)
    yield _Input(f"{name}/{ident}", example["image"], truth)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
  chunk = []
  for item in items:
    chunk.append(item)
    if len(chunk) == size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


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


def predict_files(predictor: Predictor, specs: Sequence[str], output_dir: str, *,
                  data_dir: str | None = None, coarse: bool = False,
                  five_crop: bool | None = None, online_names: bool = False,
                  progress: bool = True, write_xmp: bool = False,
                  xmp_dir: str | None = None) -> dict[str, Any]:
  """Predicts every photo of `specs`; writes CSV, GeoJSON and the report; returns the report.

  Photos that cannot be read are reported by name with the reason and skipped. With
  `write_xmp`, each photo file gets an XMP sidecar with its predicted position (jaxgeo.predict
  .xmp; beside it, or in `xmp_dir`) unless a rule refuses it (counted in the report).
  """
  os.makedirs(output_dir, exist_ok=True)
  total, inputs = collect_inputs(specs, data_dir)
  names = predictor.partition_names
  csv_path = os.path.join(output_dir, "predictions.csv")
  geojson_path = os.path.join(output_dir, "predictions.geojson")
  skipped: list[dict[str, str]] = []
  sidecars: dict[str, Any] = {"written": 0, "refused": {}, "refused_files": []}
  done = 0
  with open(csv_path, "w", encoding="utf-8", newline="") as csv_file, \
       open(geojson_path, "w", encoding="utf-8") as geo_file, \
       tqdm.tqdm(total=total, unit="photo", dynamic_ncols=True, disable=not progress) as bar:
    writer = csv.writer(csv_file)
    writer.writerow(csv_header(names))
    geo_file.write('{"type": "FeatureCollection", "features": [\n')
    first = True

    def flush(batch: list[tuple[LoadedPhoto, Any]]) -> None:
      nonlocal done, first
      if not batch:
        return
      results = predictor.predict_batch([b[0] for b in batch], coarse=coarse,
                                        five_crop=five_crop, online_names=online_names,
                                        true_locations=[b[1] for b in batch])
      for (photo, _, path), p in zip(batch, results):
        writer.writerow(csv_row(p, names))
        if write_xmp and path is not None:
          _write_sidecar(p, photo, path, xmp_dir, sidecars)
        geo_file.write(("" if first else ",\n") + json.dumps(geojson_feature(p)))
        first = False
      done += len(results)
      bar.update(len(results))
      batch.clear()

    def load(item: _Input):
      try:
        return load_photo(item.photo, item.name, predictor.min_decode_side)
      except images_lib.BadImage as e:
        return e

    batch = []
    pool = predictor_lib.decode_pool(max(1, predictor.decode_threads))
    for items in _chunks(inputs, predictor.batch_size):
      for item, photo in zip(items, pool.map(load, items)):
        if isinstance(photo, images_lib.BadImage):
          skipped.append({"source": item.name, "reason": photo.reason, "detail": photo.detail})
          bar.update(1)
          continue
        batch.append((photo, item.truth, item.photo if isinstance(item.photo, str) else None))
        if len(batch) == predictor.batch_size:
          flush(batch)
    flush(batch)
    geo_file.write("\n]}\n")
  reasons: dict[str, int] = {}
  for s in skipped:
    reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
  report = {"inputs": total, "predicted": done, "skipped": len(skipped),
            "skipped_by_reason": reasons, "skipped_files": skipped, "csv": csv_path,
            "geojson": geojson_path, "coarse": coarse, "checkpoint_step": predictor.step,
            "gallery": predictor.gallery.spec if predictor.has_gallery and not coarse else "",
            "xmp": sidecars if write_xmp else None,
            "model": predictor.card.to_dict() if predictor.card else None}
  with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2)
  with open(os.path.join(output_dir, "report.txt"), "w", encoding="utf-8") as f:
    f.write(format_report(report))
  return report


def _write_sidecar(prediction: Prediction, photo: LoadedPhoto, path: str, xmp_dir: str | None,
                   sidecars: dict[str, Any]) -> None:
  """One photo's XMP sidecar, or the reason it gets none (counted in `sidecars`)."""
  target = xmp.sidecar_path(path, xmp_dir)
  try:
    faces_found = len(faces.face_boxes(photo.image))
  except ImportError:  # no OpenCV: faces cannot be ruled out
    faces_found = None
  reason = xmp.sidecar_refusal(prediction, target, faces_found)
  if reason is None:
    try:
      xmp.write_sidecar(prediction, target)
    except OSError as e:  # a read-only folder, or a sidecar made meanwhile: named, not fatal
      reason = f"unwritable ({type(e).__name__})"
  if reason is None:
    sidecars["written"] += 1
    return
  sidecars["refused"][reason] = sidecars["refused"].get(reason, 0) + 1
  sidecars["refused_files"].append({"source": path, "reason": reason})


def format_report(report: dict[str, Any]) -> str:
  lines = []
  if report.get("model"):  # what the model knows (jaxgeo.predict.model_card), before its answers
    lines.append(f"Model {report['model']['workdir']}: {report['model']['description']}")
    if report["model"]["warning"]:
      lines.append(f"WARNING: {report['model']['warning']}")
  lines += [f"Predicted {report['predicted']} of {report['inputs']} photos; skipped "
           f"{report['skipped']}" + (" (" + ", ".join(
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
  lines += [f"CSV: {report['csv']}", f"GeoJSON: {report['geojson']}"]
  return "\n".join(lines) + "\n"


def define_flags() -> None:
  """The command line's flags (`python -m jaxgeo.predict`, jaxgeo/predict/__main__.py)."""
  flags.DEFINE_string("workdir", None, "Workdir of a training run (its latest checkpoint).")
  flags.DEFINE_string("output_dir", "predictions", "Where predictions.csv/.geojson and the "
                      "report go.")
  flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the run's).")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
  flags.DEFINE_integer("batch_size", 16, "Photos per jitted batch.")
  flags.DEFINE_integer("top_k", 5, "Places (and index photos) per photo.")
  flags.DEFINE_integer("num_tags", 5, "Tags per photo.")
  flags.DEFINE_float("landmark_threshold", DEFAULT_LANDMARK_THRESHOLD,
                     "Below this confidence the answer is 'no landmark'.")
  flags.DEFINE_bool("five_crop", False, "Average the softmax over five crops.")
  flags.DEFINE_bool("coarse", False, "Coarse regions only: coarsest cells, whole degrees, "
                    "countries; no landmark or index photos.")
  flags.DEFINE_bool("online_names", False, "Also ask OpenStreetMap's Nominatim for addresses "
                    "(sends coordinates over the network; 1 request/s).")
  flags.DEFINE_bool("write_xmp", False, "Write an XMP sidecar (photo.jpg.xmp) with the predicted "
                    "position for each photo file; the photo itself is never changed.")
  flags.DEFINE_string("xmp_dir", None, "With --write_xmp: the folder for the sidecars "
                      "(default: beside each photo).")
  flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
  args = flags.FLAGS
  specs = argv[1:]
  if not specs:
    raise app.UsageError("Give photos, folders or tfds:name:split after the flags.")
  predictor = Predictor.from_workdir(
      args.workdir, data_dir=args.data_dir, step=args.step, batch_size=args.batch_size,
      top_k=args.top_k, num_tags=args.num_tags, landmark_threshold=args.landmark_threshold,
      five_crop=args.five_crop)
  data_dir = args.data_dir or restore.data_dir_of(restore.load_config(args.workdir),
                                                  args.workdir)
  report = predict_files(predictor, specs, args.output_dir, data_dir=data_dir,
                         coarse=args.coarse, online_names=args.online_names,
                         write_xmp=args.write_xmp, xmp_dir=args.xmp_dir)
  sys.stdout.write(format_report(report))
