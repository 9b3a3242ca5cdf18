"""Tests of the toy world: every file in its documented raw format, bad records, determinism,
and content and tags that depend on place."""

import csv
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tarfile
import urllib.parse

import msgpack
import numpy as np
import pytest
from PIL import Image

from jaxgeo.toy_world import catalogue, generator, sampling
from jaxgeo.toy_world.config import BAD_KINDS, ToyWorldConfig
from jaxgeo.toy_world.formats import yfcc100m

SMALL = ToyWorldConfig(
    seed=3, num_train_photos=600, num_test_photos=50, num_yfcc4k_photos=30, image_size=64,
    num_landmarks=10, gldv2_train_per_landmark=8, gldv2_index_per_landmark=3,
    gldv2_test_photos=40, bad_fraction=0.02)
SHARD = 256  # smaller MP-16 shards, so the small world has several


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("toy"))
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(yfcc100m, "MP16_SHARD_SIZE", SHARD)
    manifest = generator.generate_toy_world(root, SMALL, num_workers=1)
  return root, manifest


def _yfcc_rows(path):
  with open(path, encoding="utf-8") as f:
    return [line.rstrip("\n").split("\t") for line in f]


def _read_csv(path, header=True):
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f))
  return (rows[0], rows[1:]) if header else rows


