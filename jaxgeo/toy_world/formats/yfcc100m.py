"""The YFCC100M-style files: metadata rows and image tree, the 23-column sample, and MP-16.

MP-16 is the good part of YFCC100M, so both are written from one stream of photos: rows,
images and msgpack shards go out as the photos arrive, which keeps memory flat for large worlds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from jaxgeo.toy_world.config import BAD_KINDS, ToyWorldConfig
from jaxgeo.toy_world.formats import rows
from jaxgeo.toy_world.formats.files import FileWriter
from jaxgeo.toy_world.sampling import Plan

# Records per MP-16 msgpack shard, as GeoEstimation distributes them.
MP16_SHARD_SIZE = 4096
# Number of rows copied into the 23-column (older layout) metadata sample.
_NUM_23COL_ROWS = 12


def _mp16_id(rec: dict[str, Any]) -> str:
  """The MP-16 IMG_ID of a photo: its path in the shards and meta CSV."""
  # Real MP-16 ids look like e1/55/4763369508.jpg; the toy world takes the two hex folders from
  # the photo hash.
  return f"{rec['hash'][:2]}/{rec['hash'][2:4]}/{rec['photo_id']}.jpg"


def write(out: FileWriter, config: ToyWorldConfig, plan: Plan,
          make_photos: Callable[[list[tuple]], Iterable[dict[str, Any]]]) -> dict[str, Any]:
  """Writes yfcc100m/, yfcc100m_23col/ and mp16/ (if config.mp16).

  Args:
    out: Where the files go.
    config: Size and seed of the world.
    plan: The world-wide draws (photo ids, bad-row positions).
    make_photos: Samples and renders photos for a list of tasks, in task order (the
      generator's workers); a task is (split, index, photo id, user pool, bad kind).

  Returns:
    The manifest's entries for these files, and the truth rows of their photos.
  """
  tasks = [("yfcc", i, plan.train_ids[i], "yfcc", plan.kinds[i]) for i in range(plan.n_rows)]
  lines, truth, mp16_rows, url_rows, shards = [], [], [], [], []
  bad: dict[str, dict[str, list]] = {k: {"photo_ids": [], "line_numbers": []} for k in BAD_KINDS}
  shard_buf: list[bytes] = []
  landmark_photos = 0

  def flush_shard() -> None:
    if shard_buf:
      rel = f"mp16/shards/shard_{len(shards)}.msg"
      out.write(rel, b"".join(shard_buf))
      shards.append(rel)
      shard_buf.clear()

  for i, rec in enumerate(make_photos(tasks)):
    lines.append(rows.yfcc_line(rec, i))
    truth.append(rows.truth_row("yfcc", rec))
    kind = rec["kind"]
    if kind != "good":
      bad[kind]["photo_ids"].append(rec["photo_id"])
      bad[kind]["line_numbers"].append(i)
    if "jpeg" in rec:
      h = rec["hash"]
      out.write(f"yfcc100m/data/images/{h[:3]}/{h[3:6]}/{h}.jpg", rec["jpeg"])
    if kind == "good":
      landmark_photos += bool(rec["landmark"])
      if config.mp16:
        img_id = _mp16_id(rec)
        mp16_rows.append(rows.places_row(img_id, rec))
        url_rows.append(f"{img_id},{rec['download_url']}")
        shard_buf.append(msgpack.packb({"image": rec["jpeg"], "id": img_id}, use_bin_type=True))
        if len(shard_buf) == MP16_SHARD_SIZE:
          flush_shard()
  flush_shard()
  out.write_text("yfcc100m/yfcc100m_dataset", lines)
  # The older 23-column layout: no line number (col 0) and no photo hash (col 2). In a folder of
  # its own, since builders read every yfcc100m_dataset* file of a folder as parts of one set.
  out.write_text("yfcc100m_23col/yfcc100m_dataset", [
      "\t".join(f for j, f in enumerate(line.split("\t")) if j not in (0, 2))
      for line in lines[:_NUM_23COL_ROWS]])
  if config.mp16:
    out.write_text("mp16/mp16_places365.csv", [",".join(rows.PLACES365_HEADER)] + mp16_rows)
    out.write_text("mp16/mp16_urls.csv", url_rows)
  return {
      "counts": {"yfcc100m_rows": plan.n_rows, "yfcc100m_good_photos": config.num_train_photos,
                 "yfcc100m_bad_per_kind": {k: len(v["photo_ids"]) for k, v in bad.items()},
                 "yfcc100m_landmark_photos": landmark_photos,
                 "yfcc100m_23col_rows": min(_NUM_23COL_ROWS, plan.n_rows),
                 "mp16_photos": len(mp16_rows), "mp16_shards": len(shards)},
      "bad_records": bad, "shards": shards, "truth": truth,
  }
