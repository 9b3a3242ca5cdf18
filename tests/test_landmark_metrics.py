"""GAP and mAP@100 on hand-worked examples."""

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