def _km(lat1, lon1, lat2, lon2):
  p1, p2 = math.radians(lat1), math.radians(lat2)
  a = (math.sin((p2 - p1) / 2) ** 2
       + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
  return 2 * 6371.0 * math.asin(math.sqrt(a))


def _image_path(root, h):
  return os.path.join(root, "yfcc100m", "data", "images", h[:3], h[3:6], h + ".jpg")


def _classify(root, row):
  """What a builder must conclude about a metadata row (the rules of jaxgeo/data/raw/yfcc.py)."""
  if row[24] == "1":
    return "video"
  if not row[12] or not row[13]:
    return "no_gps"
  if not (-180 <= float(row[12]) <= 180 and -90 <= float(row[13]) <= 90):
    return "bad_coordinates"
  path = _image_path(root, row[2])
  if not os.path.exists(path):
    return "missing_image"
  if os.path.getsize(path) < 1024:
    return "empty_image"
  try:
    with Image.open(path) as im:
      im.load()
  except OSError:  # UnidentifiedImageError is an OSError too
    return "corrupt_image"
  return "good"


def test_yfcc100m_columns(world):
  root, manifest = world
  rows = _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset"))
  assert len(rows) == manifest["counts"]["yfcc100m_rows"] == 600 + 6 * 14
  assert manifest["counts"]["yfcc100m_bad_per_kind"] == {k: 14 for k in BAD_KINDS}
  assert all(len(r) == 25 for r in rows)
  assert [int(r[0]) for r in rows] == list(range(len(rows)))
  assert len({r[1] for r in rows}) == len(rows)
  url_re = re.compile(r"^http://farm(\d)\.staticflickr\.com/(\d+)/(\d+)_([0-9a-f]{10})\.jpg$")
  for r in rows:
    assert r[2] == hashlib.md5(r[16].encode()).hexdigest()
    assert re.fullmatch(r"\d{8}@N\d\d", r[3])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.0", r[5])
    assert int(r[6]) > 1_100_000_000
    assert r[15] == f"http://www.flickr.com/photos/{r[3]}/{r[1]}/"
    assert r[17].endswith("License") and r[18].startswith("http://creativecommons.org/")
    assert r[24] in ("0", "1")
    if r[24] == "0":
      farm, server, pid, secret = url_re.fullmatch(r[16]).groups()
      assert (farm, server, pid, secret) == (r[20], r[19], r[1], r[21])
      assert r[23] == "jpg" and re.fullmatch(r"[0-9a-f]{10}", r[22])
    if r[12]:
      assert r[14] and 1 <= int(r[14]) <= 16
    for col in (4, 7, 8, 9, 10):  # URL-encoded text: no raw spaces or tabs
      assert " " not in r[col]
  # 23-column layout: the same rows without line number and hash.
  old = _yfcc_rows(os.path.join(root, "yfcc100m_23col", "yfcc100m_dataset"))
  assert len(old) == manifest["counts"]["yfcc100m_23col_rows"] == 12
  assert old == [[f for j, f in enumerate(r) if j not in (0, 2)] for r in rows[:12]]


def test_bad_records_match_manifest(world):
  root, manifest = world
  rows = _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset"))
  found = {k: [] for k in BAD_KINDS}
  lines = {k: [] for k in BAD_KINDS}
  good = 0
  for r in rows:
    kind = _classify(root, r)
    if kind == "good":
      good += 1
      with Image.open(_image_path(root, r[2])) as im:
        assert min(im.size) == SMALL.image_size and im.format == "JPEG"
    else:
      found[kind].append(int(r[1]))
      lines[kind].append(int(r[0]))
  assert good == SMALL.num_train_photos
  for kind in BAD_KINDS:
    assert found[kind] == manifest["bad_records"][kind]["photo_ids"], kind
    assert lines[kind] == manifest["bad_records"][kind]["line_numbers"], kind
  # Some empty files are 0 bytes, some are < 1 KB stubs.
  sizes = [os.path.getsize(_image_path(root, r[2])) for r in rows
           if int(r[1]) in set(found["empty_image"])]
  assert 0 in sizes and any(0 < s < 1024 for s in sizes)
  # Image aspect ratios vary (landscape, portrait, square).
  shapes = set()
  for r in rows[:200]:
    if _classify(root, r) == "good":
      with Image.open(_image_path(root, r[2])) as im:
        shapes.add(im.size)
  assert {(85, 64), (64, 85), (64, 64)} <= shapes


def test_tags_url_encoded(world):
  root, _ = world
  rows = [r for r in _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset"))]
  counts = [len(r[10].split(",")) if r[10] else 0 for r in rows]
  assert max(counts) <= 15 and min(counts) == 0
  raw = [urllib.parse.unquote_plus(t) for r in rows for t in r[10].split(",") if t]
  assert any(" " in t for t in raw)  # written as '+'
  assert any(t != t.lower() for t in raw)  # some capitals
  assert any(not t.isascii() for t in raw)  # e.g. 東京, percent-encoded UTF-8
  assert all(urllib.parse.quote_plus(t) in r[10] for r in rows[:50]
             for t in (urllib.parse.unquote_plus(x) for x in r[10].split(",") if x))


def test_mp16(world):
  root, manifest = world
  header, rows = _read_csv(os.path.join(root, "mp16", "mp16_places365.csv"))
  assert header == ["IMG_ID", "AUTHOR", "LAT", "LON", "S3_Label", "S16_Label", "S365_Label",
                    "Prob_indoor", "Prob_natural", "Prob_urban"]
  assert len(rows) == SMALL.num_train_photos == manifest["counts"]["mp16_photos"]
  meta = {r[1]: r for r in _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset"))}
  for r in rows:
    m = re.fullmatch(r"([0-9a-f]{2})/([0-9a-f]{2})/(\d+)\.jpg", r[0])
    y = meta[m.group(3)]
    assert _classify(root, y) == "good"
    assert (r[1], r[2], r[3]) == (y[3], y[13], y[12])
    assert int(r[4]) in (0, 1, 2) and 0 <= int(r[6]) < 365
    assert abs(sum(float(x) for x in r[7:10]) - 1.0) < 2e-3
  urls = _read_csv(os.path.join(root, "mp16", "mp16_urls.csv"), header=False)
  assert [u[0] for u in urls] == [r[0] for r in rows]
  assert all(u[1] == meta[u[0].split("/")[2][:-4]][16] for u in urls)
  # Shards: msgpack streams of {"image", "id"}, SHARD records each but the last.
  shard_sizes, ids = [], []
  for rel in manifest["files"]["mp16_shards"]:
    with open(os.path.join(root, rel), "rb") as f:
      recs = list(msgpack.Unpacker(f, raw=False))
    shard_sizes.append(len(recs))
    for rec in recs:
      assert set(rec) == {"image", "id"} and isinstance(rec["image"], bytes)
      ids.append(rec["id"])
    with open(_image_path(root, meta[recs[0]["id"].split("/")[2][:-4]][2]), "rb") as f:
      assert f.read() == recs[0]["image"]
  assert shard_sizes == [SHARD, SHARD, 600 - 2 * SHARD]
  assert [os.path.basename(p) for p in manifest["files"]["mp16_shards"]] == [
      "shard_0.msg", "shard_1.msg", "shard_2.msg"]
  assert ids == [r[0] for r in rows]


def test_test_sets(world):
  root, manifest = world
  train_ids = {r[1] for r in _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset"))}
  header, rows = _read_csv(os.path.join(root, "im2gps3k", "im2gps3k_places365.csv"))
  # The 2018 variant of the label file: the header names LON, LAT over latitudes, longitudes.
  assert header[:4] == ["IMG_ID", "AUTHOR", "LON", "LAT"] and len(header) == 10
  values = np.array([(float(r[2]), float(r[3])) for r in rows])
  assert np.all(np.abs(values[:, 0]) <= 90) and np.any(np.abs(values[:, 1]) > 90)
  images = sorted(os.listdir(os.path.join(root, "im2gps3k", "images")))
  assert len(images) == SMALL.num_test_photos
  assert all(re.fullmatch(r"\d+_[0-9a-f]{10}_o\.jpg", n) for n in images)
  unlabelled = manifest["im2gps3k_unlabelled"]
  assert len(unlabelled) == 1 and len(rows) == SMALL.num_test_photos - 1
  assert sorted([r[0] for r in rows] + unlabelled) == images
  assert not {n.split("_")[0] for n in images} & train_ids
  # Test-set authors never took training photos.
  train_users = {r[3] for r in _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset"))}
  assert not {r[1] for r in rows} & train_users
  y4 = _yfcc_rows(os.path.join(root, "yfcc4k", "yfcc4k_dataset"))
  assert len(y4) == SMALL.num_yfcc4k_photos and all(len(r) == 25 for r in y4)
  assert sorted(r[1] + ".jpg" for r in y4) == sorted(os.listdir(
      os.path.join(root, "yfcc4k", "images")))
  assert not {r[1] for r in y4} & train_ids
  assert all(-90 <= float(r[13]) <= 90 and -180 <= float(r[12]) <= 180 for r in y4)


def test_gldv2(world):
  root, manifest = world
  g = os.path.join(root, "gldv2")
  header, train = _read_csv(os.path.join(g, "train.csv"))
  assert header == ["id", "url", "landmark_id"]
  assert len(train) == 10 * 8
  assert all(re.fullmatch(r"[0-9a-f]{16}", r[0]) for r in train)
  assert all(r[1].startswith("https://upload.wikimedia.org/wikipedia/commons/") for r in train)
  lms = manifest["landmarks"]
  assert len(lms) == 10
  train_lid = {r[0]: int(r[2]) for r in train}
  assert set(train_lid.values()) == {lm["gldv2_train_landmark_id"] for lm in lms}
  header, clean = _read_csv(os.path.join(g, "train_clean.csv"))
  assert header == ["landmark_id", "images"]
  clean_ids = [i for r in clean for i in r[1].split(" ")]
  assert all(train_lid[i] == int(r[0]) for r in clean for i in r[1].split(" "))
  assert 0.5 * len(train) < len(clean_ids) < len(train)
  dropped = manifest["gldv2_dropped_from_clean"]
  assert len(dropped) == 2 and not {int(r[0]) for r in clean} & set(dropped)
  header, cats = _read_csv(os.path.join(g, "train_label_to_category.csv"))
  assert header == ["landmark_id", "category"] and len(cats) == 10
  assert all(c[1].startswith("http://commons.wikimedia.org/wiki/Category:") for c in cats)
  # Index landmark ids are another id space, mapped to the world's landmarks in the manifest.
  header, index_map = _read_csv(os.path.join(g, "index_image_to_landmark.csv"))
  assert header == ["id", "landmark_id"] and len(index_map) == 30
  index_to_world = {lm["gldv2_index_landmark_id"]: lm["world_id"] for lm in lms}
  train_to_world = {lm["gldv2_train_landmark_id"]: lm["world_id"] for lm in lms}
  assert all(lm["gldv2_index_landmark_id"] != lm["gldv2_train_landmark_id"] for lm in lms)
  index_world = {r[0]: index_to_world[int(r[1])] for r in index_map}
  _, index = _read_csv(os.path.join(g, "index.csv"))
  assert sorted(r[0] for r in index) == sorted(index_world)
  _, test = _read_csv(os.path.join(g, "test.csv"))
  header, recog = _read_csv(os.path.join(g, "recognition_solution_v2.1.csv"))
  assert header == ["id", "landmarks", "Usage"]
  header, retr = _read_csv(os.path.join(g, "retrieval_solution_v2.1.csv"))
  assert header == ["id", "images", "Usage"]
  assert [r[0] for r in test] == [r[0] for r in recog] == [r[0] for r in retr]
  assert {r[2] for r in recog} == {"Public", "Private", "Ignored"}
  assert 0 < sum(1 for r in recog if not r[1]) < len(recog)
  for rec, ret in zip(recog, retr):
    assert rec[2] == ret[2]
    if rec[2] == "Ignored":  # no ground truth, whatever the image shows (as v2.1 writes it)
      assert rec[1] == "" and ret[1] == "None"
    elif not rec[1]:
      assert ret[1] == ""
    else:
      world_id = train_to_world[int(rec[1])]
      assert sorted(ret[1].split(" ")) == sorted(i for i, w in index_world.items()
                                                 if w == world_id)
  # Tars: members a/b/c/<id>.jpg, deterministic metadata, one member per CSV id.
  for split, ids in (("train", train_lid), ("index", index_world), ("test", [r[0] for r in test])):
    members = {}
    for rel in manifest["files"]["gldv2_tars"][split]:
      assert re.fullmatch(rf"gldv2/{split}/images_\d{{3}}\.tar", rel)
      with tarfile.open(os.path.join(root, rel)) as tar:
        for m in tar.getmembers():
          a, b, c, name = m.name.split("/")
          assert name[:3] == a + b + c and (m.uid, m.gid, m.uname) == (0, 0, "")
          members[name[:-4]] = tar.extractfile(m).read()
    assert sorted(members) == sorted(ids)
    with Image.open(io.BytesIO(next(iter(members.values())))) as im:
      im.load()
      assert min(im.size) == SMALL.image_size


def test_manifest(world):
  root, manifest = world
  with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
    assert json.load(f) == json.loads(json.dumps(manifest, ensure_ascii=False))
  assert {"config", "seed", "counts", "bad_records", "im2gps3k_unlabelled", "cities",
          "landmarks", "files", "generation"} <= set(manifest)
  cities = {c["name"]: c for c in manifest["cities"]}
  assert len(cities) >= 60
  assert cities["Suva"]["lon"] > 178 and cities["McMurdo Station"]["lat"] < -77
  assert cities["Longyearbyen"]["lat"] > 78
  assert {c["region"] for c in cities.values()} >= {"europe", "africa", "oceania", "antarctic"}
  assert abs(sum(c["popularity"] for c in cities.values()) - 1) < 1e-4
  for rel in [v for v in manifest["files"].values() if isinstance(v, str)]:
    assert os.path.exists(os.path.join(root, rel)), rel


def test_landmark_photos_are_near_their_landmark(world):
  root, manifest = world
  by_tag = {lm["name"].lower(): lm for lm in manifest["landmarks"]}
  near = 0
  for r in _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset")):
    tags = {urllib.parse.unquote_plus(t).lower() for t in r[10].split(",")}
    for name in tags & set(by_tag):
      if _classify(root, r) == "good":
        lm = by_tag[name]
        assert _km(float(r[13]), float(r[12]), lm["lat"], lm["lon"]) < 2.0
        near += 1
  assert near >= 20


def test_content_depends_on_place(world):
  root, _ = world
  stats = {"cold": [], "tropical": []}
  for r in _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset")):
    # Good daytime photos (hour taken 9-16: the renderer matches light and hour).
    if _classify(root, r) != "good" or not 9 <= int(r[5][11:13]) <= 16:
      continue
    lat = abs(float(r[13]))
    band = "cold" if lat > 55 else "tropical" if lat < 23 else None
    if band:
      with Image.open(_image_path(root, r[2])) as im:
        a = np.asarray(im.convert("RGB"), np.float32) / 255
      sat = a.max(-1) - a.min(-1)
      lower = a[a.shape[0] // 2:]  # ground, water, snow or street
      white = ((lower.min(-1) > 0.6) & (sat[a.shape[0] // 2:] < 0.15)).mean()
      stats[band].append((sat.mean(), white))
  cold, trop = np.array(stats["cold"]), np.array(stats["tropical"])
  assert len(cold) >= 15 and len(trop) >= 25
  # Pale skies and snow near the poles; deep blue skies, saturated greens and turquoise water
  # in the tropics.
  assert cold[:, 0].mean() < trop[:, 0].mean() - 0.1
  assert cold[:, 1].mean() > 0.08 and trop[:, 1].mean() < 0.06


def test_tags_depend_on_place(world):
  root, _ = world
  # Tags that only one country's photos may carry.
  owner = {}
  for country, tags in catalogue.COUNTRY_TAGS.items():
    for t in tags:
      owner.setdefault(t, set()).add(country)
  for c in catalogue.CITIES:
    for t in c.local_tags:
      owner.setdefault(t, set()).add(c.country)
  for region, tags in catalogue.REGION_TAGS.items():
    for t in tags:
      owner.setdefault(t, set()).update(
          c.country for c in catalogue.CITIES if c.region == region)
  single = {t: next(iter(cs)) for t, cs in owner.items() if len(cs) == 1}
  assert {"hanami", "outback", "東京"} <= set(single)
  cities_of = {}
  for c in catalogue.CITIES:
    cities_of.setdefault(c.country, []).append(c)
  checked = 0
  for r in _yfcc_rows(os.path.join(root, "yfcc100m", "yfcc100m_dataset")):
    if _classify(root, r) != "good":
      continue
    for t in (urllib.parse.unquote_plus(x) for x in r[10].split(",") if x):
      if t in single:
        d = min(_km(float(r[13]), float(r[12]), c.lat, c.lon) for c in cities_of[single[t]])
        assert d < 700, (t, r[12], r[13])
        checked += 1
  assert checked >= 100


def test_offset_wraps_antimeridian_and_poles():
  lat, lon = sampling.offset(-18.1416, 178.4419, 300.0, math.pi / 2)  # east of Suva
  assert -180 <= lon < -178 and abs(lat + 18.14) < 0.01
  lat, lon = sampling.offset(89.5, 10.0, 200.0, 0.0)  # over the North Pole
  assert lat < 90 and abs(lon - (-170.0)) < 1e-6
  assert abs(_km(51.5, 0.0, *sampling.offset(51.5, 0.0, 50.0, 1.0)) - 50.0) < 0.5


TINY = ToyWorldConfig(
    seed=5, num_train_photos=150, num_test_photos=8, num_yfcc4k_photos=5, image_size=48,
    num_landmarks=5, gldv2_train_per_landmark=4, gldv2_index_per_landmark=2,
    gldv2_test_photos=10)


def _tree(root):
  out = {}
  for d, _, files in os.walk(root):
    for f in files:
      p = os.path.join(d, f)
      if f != "manifest.json":
        with open(p, "rb") as fh:
          out[os.path.relpath(p, root)] = fh.read()
  return out


def test_determinism(tmp_path):
  a = generator.generate_toy_world(tmp_path / "a", TINY, num_workers=1)
  b = generator.generate_toy_world(tmp_path / "b", TINY, num_workers=2)
  ta, tb = _tree(tmp_path / "a"), _tree(tmp_path / "b")
  assert len(ta) > 150 and ta == tb  # byte-identical whatever the worker count
  a.pop("generation"), b.pop("generation")
  assert a == b
  generator.generate_toy_world(tmp_path / "c", ToyWorldConfig(
      **{**TINY.__dict__, "seed": 6}), num_workers=1)
  tc = _tree(tmp_path / "c")
  meta = "yfcc100m/yfcc100m_dataset"
  assert ta[meta] != tc[meta] and ta["gldv2/train.csv"] != tc["gldv2/train.csv"]
  assert not ({v for v in ta.values() if len(v) > 1024}
              & {v for k, v in tc.items() if k.endswith(".jpg")})
  # Regenerating into an earlier world replaces it (no stale files); other folders are refused.
  generator.generate_toy_world(tmp_path / "a", ToyWorldConfig(
      **{**TINY.__dict__, "seed": 6}), num_workers=1)
  assert _tree(tmp_path / "a") == tc
  (tmp_path / "d").mkdir()
  (tmp_path / "d" / "notes.txt").write_text("mine")
  with pytest.raises(ValueError, match="not empty"):
    generator.generate_toy_world(tmp_path / "d", TINY, num_workers=1)


def test_config_validation():
  with pytest.raises(ValueError, match="num_landmarks"):
    ToyWorldConfig(num_landmarks=len(catalogue.LANDMARKS) + 1).validate()
  with pytest.raises(ValueError, match="bad_fraction"):
    ToyWorldConfig(bad_fraction=0.5).validate()
  assert ToyWorldConfig().num_bad_per_kind == 455  # 2% of 22,730 rows


def test_cli(tmp_path):
  out = tmp_path / "cli"
  res = subprocess.run(
      [sys.executable, "-m", "jaxgeo.toy_world", f"--out={out}", "--num_train_photos=40",
       "--num_test_photos=4", "--num_yfcc4k_photos=3", "--num_landmarks=3",
       "--gldv2_train_per_landmark=2", "--gldv2_index_per_landmark=1", "--gldv2_test_photos=3",
       "--image_size=32", "--nomp16", "--num_workers=1"],
      capture_output=True, text=True, check=True, timeout=120)
  assert "yfcc100m: " in res.stdout and "gldv2: 6 train" in res.stdout
  manifest = json.loads((out / "manifest.json").read_text())
  assert manifest["config"]["mp16"] is False and not (out / "mp16").exists()
