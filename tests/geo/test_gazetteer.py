"""Place names (jaxgeo.geo.gazetteer): cities, "near" a city, and far from any town."""

from __future__ import annotations

import pytest

from jaxgeo.geo import gazetteer
from jaxgeo.predict import coarse


@pytest.fixture(scope="module")
def names() -> gazetteer.Gazetteer:
  return gazetteer.default_gazetteer()


def test_a_city_keeps_its_name(names):
  paris = names.name(48.8566, 2.3522)
  assert paris.label == "Paris, France" and paris.country_label == "France"
  assert paris.region == ""  # only points far from any town get one


def test_near_a_city_up_to_far_km():
  place = gazetteer.PlaceName("Kalgoorlie", "Australia", "AU", 164.0)
  assert place.label == "near Kalgoorlie, Australia" and place.country_label == "Australia"


def test_antarctica_is_far_from_any_town_not_near_invercargill(names):
  # McMurdo Station used to be "near Invercargill, New Zealand", 3,494 km away.
  place = names.name(-77.82, 166.73)
  assert place.city == "Invercargill" and place.distance_km > gazetteer.FAR_KM
  assert place.label == ("Antarctica, far from any town (nearest: Invercargill, New Zealand, "
                         "3,494 km away)")
  assert place.country_label == "Antarctica"


def test_a_coarse_box_in_western_australia_is_named_australia(names):
  # A coarse box in Western Australia, named at an answer's point inside it (530 km from
  # Kalgoorlie) and at its centre (727 km): both were "near Australia".
  assert coarse.box(-26.0, 121.0) == (-30.0, 120.0, -20.0, 130.0)
  for lat, lon in ((-26.0, 121.0), (-25.0, 125.0)):
    assert names.name(lat, lon).country_label == "Australia"
  assert names.name(-26.0, 121.0).label == ("Oceania, far from any town (nearest: Kalgoorlie, "
                                            "Australia, 530 km away)")


def test_the_open_sea_is_named_by_its_ocean(names):
  expected = {(0.0, -140.0): "Pacific Ocean", (30.0, -40.0): "Atlantic Ocean",
              (-40.0, 80.0): "Indian Ocean", (85.0, 0.0): "Arctic Ocean",
              (10.0, -95.0): "Pacific Ocean", (25.0, -90.0): "Atlantic Ocean"}
  for (lat, lon), ocean in expected.items():
    place = names.name(lat, lon)
    assert place.at_sea and place.country_label == ocean, (lat, lon)
    assert place.label.startswith(f"{ocean}, far from any town (nearest: "), (lat, lon)
  assert names.name(30.0, -40.0).label == ("Atlantic Ocean, far from any town (nearest: "
                                           "Ponta Delgada, Portugal, 1,576 km away)")
  # Coarse answers near a coast keep the country even when their point is in the sea.
  assert names.name(43.0, 5.0).country_label == "France"


def test_without_the_land_mask_far_places_say_so_alone():
  place = gazetteer.PlaceName("Invercargill", "New Zealand", "NZ", 3494.4)  # no region known
  assert place.label == "Far from any town (nearest: Invercargill, New Zealand, 3,494 km away)"
  assert place.country_label == "New Zealand"
  sea = gazetteer.PlaceName("Papeete", "French Polynesia", "PF", 2213.1, at_sea=True)
  assert sea.country_label == "Far from any town"
