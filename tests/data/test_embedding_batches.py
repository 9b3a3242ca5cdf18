"""Training batches from extracted embeddings: functions of the step, with the image pipeline's
labels."""

import numpy as np

from jaxgeo.data.embedding_batches import EmbeddingBatches
from jaxgeo.geo import partitions as partitions_lib

# Real places (latitude, longitude): Paris, Tokyo, Sydney, Rio; then a photo without coordinates.
LAT = np.array([48.8584, 35.6586, -33.8568, -22.9519, np.nan])
LON = np.array([2.2945, 139.7454, 151.2153, -43.2105, np.nan])


def _batches(batch_size=2, tags=True, seed=0):
  rng = np.random.default_rng(0)
  lat = np.repeat(LAT[:4], 30) + rng.normal(0, 0.01, 120)
  lon = np.repeat(LON[:4], 30) + rng.normal(0, 0.01, 120)
  parts, _ = partitions_lib.build_partitions(lat, lon, tau_min=5, tau_max=[100])
  embeddings = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
  tag_ids = np.array([[3, 7, -1], [5, -1, -1], [-1, -1, -1], [2, 4, 6], [1, -1, -1]], np.int32)
  return parts[0], EmbeddingBatches(embeddings, LAT, LON, tag_ids if tags else None, parts,
                                    batch_size, seed)


def test_labels_are_each_photos_cell_and_minus_one_without_coordinates():
  part, batches = _batches()
  expected = part.classify(LAT[:4], LON[:4]).tolist() + [-1]
  assert batches.labels[part.name].tolist() == expected
  assert len(set(expected[:4])) == 4  # one cell a city


def test_each_epoch_is_a_permutation_and_a_step_always_gives_the_same_batch():
  part, batches = _batches(batch_size=2)
  assert batches.steps_per_epoch == 2  # 5 photos, batches of 2: the last photo waits
  epoch = np.concatenate([batches(s)["embedding"][:, 0] for s in (1, 2)]).astype(int)
  assert len(set(epoch.tolist())) == 4 and set(epoch.tolist()) <= set(range(5))
  again = _batches(batch_size=2)[1]
  for step in (3, 1, 4):  # any order, e.g. after a resume
    first, second = batches(step), again(step)
    for key in first:
      np.testing.assert_array_equal(first[key], second[key])
  rows = batches(1)["embedding"][:, 0].astype(int)
  assert batches(1)[f"label_{part.name}"].tolist() == batches.labels[part.name][rows].tolist()


def test_one_positive_tag_a_photo_and_step():
  _, batches = _batches(batch_size=5)
  allowed = {0: {3, 7}, 1: {5}, 2: {-1}, 3: {2, 4, 6}, 4: {1}}
  seen = {row: set() for row in allowed}
  for step in range(1, 40):
    batch = batches(step)
    for row, tag in zip(batch["embedding"][:, 0].astype(int), batch["tag"]):
      assert tag in allowed[row]
      seen[row].add(int(tag))
  assert seen[0] == {3, 7} and seen[3] == {2, 4, 6}  # every positive tag is drawn in time
  assert "tag" not in _batches(tags=False)[1](1)
