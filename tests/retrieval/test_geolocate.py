"""The neighbours' vote: the densest group wins over a lone look-alike, the spot inside it is
where its photos agree, and the hybrid keeps the neighbours inside the hierarchy's best cells."""

import numpy as np

from jaxgeo.retrieval import gallery, geolocate, leakage

# Real places: three photos around the Eiffel Tower (two within 300 m of it), one at the Louvre
# (3 km away), one on the Golden Gate Bridge.
EIFFEL = (48.85837, 2.29448)
TROCADERO = (48.86163, 2.28901)
CHAMP_DE_MARS = (48.85560, 2.29860)
LOUVRE = (48.86061, 2.33764)
GOLDEN_GATE = (37.81993, -122.47826)


def _rows(*places):
  lat = np.array([[p[0] for p in places]])
  lon = np.array([[p[1] for p in places]])
  return lat, lon


def test_the_densest_group_beats_the_single_best_look_alike():
  # The most similar photo is the Golden Gate; four of the next are in Paris.
  lat, lon = _rows(GOLDEN_GATE, LOUVRE, EIFFEL, TROCADERO, CHAMP_DE_MARS)
  similarity = np.array([[0.95, 0.94, 0.93, 0.93, 0.92]])
  vote = geolocate.retrieval(similarity, lat, lon, radius_km=25, refine_radius_km=0,
                             temperature=0.05)
  # Without refinement the group's densest member answers: every Paris photo has the other
  # three within 25 km, so the best ranked of them (the Louvre) wins the tie.
  assert vote.choice.tolist() == [1]
  np.testing.assert_array_equal(vote.support, [[False, True, True, True, True]])
  # Refined at 1 km, the spot three photos agree on: the Eiffel Tower's (the Louvre is alone).
  vote = geolocate.retrieval(similarity, lat, lon, radius_km=25, refine_radius_km=1,
                             temperature=0.05)
  assert vote.choice.tolist() == [2]
  assert (vote.latitude[0], vote.longitude[0]) == EIFFEL
  # The photos that decided it, the answered one first, named by their gallery ids.
  assert gallery.deciding_columns(vote, 0) == [2, 1, 3, 4]
  found = gallery.Neighbours(similarity, np.array([[40, 41, 42, 43, 44]]), lat, lon,
                             np.zeros((1, 5), np.int32))
  ids = np.array([f"photo{i}" for i in range(50)])
  assert gallery.deciding_photos(found, vote, ids) == ["photo42 photo41 photo43 photo44"]


def test_a_cold_temperature_trusts_the_best_neighbour_alone():
  lat, lon = _rows(GOLDEN_GATE, LOUVRE, EIFFEL)
  similarity = np.array([[0.99, 0.60, 0.60]])
  weights = geolocate.similarity_weights(similarity, temperature=0.01)
  np.testing.assert_allclose(weights, [[1.0, np.exp(-39), np.exp(-39)]], rtol=1e-9)
  vote = geolocate.retrieval(similarity, lat, lon, radius_km=25, refine_radius_km=1,
                             temperature=0.01)
  assert (vote.latitude[0], vote.longitude[0]) == GOLDEN_GATE


def test_hybrid_keeps_the_neighbours_of_the_top_cells_and_falls_back_to_the_cell():
  lat, lon = _rows(GOLDEN_GATE, LOUVRE, EIFFEL, TROCADERO)
  lat, lon = np.repeat(lat, 2, 0), np.repeat(lon, 2, 0)
  similarity = np.array([[0.95, 0.94, 0.93, 0.93]] * 2)
  cells = np.array([[7, 3, 3, 3]] * 2)  # class 7: San Francisco; class 3: Paris
  cell_lat, cell_lon = np.zeros(10), np.zeros(10)
  cell_lat[[3, 5, 7]], cell_lon[[3, 5, 7]] = (48.8566, 51.5074, 37.7749), (2.3522, -0.1278,
                                                                           -122.4194)
  # Photo 0: the hierarchy's best cell is San Francisco; photo 1: London (5), then Paris.
  top_cells = np.array([[7, 3], [5, 3]])
  top_log_probs = np.log(np.array([[0.6, 0.3], [0.5, 0.4]]))
  only_top = geolocate.hybrid(similarity, lat, lon, cells, top_cells[:, :1],
                              top_log_probs[:, :1], cell_lat, cell_lon, radius_km=25,
                              refine_radius_km=1, temperature=0.05, cell_power=0.5)
  # Inside San Francisco's cell the one photo there answers; London's cell has no neighbour:
  # the cell's own coordinate.
  assert only_top.choice.tolist() == [0, -1]
  assert (only_top.latitude[0], only_top.longitude[0]) == GOLDEN_GATE
  assert (only_top.latitude[1], only_top.longitude[1]) == (51.5074, -0.1278)
  assert not only_top.support[1].any()
  assert gallery.deciding_columns(only_top, 1) == []  # no gallery photo decided it
  # With two cells, Paris's three photos outweigh San Francisco's one (x (0.3/0.6)^0.5 each).
  both = geolocate.hybrid(similarity, lat, lon, cells, top_cells, top_log_probs, cell_lat,
                          cell_lon, radius_km=25, refine_radius_km=1, temperature=0.05,
                          cell_power=0.5)
  assert both.choice.tolist() == [2, 2]
  assert (both.latitude[0], both.longitude[0]) == EIFFEL
  # A large cell_power leaves only the top cell's neighbours with any weight.
  strict = geolocate.hybrid(similarity, lat, lon, cells, top_cells, top_log_probs, cell_lat,
                            cell_lon, radius_km=25, refine_radius_km=1, temperature=0.05,
                            cell_power=50.0)
  assert strict.choice[0] == 0


def test_leakage_counts_near_duplicates_and_shared_photographers():
  found = leakage.find_leakage(np.array([0.999, 0.90, 0.97, 0.5]),
                               np.array(["41448287@N02", "", "12345678@N00", "99@N01"]),
                               np.array(["12345678@N00", "", "55944511@N00"]), threshold=0.98)
  assert found.near_duplicate.tolist() == [True, False, False, False]
  # An unknown photographer ("") never matches, not even another unknown one.
  assert found.same_photographer.tolist() == [False, False, True, False]
  assert found.leaked.tolist() == [True, False, True, False]
  assert found.summary() == {"num_photos": 4.0, "near_duplicate_cosine": 0.98,
                             "near_duplicates": 1.0, "same_photographer": 1.0, "left_out": 2.0}
