"""The toy world: a small, seeded photo-geolocation world written in the official raw formats.

No real photos can be downloaded at run time, so the quickstart generates ~20k photos whose
content depends on where they were taken (climate by latitude band, region building styles,
terrain, a few landmarks at fixed real coordinates), with user tags that depend on content and
place, and writes them exactly as YFCC100M, MP-16, Im2GPS3k, YFCC4k and Google Landmarks v2 are
distributed (each builder's README in tfds_builders/ describes them). The project's data-set
builders then read these files as they would read the real ones.

  python -m jaxgeo.toy_world --out /tmp/toy_world --num_train_photos 20000

Every photo is drawn from its own generator seeded by (seed, split, index), so the output is
byte-identical for a seed whatever the number of worker processes. Only `manifest.json`'s
"generation" entry (wall time, worker count) differs between runs.

This module runs a generation: it owns the output folder, fans the photos out to worker
processes and writes the manifest. What a photo is comes from sampling (over the catalogue),
how it looks from render, and each data set's file layout from formats/.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from jaxgeo.toy_world import render, sampling
from jaxgeo.toy_world.catalogue import CITIES, CITY_INDEX, LANDMARKS, city_weights
from jaxgeo.toy_world.config import ToyWorldConfig
from jaxgeo.toy_world.formats import gldv2, rows, test_sets, yfcc100m
from jaxgeo.toy_world.formats.files import FileWriter

# The world of this worker process (set by _init_worker; rebuilt from the config in each).
_WORKER_WORLD: sampling.World | None = None


def _init_worker(config: ToyWorldConfig) -> None:
  global _WORKER_WORLD
  _WORKER_WORLD = sampling.World(config)


def _make_photo(task: tuple) -> dict[str, Any]:
  """Worker entry: samples and renders one photo. Task = (split, index, ...)."""
  world = _WORKER_WORLD
  config = world.config
  split, index = task[0], task[1]
  rng = sampling.photo_rng(config.seed, split, index)
  if split.startswith("gldv2"):
    _, _, lm_index, noisy = task
    if lm_index >= 0:
      lm = world.landmarks[lm_index]
      city = CITIES[CITY_INDEX[lm.city]]
    else:
      lm, city = None, CITIES[int(np.searchsorted(world.city_cdf, rng.random()))]
    scene = sampling.sample_scene(rng, city, "landmark" if lm else "city", 2.0,
                                  config.image_size, None if (lm is None or noisy) else lm,
                                  city.lat)
    if lm is not None and not noisy:
      # Landmark-retrieval photos: wider viewpoint and scale changes than YFCC snapshots.
      scene = dataclasses.replace(scene, landmark_scale=rng.uniform(0.4, 0.95),
                                  landmark_x=rng.uniform(0.25, 0.75),
                                  landmark_squash=rng.uniform(0.7, 1.3),
                                  skyline=scene.skyline * 0.5)
    return {"jpeg": render.render_jpeg(scene, rng)}

  _, _, photo_id, pool, kind = task
  mode, ci, lm, lat, lon, dist = sampling.sample_place(rng, world)
  city = CITIES[ci]
  scene = sampling.sample_scene(rng, city, mode, dist, config.image_size, lm, lat)
  rec = sampling.yfcc_record(rng, world, pool, photo_id, city, scene, lm, mode, lat, lon)
  rec.update(true_lat=lat, true_lon=lon, city=ci, landmark=lm.name if lm else "", mode=mode,
             scene=scene, places=sampling.places_labels(rng, scene), kind=kind)
  if kind == "video":
    rec["download_url"] = (f"http://www.flickr.com/photos/{rec['nsid']}/{photo_id}/play/orig/"
                           f"{rec['original_secret']}/")
    rec["hash"] = hashlib.md5(rec["download_url"].encode()).hexdigest()
    rec["extension"], rec["marker"] = "mp4", "1"
    return rec
  if kind == "no_gps":
    rec["lon"] = rec["lat"] = rec["accuracy"] = ""
  elif kind == "bad_coordinates":
    # Out of range in latitude, longitude or both.
    which = int(rng.integers(3))
    if which in (0, 2):
      rec["lat"] = f"{rng.choice([-1, 1]) * rng.uniform(90.5, 180.0):.6f}"
    if which in (1, 2):
      rec["lon"] = f"{rng.choice([-1, 1]) * rng.uniform(180.5, 360.0):.6f}"
  if kind == "missing_image":
    return rec
  jpeg = render.render_jpeg(scene, rng)
  if kind == "empty_image":
    # Multimedia Commons holds some 0-byte files and some tiny (< 1 KB) stubs.
    jpeg = b"" if rng.random() < 0.5 else jpeg[:int(rng.integers(100, 1000))]
  elif kind == "corrupt_image":
    # Truncated (no end-of-image marker) or garbage after a JPEG start marker; >= 1 KB either
    # way, so that size alone never hides a corrupt file.
    cut = int(len(jpeg) * rng.uniform(0.3, 0.7))
    if rng.random() < 0.5 and cut >= 1024:
      jpeg = jpeg[:cut]
    else:
      jpeg = b"\xff\xd8\xff\xe0" + rng.bytes(int(rng.integers(1200, 4000)))
  rec["jpeg"] = jpeg
  return rec


class _Renderer:
  """Runs _make_photo over task lists, in-process or on one spawn pool for the whole world.

  Results come back in task order and depend only on the tasks, not on the worker count.
  """

  def __init__(self, config: ToyWorldConfig, num_workers: int):
    self._config = config
    self._pool = None
    _init_worker(config)  # for in-process runs
    if num_workers > 1:
      # spawn, not fork: callers may already run JAX, whose threads do not survive a fork.
      ctx = multiprocessing.get_context("spawn")
      self._pool = ctx.Pool(num_workers, initializer=_init_worker, initargs=(config,))

  def map(self, tasks: list[tuple]) -> Iterator[dict[str, Any]]:
    if self._pool is None or len(tasks) < 64:
      return map(_make_photo, tasks)
    return self._pool.imap(_make_photo, tasks, chunksize=32)

  def __enter__(self) -> "_Renderer":
    return self

  def __exit__(self, *exc) -> None:
    if self._pool is not None:
      self._pool.terminate()
      self._pool.join()


# What generate_toy_world writes at the top of out_dir (and may delete when regenerating).
_OUTPUTS = ("yfcc100m", "yfcc100m_23col", "mp16", "im2gps3k", "yfcc4k", "gldv2", "truth",
            "manifest.json")


_MARKER = ".jaxgeo_toy_world"  # written first: marks a folder as ours even if a run was cut


def _prepare_out_dir(root: str) -> None:
  """Creates root, or clears an earlier toy world there so no stale shard or image survives."""
  os.makedirs(root, exist_ok=True)
  entries = set(os.listdir(root))
  if entries and _MARKER not in entries:
    raise ValueError(f"Toy world output folder {root!r} is not empty and holds no toy world: "
                     "pass an empty or new folder (nothing was written).")
  manifest = os.path.join(root, "manifest.json")
  if os.path.exists(manifest):
    os.remove(manifest)  # first, so an interrupted run never looks complete
  for name in _OUTPUTS:
    path = os.path.join(root, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
  with open(os.path.join(root, _MARKER), "w") as f:
    f.write("Written by jaxgeo.toy_world.generator; manifest.json appears when the world is "
            "complete.\n")


def generate_toy_world(out_dir: str | os.PathLike, config: ToyWorldConfig = ToyWorldConfig(),
                       *, num_workers: int | None = None) -> dict[str, Any]:
  """Generates the toy world under out_dir in the official raw formats.

  Writes yfcc100m/ (25-column metadata, Multimedia Commons image tree), yfcc100m_23col/ (a
  sample of the older 23-column layout),
  mp16/ (meta CSV, URL list, msgpack shards; if config.mp16), im2gps3k/, yfcc4k/, gldv2/,
  truth/ (per-photo ground truth for tests and debugging; no official format) and
  manifest.json.

  Args:
    out_dir: Output folder: new, empty, or holding an earlier toy world (which is replaced).
    config: Size and seed of the world.
    num_workers: Rendering processes (default: the CPU count, at most 8). The output does not
      depend on it. Workers are spawned (not forked), so a calling script needs the usual
      `if __name__ == "__main__":` guard.

  Returns:
    The manifest (also written to out_dir/manifest.json, last, so its presence means the
    world is complete).

  Raises:
    ValueError: If the config is invalid, or out_dir holds files that are not a toy world.
  """
  config.validate()
  start = time.time()
  root = os.fspath(out_dir)
  _prepare_out_dir(root)
  if num_workers is None:
    num_workers = min(os.cpu_count() or 1, 8)
  out = FileWriter(root)
  plan = sampling.Plan(config)
  landmarks = [{"world_id": k, "name": lm.name, "city": lm.city, "lat": lm.lat, "lon": lm.lon,
                "shape": lm.shape, "tags": [lm.name, *lm.aliases]}
               for k, lm in enumerate(LANDMARKS[:config.num_landmarks])]
  with _Renderer(config, num_workers) as renderer:
    yfcc = yfcc100m.write(out, config, plan, renderer.map)
    tests = test_sets.write(out, config, plan, renderer.map)
    gld = gldv2.write(out, config, renderer.map, landmarks)
  out.write_text("truth/photos.csv",
                 [rows.TRUTH_HEADER] + yfcc.pop("truth") + tests.pop("truth"))

  manifest = {
      "format_version": 1,
      "generator": "jaxgeo.toy_world.generator",
      "seed": config.seed,
      "config": dataclasses.asdict(config),
      "counts": {**yfcc["counts"], **tests["counts"], **gld["counts"],
                 "files": out.files + 1, "bytes": out.bytes},
      "bad_records": yfcc["bad_records"],
      "im2gps3k_unlabelled": tests["im2gps3k_unlabelled"],
      "gldv2_dropped_from_clean": gld["dropped_from_clean"],
      "cities": [{"name": c.name, "country": c.country, "lat": c.lat, "lon": c.lon,
                  "region": c.region, "climate": c.climate, "popularity": round(float(w), 6)}
                 for c, w in zip(CITIES, city_weights())],
      "landmarks": landmarks,
      "layouts": {
          "yfcc100m_dataset": "25 tab-separated columns, no header (the YFCC100M order)",
          "yfcc100m_dataset_23col": "23 columns: the 25-column layout without line number "
                                    "(0) and photo hash (2)",
          "yfcc100m_images": "data/images/<hash[:3]>/<hash[3:6]>/<hash>.jpg, hash = MD5 of "
                             "the download URL (column 16)",
          "mp16_img_id": "<hash[:2]>/<hash[2:4]>/<photo id>.jpg",
          "im2gps3k_img_id": "<photo id>_<original secret>_o.jpg",
          "yfcc4k_images": "flat folder <photo id>.jpg",
          "gldv2_tar_member": "<id[0]>/<id[1]>/<id[2]>/<id>.jpg",
      },
      "files": {
          "yfcc100m_metadata": "yfcc100m/yfcc100m_dataset",
          "yfcc100m_metadata_23col": "yfcc100m_23col/yfcc100m_dataset",
          "yfcc100m_images": "yfcc100m/data/images",
          "mp16_meta": "mp16/mp16_places365.csv" if config.mp16 else None,
          "mp16_urls": "mp16/mp16_urls.csv" if config.mp16 else None,
          "mp16_shards": yfcc["shards"],
          "im2gps3k_meta": "im2gps3k/im2gps3k_places365.csv",
          "im2gps3k_images": "im2gps3k/images",
          "yfcc4k_metadata": "yfcc4k/yfcc4k_dataset",
          "yfcc4k_images": "yfcc4k/images",
          "gldv2_dir": "gldv2",
          "gldv2_csv": {name: f"gldv2/{name}" for name in (
              "train.csv", "train_clean.csv", "train_label_to_category.csv", "index.csv",
              "index_image_to_landmark.csv", "test.csv", "recognition_solution_v2.1.csv",
              "retrieval_solution_v2.1.csv")},
          "gldv2_tars": gld["tars"],
          "truth_photos": "truth/photos.csv",
          "truth_gldv2": "truth/gldv2.csv",
      },
      "generation": {"seconds": round(time.time() - start, 2), "num_workers": num_workers},
  }
  with open(os.path.join(root, "manifest.json"), "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False)
  return manifest
