"""The Google Landmarks v2 files: train/index/test CSVs, v2.1 solutions and image tars.

GLDv2 is laid out unlike the Flickr sets: hex image ids, landmark ids in two id spaces (train
and index), a cleaned train subset, "Ignored" test rows, and images in tars. Its ground truth
goes to truth/gldv2.csv.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from jaxgeo.toy_world.catalogue import LANDMARKS
from jaxgeo.toy_world.config import ToyWorldConfig
from jaxgeo.toy_world.formats.files import FileWriter
from jaxgeo.toy_world.sampling import MASTER_STREAM

# Images per GLDv2 tar file (the real tars hold ~8k; small tars keep the toy ones handy).
IMAGES_PER_TAR = 2000
# Fixed tar member metadata, so tars are byte-identical across runs.
_TAR_MTIME = 1_546_300_800  # 2019-01-01, the GLDv2 release year


def _hex_ids(rng: np.random.Generator, n: int) -> list[str]:
  """n distinct GLDv2-like image ids (16 hex digits) in random order."""
  ids: list[str] = []
  seen: set[str] = set()
  while len(ids) < n:
    x = rng.bytes(8).hex()
    if x not in seen:
      seen.add(x)
      ids.append(x)
  return ids


def _write_tars(out: FileWriter, folder: str, images: dict[str, bytes]) -> list[str]:
  """GLDv2 tars: members a/b/c/<id>.jpg, ids sorted, deterministic member metadata."""
  ids = sorted(images)
  paths = []
  for t, start in enumerate(range(0, len(ids), IMAGES_PER_TAR)):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
      for gid in ids[start:start + IMAGES_PER_TAR]:
        data = images[gid]
        info = tarfile.TarInfo(f"{gid[0]}/{gid[1]}/{gid[2]}/{gid}.jpg")
        info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))
    rel = f"{folder}/images_{t:03d}.tar"
    out.write(rel, buf.getvalue())
    paths.append(rel)
  return paths


def _wikimedia_url(name: str, k: int) -> str:
  fname = f"{name.replace(' ', '_')}_{k:03d}.jpg"
  md5 = hashlib.md5(fname.encode("utf-8")).hexdigest()
  return (f"https://upload.wikimedia.org/wikipedia/commons/{md5[0]}/{md5[:2]}/"
          f"{urllib.parse.quote(fname)}")


def _category_url(name: str) -> str:
  return "http://commons.wikimedia.org/wiki/Category:" + urllib.parse.quote(name.replace(" ", "_"))


def write(out: FileWriter, config: ToyWorldConfig,
          make_photos: Callable[[list[tuple]], Iterable[dict[str, Any]]],
          manifest_landmarks: list[dict[str, Any]]) -> dict[str, Any]:
  """Writes gldv2/ (CSVs, tars of train, index and test images) and truth/gldv2.csv.

  Args:
    out: Where the files go.
    config: Size and seed of the world.
    make_photos: Samples and renders photos for a list of tasks, in task order (the
      generator's workers); a task is (split, index, landmark index or -1, noisy).
    manifest_landmarks: The manifest's landmark entries, completed here with their GLDv2 ids.

  Returns:
    The manifest's entries for these files.
  """
  rng = np.random.default_rng([config.seed, MASTER_STREAM, 2])
  n_lm = config.num_landmarks
  # Landmark ids: train ids and index ids are different id spaces (as in GLDv2). A landmark's
  # two ids never coincide, so a builder that reuses one for the other fails loudly.
  train_lids = rng.choice(203_094, n_lm, replace=False).tolist()
  while True:
    index_lids = rng.choice(100_000, n_lm, replace=False).tolist()
    if all(i != t for i, t in zip(index_lids, train_lids)):
      break
  n_drop = min(2, n_lm // 5)
  dropped = set(rng.choice(n_lm, n_drop, replace=False).tolist()) if n_drop else set()
  per = config.gldv2_train_per_landmark
  n_train, n_index = n_lm * per, n_lm * config.gldv2_index_per_landmark
  n_test = config.gldv2_test_photos
  ids = _hex_ids(rng, n_train + n_index + n_test)
  train_ids, index_ids, test_ids = (ids[:n_train], ids[n_train:n_train + n_index],
                                    ids[n_train + n_index:])
  train_lm = [k // per for k in range(n_train)]
  noisy = [bool(rng.random() < 0.2) for _ in range(n_train)]
  index_lm = [k // config.gldv2_index_per_landmark for k in range(n_index)]
  test_lm = [int(rng.integers(n_lm)) if rng.random() < 0.75 else -1 for _ in range(n_test)]

  tasks = ([("gldv2_train", k, train_lm[k], noisy[k]) for k in range(n_train)]
           + [("gldv2_index", k, index_lm[k], False) for k in range(n_index)]
           + [("gldv2_test", k, test_lm[k], False) for k in range(n_test)])
  jpegs = [r["jpeg"] for r in make_photos(tasks)]
  train_img = dict(zip(train_ids, jpegs[:n_train]))
  index_img = dict(zip(index_ids, jpegs[n_train:n_train + n_index]))
  test_img = dict(zip(test_ids, jpegs[n_train + n_index:]))

  order = rng.permutation(n_train)
  out.write_text("gldv2/train.csv", ["id,url,landmark_id"] + [
      f"{train_ids[k]},{_wikimedia_url(LANDMARKS[train_lm[k]].name, k % per)},"
      f"{train_lids[train_lm[k]]}" for k in order])
  clean: dict[int, list[str]] = {}
  for k in range(n_train):
    if not noisy[k] and train_lm[k] not in dropped:
      clean.setdefault(train_lids[train_lm[k]], []).append(train_ids[k])
  out.write_text("gldv2/train_clean.csv", ["landmark_id,images"] + [
      f"{lid},{' '.join(clean[lid])}" for lid in sorted(clean)])
  out.write_text("gldv2/train_label_to_category.csv", ["landmark_id,category"] + [
      f"{train_lids[k]},{_category_url(LANDMARKS[k].name)}"
      for k in sorted(range(n_lm), key=lambda k: train_lids[k])])
  index_order = rng.permutation(n_index)
  out.write_text("gldv2/index.csv", ["id"] + [index_ids[k] for k in index_order])
  out.write_text("gldv2/index_image_to_landmark.csv", ["id,landmark_id"] + [
      f"{index_ids[k]},{index_lids[index_lm[k]]}" for k in index_order])
  out.write_text("gldv2/test.csv", ["id"] + test_ids)
  # As in v2.1, some test images are "Ignored": no ground truth (an empty list, "None" in the
  # retrieval solution) whatever they show, and left out of every score.
  usage = [("Public" if u < 0.33 else "Private" if u < 1 - config.gldv2_ignored_fraction
            else "Ignored") for u in (rng.random() for _ in range(n_test))]
  out.write_text("gldv2/recognition_solution_v2.1.csv", ["id,landmarks,Usage"] + [
      f"{gid},{train_lids[lm] if lm >= 0 and u != 'Ignored' else ''},{u}"
      for gid, lm, u in zip(test_ids, test_lm, usage)])
  index_of = {k: [index_ids[j] for j in range(n_index) if index_lm[j] == k] for k in range(n_lm)}
  out.write_text("gldv2/retrieval_solution_v2.1.csv", ["id,images,Usage"] + [
      f"{gid},{'None' if u == 'Ignored' else ' '.join(index_of[lm]) if lm >= 0 else ''},{u}"
      for gid, lm, u in zip(test_ids, test_lm, usage)])
  out.write_text("truth/gldv2.csv", ["split,id,landmark,noisy"] + [
      f"train,{train_ids[k]},{LANDMARKS[train_lm[k]].name},{int(noisy[k])}"
      for k in range(n_train)] + [
      f"index,{index_ids[k]},{LANDMARKS[index_lm[k]].name},0" for k in range(n_index)] + [
      f"test,{gid},{LANDMARKS[lm].name if lm >= 0 else ''},0" for gid, lm in zip(test_ids,
                                                                                 test_lm)])
  tars = {split: _write_tars(out, f"gldv2/{split}", imgs)
          for split, imgs in (("train", train_img), ("index", index_img), ("test", test_img))}
  for k in range(n_lm):
    manifest_landmarks[k].update(gldv2_train_landmark_id=train_lids[k],
                                 gldv2_index_landmark_id=index_lids[k],
                                 in_train_clean=k not in dropped,
                                 gldv2_category=_category_url(LANDMARKS[k].name))
  return {
      "counts": {"gldv2_train": n_train, "gldv2_train_noisy": int(sum(noisy)),
                 "gldv2_train_clean": sum(len(v) for v in clean.values()),
                 "gldv2_train_clean_landmarks": len(clean), "gldv2_index": n_index,
                 "gldv2_test": n_test,
                 "gldv2_test_with_landmark": sum(1 for lm in test_lm if lm >= 0)},
      "tars": tars,
      "dropped_from_clean": sorted(train_lids[k] for k in dropped),
  }
