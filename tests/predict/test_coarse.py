"""What a coarse answer may reveal (jaxgeo.predict.coarse)."""

import numpy as np

from jaxgeo.geo import s2
from jaxgeo.predict import coarse


def test_box_is_a_fixed_grid_cell():
  assert coarse.box(48.8566, 2.3522) == (40.0, 0.0, 50.0, 10.0)  # Paris
  assert coarse.box(-33.86, 151.21) == (-40.0, 150.0, -30.0, 160.0)  # Sydney
  assert coarse.box(-0.5, -0.5) == (-10.0, -10.0, 0.0, 0.0)
  assert coarse.box(90.0, 180.0) == (80.0, 170.0, 90.0, 180.0)
  # Two points in the same cell get the same box: the box does not centre on the point.
  assert coarse.box(41.0, 1.0) == coarse.box(49.0, 9.0)


def test_coordinates_to_whole_degrees():
  assert coarse.round_coordinates(48.8584, 2.2945) == (49.0, 2.0)  # the Eiffel Tower
  lat, lon = coarse.round_coordinates(np.array([-33.8568, 35.6586]), np.array([151.2153, 139.7454]))
  np.testing.assert_array_equal(lat, [-34.0, 36.0])
  np.testing.assert_array_equal(lon, [151.0, 140.0])


def test_cells_no_finer_than_level_6():
  fine = s2.latlng_to_cell_ids(np.array([48.8584]), np.array([2.2945]))  # a leaf cell
  coarse_ids = coarse.cell_ids(np.concatenate([fine, s2.cell_parents(fine, 4)]))
  assert s2.cell_levels(coarse_ids).tolist() == [6, 4]  # level 4 is kept as it is
  assert coarse_ids[0] == s2.cell_parents(fine, 6)[0]
