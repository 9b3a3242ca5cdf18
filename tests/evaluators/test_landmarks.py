"""GAP and mAP@100 on hand-worked examples."""

import numpy as np
import pytest

from jaxgeo.evaluators import landmarks


def test_gap_hand_worked():
  # Images: A (landmark 1), B (landmark 2), C (no landmark), D (landmark 3).
  # Predictions sorted by confidence: A right (0.9), C wrong (0.8), B wrong (0.7), D right (0.6).
  # P = 1, 1/2, 1/3, 2/4; GAP = (1*1 + 0.5*1) / 3 images with a landmark = 0.5.
  gap = landmarks.global_average_precision(
      predicted=[1, 5, 7, 3], confidence=[0.9, 0.7, 0.8, 0.6], truth=[[1], [2], [], [3]])
  assert gap == pytest.approx(0.5)


def test_gap_abstaining_on_non_landmarks_helps():
  truth = [[1], [2], [], [3]]
  with_guess = landmarks.global_average_precision([1, 2, 7, 3], [0.9, 0.7, 0.95, 0.6], truth)
  abstain = landmarks.global_average_precision([1, 2, -1, 3], [0.9, 0.7, 0.95, 0.6], truth)
  assert abstain == pytest.approx(1.0)
  # With the confident wrong guess first: P = 0, 1/2, 2/3, 3/4 at the correct ones.
  assert with_guess == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)


def test_gap_errors():
  with pytest.raises(ValueError, match="one entry per test image"):
    landmarks.global_average_precision([1], [0.5, 0.2], [[1], [2]])
  with pytest.raises(ValueError, match="at least one test image"):
    landmarks.global_average_precision([1], [0.5], [[]])


def test_map_at_k_hand_worked():
  rankings = {"q1": ["a", "x", "b", "a", "c"], "q2": ["y", "d"], "q3": ["z"]}
  relevant = {"q1": ["a", "b", "c"], "q2": ["d"], "q3": []}
  # q1: hits at ranks 1, 3, 5 (the repeated "a" at rank 4 does not count, but keeps its rank):
  #     (1/1 + 2/3 + 3/5) / 3. q2: hit at rank 2: (1/2) / 1. q3 has no relevant images: skipped.
  expected = ((1 + 2 / 3 + 3 / 5) / 3 + 0.5) / 2
  assert landmarks.mean_average_precision_at_k(rankings, relevant) == pytest.approx(expected)
  # Only the first k results count.
  assert landmarks.mean_average_precision_at_k(rankings, {"q1": ["c"]}, k=4) == 0.0


def test_gap_leaves_out_ignored_images_as_the_official_scorer():
  # One landmark image right at 0.5 and one image the solution marks Ignored at 0.9: counted as
  # a wrong prediction the ignored image halves GAP; the official scorer leaves it out.
  predicted, confidence, truth = [4, 9], [0.5, 0.9], [[4], []]
  usage = ["Private", "Ignored"]
  assert landmarks.global_average_precision(predicted, confidence, truth) == pytest.approx(0.5)
  keep = landmarks.scored(usage)
  assert keep.tolist() == [True, False]
  assert landmarks.global_average_precision(
      [p for p, k in zip(predicted, keep) if k], [c for c, k in zip(confidence, keep) if k],
      [t for t, k in zip(truth, keep) if k]) == pytest.approx(1.0)


def test_gap_breaks_ties_by_image_id():
  # Equal confidences: the official scorer ranks by image id, ascending, whatever the order of
  # the input. Right answer on "0b", wrong on "0a": "0a" first gives P = 0, 1/2.
  truth = [[1], []]
  assert landmarks.global_average_precision([1, 2], [0.5, 0.5], truth,
                                            image_ids=["0b", "0a"]) == pytest.approx(0.5)
  assert landmarks.global_average_precision([1, 2], [0.5, 0.5], truth,
                                            image_ids=["0a", "0b"]) == pytest.approx(1.0)


def test_nearest_index_images_exact_neighbours():
  index = np.array([[1, 0], [0, 1], [0.6, 0.8], [-1, 0]], np.float32)
  queries = np.array([[0.8, 0.6], [0, -1]], np.float32)
  # Cosines, query 0: 0.8, 0.6, 0.96, -0.8; query 1: 0, -1, -0.8, 0.
  nearest = landmarks.nearest_index_images(queries, index, k=3, chunk=1)
  assert nearest[0].tolist() == [2, 0, 1]
  assert nearest[1].tolist()[:2] in ([0, 3], [3, 0]) and nearest[1].tolist()[2] == 2
  assert landmarks.nearest_index_images(queries, index, k=10).shape == (2, 4)
