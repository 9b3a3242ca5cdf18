"""The plan of a collection run, its shards and their merge (no model needed)."""

from __future__ import annotations

import concurrent.futures
import csv
import json
import threading
import time

import pytest

from jaxgeo.predict import collection, inputs, shards

HEADER = ["source", "latitude", "longitude"]
REQUEST = {"inputs": ["photos/"], "coarse": False}


def _refs(n):
  return [f"photos/{i:03d}.jpg" for i in range(n)] + [("tfds:geo_testsets/yfcc4k:test", 7)]


def test_a_plan_cuts_the_listing_into_shards_and_is_reused(tmp_path):
  plan, reused = shards.make_plan(str(tmp_path), REQUEST, 4, lambda: iter(_refs(9)))
  assert not reused
  assert (plan.num_inputs, plan.num_shards) == (10, 3)
  assert [plan.shard_len(k) for k in range(3)] == [4, 4, 2]
  assert plan.shard_refs(0) == _refs(9)[:4]
  assert plan.shard_refs(2) == ["photos/008.jpg", ("tfds:geo_testsets/yfcc4k:test", 7)]
  assert plan.shards_of(0, 2) == [0, 2] and plan.shards_of(1, 2) == [1]
  assert plan.shards_of(3, 4) == []  # more processes than shards: this one has none
  assert plan.output(1, "csv").endswith("shards/predictions-00001-of-00003.csv")
  assert plan.output(1, "report").endswith("shards/report-00001-of-00003.json")

  def never():
    raise AssertionError("a saved plan is not listed again")
  again, reused = shards.make_plan(str(tmp_path), REQUEST, 4, never)
  assert reused and again == plan


def test_a_plan_for_other_inputs_or_options_is_refused_naming_the_difference(tmp_path):
  shards.make_plan(str(tmp_path), REQUEST, 4, lambda: iter(_refs(3)))
  with pytest.raises(shards.PlanMismatch, match=r"coarse: False then, True now.*another "
                     r"--output_dir"):
    shards.make_plan(str(tmp_path), {**REQUEST, "coarse": True}, 4, lambda: iter(_refs(3)))
  with pytest.raises(shards.PlanMismatch, match="shard_size: 4 then, 5 now"):
    shards.make_plan(str(tmp_path), REQUEST, 5, lambda: iter(_refs(3)))


def test_a_listing_stopped_halfway_is_listed_again(tmp_path):
  def broken():
    yield from _refs(5)
    raise KeyboardInterrupt
  with pytest.raises(KeyboardInterrupt):
    shards.make_plan(str(tmp_path), REQUEST, 2, broken)
  assert not (tmp_path / shards.PLAN_FILE).exists()  # written last
  plan, reused = shards.make_plan(str(tmp_path), REQUEST, 2, lambda: iter(_refs(2)))
  assert not reused and plan.num_shards == 2
  assert sorted(p.name for p in (tmp_path / "inputs").iterdir()) == ["00000.jsonl",
                                                                     "00001.jsonl"]


def test_any_path_is_one_line_of_a_shard(tmp_path):
  odd = ["with\nnewline.jpg", "ünïcode, \"quoted\".jpg", "tab\tname.JPG"]
  plan, _ = shards.make_plan(str(tmp_path), REQUEST, 10, lambda: iter(odd))
  assert plan.shard_refs(0) == odd


def _write_shard(plan, k, rows, finish=True):
  writer = shards.ShardWriter(plan, k, HEADER)
  for source, lat, lon in rows:
    writer.write([source, lat, lon], {"type": "Feature", "geometry": {
        "type": "Point", "coordinates": [float(lon), float(lat)]}, "properties": {
            "source": source}})
  if not finish:
    writer.abandon()
    return
  writer.finish()
  shards.write_atomically(plan.output(k, "report"), json.dumps({"shard": k}))


def test_the_merge_concatenates_finished_shards_in_order(tmp_path):
  plan, _ = shards.make_plan(str(tmp_path), REQUEST, 2, lambda: iter(_refs(3)))
  _write_shard(plan, 0, [("a", "10", "20"), ("b", "11", "21")])
  _write_shard(plan, 1, [("x", "0", "0")], finish=False)  # a stopped run's leftovers
  assert not plan.finished(1) and shards.missing_shards(plan) == [1]
  with pytest.raises(FileNotFoundError, match=r"1 of 2 shards are not finished.*shards 1\)"):
    shards.merge(plan, HEADER)
  _write_shard(plan, 1, [("c, with comma", "1.5", "2.5"), ("d", "-3", "4")])
  assert not list(tmp_path.rglob("*.tmp"))
  reports = shards.merge(plan, HEADER)
  assert reports == [{"shard": 0}, {"shard": 1}]
  with open(tmp_path / "predictions.csv", encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f))
  assert rows == [HEADER, ["a", "10", "20"], ["b", "11", "21"], ["c, with comma", "1.5", "2.5"],
                  ["d", "-3", "4"]]
  geo = json.loads((tmp_path / "predictions.geojson").read_text())
  assert [f["properties"]["source"] for f in geo["features"]] == ["a", "b", "c, with comma", "d"]
  assert geo["features"][3]["geometry"]["coordinates"] == [4.0, -3.0]
  one = json.loads((tmp_path / "shards" / "predictions-00000-of-00002.geojson").read_text())
  assert len(one["features"]) == 2  # each shard is a GeoJSON file of its own


def test_an_empty_collection_merges_to_empty_files(tmp_path):
  plan, _ = shards.make_plan(str(tmp_path), REQUEST, 5, lambda: iter([]))
  assert plan.num_shards == 0
  shards.merge(plan, HEADER)
  assert (tmp_path / "predictions.csv").read_text().strip() == ",".join(HEADER)
  assert json.loads((tmp_path / "predictions.geojson").read_text())["features"] == []


def test_photos_are_decoded_ahead_in_order_within_the_window():
  in_flight, most = set(), [0]
  lock = threading.Lock()

  def load(i):
    with lock:
      in_flight.add(i)
      most[0] = max(most[0], len(in_flight))
    time.sleep(0.002 * (i % 3))  # later ones often finish first
    with lock:
      in_flight.discard(i)
    return i * 10

  seconds = {"waiting": 0.0}
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    got = list(collection.ahead(range(40), load, pool, 6, seconds))
  assert got == [i * 10 for i in range(40)]
  assert most[0] <= 6 and seconds["waiting"] > 0


def test_a_file_list_is_read_line_by_line(tmp_path):
  listing = tmp_path / "list.txt"
  listing.write_text("a.jpg\r\n\n  \nsub dir/b.jpg\n", encoding="utf-8")
  assert list(inputs.iter_refs([], None, [str(listing)])) == ["a.jpg", "sub dir/b.jpg"]
  with pytest.raises(ValueError, match="The input list .*missing.txt cannot be read"):
    list(inputs.iter_refs([], None, [str(tmp_path / "missing.txt")]))
  with pytest.raises(ValueError, match="a built split needs a data dir"):
    list(inputs.iter_refs(["tfds:geo_testsets/yfcc4k:test"], None))
