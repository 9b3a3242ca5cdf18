"""What a coarse answer may reveal (jaxgeo.predict.coarse)."""

from jaxgeo.predict import coarse


def test_box_is_a_fixed_grid_cell():
  assert coarse.box(48.8566, 2.3522) == (40.0, 0.0, 50.0, 10.0)  # Paris
  assert coarse.box(-33.86, 151.21) == (-40.0, 150.0, -30.0, 160.0)  # Sydney
  assert coarse.box(-0.5, -0.5) == (-10.0, -10.0, 0.0, 0.0)
  assert coarse.box(90.0, 180.0) == (80.0, 170.0, 90.0, 180.0)
  # Two points in the same cell get the same box: the box does not centre on the point.
  assert coarse.box(41.0, 1.0) == coarse.box(49.0, 9.0)


def test_a_region_is_its_grid_cell_centre():
  assert coarse.region_centre(48.8584, 2.2945) == (45.0, 5.0)  # the Eiffel Tower
  assert coarse.region_centre(52.5163, 13.3777) == (55.0, 15.0)  # the Brandenburg Gate
  assert coarse.region_centre(-33.8568, 151.2153) == (-35.0, 155.0)  # the Sydney Opera House
  # Every point of a cell says the same: nothing finer than the cell can be read back.
  assert coarse.region_centre(40.0, 0.0) == coarse.region_centre(49.99, 9.99)
