"""The Predictor and the batch CLI on the session's finished runlocal run (read-only)."""

from __future__ import annotations

import csv
import io
import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx
from geopy import distance as geopy_distance
from PIL import Image

from jaxgeo.data import pipeline, transforms, vocab
from jaxgeo.data.raw import images as images_lib
from jaxgeo.geo import gazetteer, s2
from jaxgeo.locsens import ranking, scorer as scorer_lib
from jaxgeo.predict import answers, assembler, coarse, formats, landmark_index, model_card
from jaxgeo.predict import predictor as predictor_lib, runner as runner_lib
from jaxgeo.predict.photos import load_photo
from jaxgeo.toy_world import catalogue
from tests.photo_files import heic_with_gps

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def predictor(runlocal_workdir) -> predictor_lib.Predictor:
  """The hierarchy's answers (the run's retrieval gallery left out; see `hybrid_predictor`)."""
  return predictor_lib.Predictor.from_workdir(str(runlocal_workdir), batch_size=4, top_k=5,
                                              num_tags=5, gallery=False)


@pytest.fixture(scope="module")
def hybrid_predictor(runlocal_workdir) -> predictor_lib.Predictor:
  """As a user gets it: the run built its retrieval gallery, so top-1 places are hybrid."""
  return predictor_lib.Predictor.from_workdir(str(runlocal_workdir), batch_size=4, top_k=5,
                                              num_tags=5)


@pytest.fixture(scope="module")
def toy_photos(runlocal_workdir) -> list[pathlib.Path]:
  photos = sorted((runlocal_workdir / "toy_world" / "im2gps3k" / "images").glob("*.jpg"))
  assert len(photos) >= 6
  return photos[:6]


def _noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
  pixels[: height // 3] = (230, 40, 20)  # an asymmetric band, so rotations look different
  return Image.fromarray(pixels)


def _jpeg_with_gps(lat: float, lon: float) -> bytes:
  """A JPEG whose EXIF GPS block says (lat, lon), written as cameras do (D, M, S rationals)."""
  def dms(x):
    x = abs(x)
    d = int(x)
    m = int((x - d) * 60)
    s = round(((x - d) * 60 - m) * 60 * 10000) / 10000
    return (d, m, s)
  exif = Image.Exif()
  gps = exif.get_ifd(0x8825)
  gps[1], gps[2] = ("N" if lat >= 0 else "S"), dms(lat)
  gps[3], gps[4] = ("E" if lon >= 0 else "W"), dms(lon)
  out = io.BytesIO()
  _noise_image(96, 80).save(out, format="JPEG", quality=90, exif=exif)
  return out.getvalue()


def test_distributions_sum_to_one_and_hierarchy_is_the_product_rule(predictor, toy_photos):
  probs = predictor.probabilities(toy_photos[0])
  tree = predictor.hierarchy
  for part in tree.partitions:
    assert probs[part.name].shape == (part.num_classes,)
    np.testing.assert_allclose(probs[part.name].sum(), 1.0, rtol=1e-5)
  assert probs["hierarchy"].shape == (tree.finest.num_classes,)
  np.testing.assert_allclose(probs["hierarchy"].sum(), 1.0, rtol=1e-5)
  # p(fine cell) ∝ p_coarse[parent] * p_middle[parent] * p_fine[cell]
  product = np.prod([probs[p.name].astype(np.float64)[tree.parents[:, k]]
                     for k, p in enumerate(tree.partitions)], axis=0)
  np.testing.assert_allclose(probs["hierarchy"], product / product.sum(), rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(probs["tags"].sum(), 1.0, rtol=1e-5)
  assert probs["tags"].shape == (len(predictor.tags),)


def test_forward_agrees_with_the_model(predictor, toy_photos):
  """The Predictor reads the model's `predict`: the distributions of training's logits."""
  model = nnx.merge(predictor.graphdef, predictor.params, predictor.rest, copy=True)
  model.eval()
  pixels = np.stack([transforms.eval_crops(load_photo(p).image, predictor.image_size)
                     for p in toy_photos[:2]])
  expected = jax.tree.map(np.asarray, nnx.jit(lambda m, x: m(x))(model, pixels))
  got = predictor.run_batch(toy_photos[:2], full=True)
  for part in predictor.hierarchy.partitions:
    np.testing.assert_allclose(got[f"geo/{part.name}/probs"],
                               jax.nn.softmax(expected[f"geo/{part.name}"], -1), atol=2e-5)
  np.testing.assert_allclose(got["tag/probs"], jax.nn.softmax(expected["tag"], -1), atol=2e-5)
  np.testing.assert_allclose(got["tag/embedding"], expected["tag_embedding"], atol=2e-4)
  if predictor.has_landmarks:
    np.testing.assert_allclose(got["landmark/probs"], jax.nn.softmax(expected["landmark"], -1),
                               atol=2e-5)


def test_prediction_fields(predictor, toy_photos):
  p = predictor.predict(toy_photos[0])
  tree = predictor.hierarchy
  assert p.source == str(toy_photos[0])
  assert len(p.places) == 5
  probs = [x.probability for x in p.places]
  assert probs == sorted(probs, reverse=True) and 0 < probs[-1] <= probs[0] <= 1
  for place in p.places:
    assert place.partition == tree.finest.name
    assert place.latitude == pytest.approx(tree.finest.latitudes[place.class_id])
    assert place.longitude == pytest.approx(tree.finest.longitudes[place.class_id])
    assert -90 <= place.latitude <= 90 and -180 <= place.longitude <= 180
    assert place.name and place.country_code
    assert s2.tokens_to_cell_ids([place.cell])[0] == tree.finest.cell_ids[place.class_id]
  assert [g.name for g in p.granularities] == [*tree.names, "hierarchy"]
  assert p.granularities[-1].probability == pytest.approx(p.places[0].probability)
  assert p.granularities[-1].class_id == p.places[0].class_id
  assert all(0 < g.probability <= 1 for g in p.granularities)
  assert len(p.tags) == 5
  assert p.tag_source == ("locsens" if predictor.tag_ranker is not None else "tag_head")
  assert all(t.tag in predictor.tags for t in p.tags)
  assert [t.score for t in p.tags] == sorted((t.score for t in p.tags), reverse=True)
  assert p.true_location is None and not p.coarse
  json.dumps(p.to_dict())  # JSON-able


def test_a_toy_world_model_says_so_on_every_answer(predictor, runlocal_workdir):
  card = predictor.card
  assert card.toy_world and card.train_dataset == "yfcc100m_geo/yfcc100m"
  assert card.num_train_photos == len(pipeline.open_split(
      "yfcc100m_geo/yfcc100m", "train", str(runlocal_workdir / "tfds")))
  results = json.loads((runlocal_workdir / "results.json").read_text())
  im2gps3k = next(t for t in card.tests if t.dataset == "geo_testsets/im2gps3k")
  assert im2gps3k.accuracy[200] == results["geo_testsets/im2gps3k"]["hierarchy"]["acc@200km"]
  assert card.landmark_gap == {"gldv2/test": results["gldv2/test"]["landmark"]["gap"]}
  for p in [predictor.predict(_jpeg_with_gps(51.5055, -0.0754), name="tower_bridge.jpg"),
            predictor.predict(_noise_image(80, 60), coarse=True)]:
    assert p.warning == model_card.TOY_WORLD_WARNING


def test_batches_of_any_size_give_the_same_answers_without_recompiling(predictor, toy_photos):
  alone = [predictor.predict(p) for p in toy_photos[:3]]
  together = predictor.predict_batch(toy_photos[:6])  # 4 + 2: two padded bucket shapes
  for a, b in zip(alone, together):
    assert a.places[0].class_id == b.places[0].class_id
    assert a.places[0].probability == pytest.approx(b.places[0].probability, rel=1e-4)
  assert runner_lib.bucket_sizes(predictor.batch_size) == (1, 2, 4)  # each has run once now
  # Counted as it grows: jit's cache of `forward` is shared by every Predictor of the process.
  compiled = predictor.runner.compiled_forward._cache_size()
  for size in (3, 5, 6):  # padded to 4; 4 + 1; 4 + 2
    predictor.predict_batch(toy_photos[:size])
  assert predictor.runner.compiled_forward._cache_size() == compiled


def test_place_names_of_the_toy_cities():
  """The toy world's cities are real: the offline gazetteer names them (no network)."""
  names = gazetteer.default_gazetteer().lookup([c.lat for c in catalogue.CITIES],
                                                [c.lon for c in catalogue.CITIES])
  assert all(n.label and n.country for n in names)
  by_city = dict(zip((c.name for c in catalogue.CITIES), names))
  assert by_city["Paris"].label == "Paris, France"
  assert by_city["London"].label == "London, United Kingdom"
  assert by_city["Tokyo"].label == "Tokyo, Japan"  # not one of its wards
  # No town of 15k within thousands of km: the region, and the nearest town only as a hint.
  assert by_city["McMurdo Station"].label.startswith(
      "Antarctica, far from any town (nearest: Invercargill")
  near = [n.distance_km <= gazetteer.NEAR_KM for n in names]
  assert sum(near) >= len(names) - 1


def test_exif_gps_gives_the_true_place_and_the_distance(predictor):
  lat, lon = -33.8568, 151.2153  # Sydney Opera House
  p = predictor.predict(_jpeg_with_gps(lat, lon), name="sydney.jpg")
  truth = p.true_location
  assert truth.source == "exif" and p.source == "sydney.jpg"
  assert truth.latitude == pytest.approx(lat, abs=1e-6)
  assert truth.longitude == pytest.approx(lon, abs=1e-6)
  expected = geopy_distance.great_circle((lat, lon), (p.top.latitude, p.top.longitude)).km
  assert truth.distance_km == pytest.approx(expected, rel=1e-5)


def test_exif_orientation_is_applied(predictor):
  upright = _noise_image(96, 64, seed=1)
  def png(image, orientation=None):
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation:
      exif[0x0112] = orientation
    image.save(out, format="PNG", exif=exif)
    return out.getvalue()
  # Orientation 6: the stored pixels must be turned 90 degrees clockwise to stand upright.
  stored = upright.transpose(Image.Transpose.ROTATE_90)
  loaded = load_photo(png(stored, 6))
  assert loaded.image.size == upright.size
  np.testing.assert_array_equal(np.asarray(loaded.image), np.asarray(upright))
  a = predictor.probabilities(png(upright))
  b = predictor.probabilities(png(stored, 6))
  c = predictor.probabilities(png(stored))  # the same pixels read sideways
  np.testing.assert_allclose(a["hierarchy"], b["hierarchy"], atol=1e-6)
  assert not np.allclose(a["hierarchy"], c["hierarchy"], atol=1e-6)


def test_five_crop_voting_averages_the_crops(predictor, toy_photos):
  image = load_photo(toy_photos[1]).image
  crops = transforms.eval_crops(image, predictor.image_size, five_crop=True)
  assert crops.shape == (5, predictor.image_size, predictor.image_size, 3)
  single = predictor.runner.compiled_forward(
      predictor.params, predictor.rest, crops, graphdef=predictor.graphdef,
      hierarchy=predictor.hierarchy, crops=1, top_k=5, num_tags=5, full=True)
  voted = predictor.run_batch([image], five_crop=True, full=True)
  for part in predictor.hierarchy.partitions:
    key = f"geo/{part.name}/probs"
    np.testing.assert_allclose(voted[key][0], np.asarray(single[key]).mean(0), atol=1e-6)
  p = predictor.predict(image, five_crop=True)
  assert p.five_crop and p.places[0].class_id == int(np.argmax(voted["hierarchy/probs"][0]))


def test_coarse_mode_hides_fine_coordinates(predictor):
  lat, lon = 48.8584, 2.2945
  p = predictor.predict(_jpeg_with_gps(lat, lon), coarse=True)
  coarsest = predictor.hierarchy.partitions[0]
  assert p.coarse and p.landmark is None and p.neighbours is None
  assert p.tags == [] and p.tag_location is None  # tags name places
  assert p.within_km is None
  assert [(g.name, g.class_id) for g in p.granularities] == [(coarsest.name, -1)]
  centres = set()
  for place in p.places:
    assert place.partition == coarsest.name
    assert place.class_id == -1 and place.cell == ""  # a class or cell pins a small area
    centre = coarse.region_centre(place.latitude, place.longitude)
    assert (place.latitude, place.longitude) == centre
    centres.add(centre)
    assert "," not in place.name  # a country, no city
  assert len(centres) == len(p.places)  # one place a region, probabilities summed
  probs = [place.probability for place in p.places]
  assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
  assert (p.true_location.latitude, p.true_location.longitude) == (45.0, 5.0)
  assert p.true_location.distance_km is None


def test_bad_photos_raise_bad_image_naming_them(predictor, toy_photos):
  data = toy_photos[0].read_bytes()
  cases = {"empty_image": b"", "not_an_image": b"plain text, " * 200,
           "corrupt_image": data[: len(data) // 2]}
  for reason, blob in cases.items():
    with pytest.raises(images_lib.BadImage, match="upload.jpg") as e:
      predictor.predict(blob, name="upload.jpg")
    assert e.value.reason == reason
  with pytest.raises(images_lib.BadImage) as e:
    predictor.predict("/nonexistent/photo.jpg")
  assert e.value.reason == "missing_image"


def test_landmark_answer_and_threshold(predictor, toy_photos):
  p = predictor.predict(toy_photos[0])
  if not predictor.has_landmarks:
    assert p.landmark is None and p.neighbours is None
    return
  lm = p.landmark
  assert lm.landmark_id == predictor.landmark_ids[lm.class_id]
  assert lm.name and not lm.name.startswith("landmark ")  # named from the GLDv2 category
  assert lm.found == (lm.confidence >= predictor.landmark_threshold)
  old = predictor.landmark_threshold
  try:
    predictor.landmark_threshold = 1.01
    none = predictor.predict(toy_photos[0]).landmark
    assert not none.found and none.label.startswith("no landmark")
    predictor.landmark_threshold = 0.0
    assert predictor.predict(toy_photos[0]).landmark.found
  finally:
    predictor.landmark_threshold = old


def test_landmark_index_finds_its_own_photos(predictor, runlocal_workdir, tmp_path):
  if not predictor.has_landmarks:
    with pytest.raises(ValueError, match="landmark head"):
      landmark_index.build_index(predictor, data_dir=str(runlocal_workdir / "tfds"))
    return
  index = landmark_index.build_index(predictor, data_dir=str(runlocal_workdir / "tfds"),
                                     limit=12)
  assert index.embeddings.shape[0] == len(index.image_ids) == 12
  np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, rtol=1e-5)
  index.save(str(tmp_path))
  loaded = landmark_index.LandmarkIndex.load_if_built(str(tmp_path), str(runlocal_workdir / "tfds"))
  np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
  photo = loaded.photo(loaded.image_ids[3])
  old = predictor.landmark_index
  try:
    predictor.landmark_index = loaded
    p = predictor.predict(photo)
  finally:
    predictor.landmark_index = old
  assert p.neighbours[0].image_id == loaded.image_ids[3]
  assert p.neighbours[0].similarity == pytest.approx(1.0, abs=1e-4)
  sims = [m.similarity for m in p.neighbours]
  assert sims == sorted(sims, reverse=True) and len(sims) == predictor.top_k


def test_a_run_without_partitions_or_vocabulary_answers_with_what_it_has(predictor, toy_photos):
  """A landmarks-only run (configs/gldv2_landmarks.py) has no places, granularities or tags."""
  only = predictor_lib.Predictor(
      runner_lib.ModelRunner(predictor.graphdef, predictor.params, predictor.rest,
                             image_size=predictor.image_size, hierarchy=None, batch_size=4),
      assembler.AnswerAssembler(landmark_ids=predictor.landmark_ids,
                                landmark_names=predictor.landmark_names))
  p = only.predict(toy_photos[0])
  assert p.places == [] and p.granularities == [] and p.top is None
  assert p.tags == [] and p.tag_source == "none"
  assert (p.landmark is not None) == predictor.has_landmarks
  row = dict(zip(formats.csv_header(()), formats.csv_row(p, ())))
  assert row["latitude"] == row["place"] == "" and "prob_hierarchy" not in row
  assert formats.geojson_feature(p)["geometry"] is None  # RFC 7946 allows a null geometry


def test_the_runner_and_the_assembler_must_agree(predictor):
  """The assembler reads the runner's arrays: another hierarchy or top-k is refused at once."""
  with pytest.raises(ValueError, match="runner: 5, 5; assembler: 3, 5"):
    predictor_lib.Predictor(predictor.runner, assembler.AnswerAssembler(
        hierarchy=predictor.hierarchy, top_k=3, num_tags=5))
  with pytest.raises(ValueError, match="same hierarchy"):
    predictor_lib.Predictor(predictor.runner, assembler.AnswerAssembler(top_k=5, num_tags=5))
  assert predictor.assembler.top_k == predictor.runner.top_k == predictor.top_k == 5


def test_tags_at_without_locsens_keeps_the_tag_head_ranking(predictor, toy_photos):
  old, predictor.tag_ranker = predictor.tag_ranker, None
  try:
    p = predictor.predict(toy_photos[0])
    assert p.tag_source == "tag_head" and p.tag_location is None
    assert predictor.tags_at(p, (35.0, 139.0)) == p.tags
    probs = predictor.probabilities(toy_photos[0])["tags"]
    assert [t.tag for t in p.tags] == [predictor.tags[i] for i in np.argsort(-probs)[:5]]
  finally:
    predictor.tag_ranker = old


def test_locsens_ranks_the_tags_for_the_given_exif_or_predicted_place(
    predictor, runlocal_workdir, toy_photos):
  """A LocSens scorer over this run's tag head (small, random weights: the wiring is tested,
  not the training, which tests/locsens/ covers)."""
  if (runlocal_workdir / "locsens").exists():  # the quickstart trains stage 2
    assert predictor.tag_ranker is not None
  model = nnx.merge(predictor.graphdef, predictor.params, predictor.rest, copy=True)
  kernel = np.asarray(model.tag_head.classify.kernel[...])
  scorer = ranking.LocSensScorer(
      scorer_lib.LocSens(kernel.shape[0], 32, (64, 32), 8, rngs=nnx.Rngs(0)), kernel.T,
      np.asarray(model.tag_head.classify.bias[...]), vocab.TagVocabulary(predictor.tags))
  old, predictor.tag_ranker = predictor.tag_ranker, scorer
  try:
    def expected(p, where):
      ids, scores = scorer.rank_tags(p.image_embedding, where[0], where[1], k=5)
      return [answers.Tag(predictor.tags[i], pytest.approx(float(s), abs=1e-5))
              for i, s in zip(ids, scores)]
    given = predictor.predict(toy_photos[0], location=(-33.86, 151.21))
    assert given.tag_source == "locsens" and given.tag_location == (-33.86, 151.21)
    assert given.tags == expected(given, (-33.86, 151.21))
    exif = predictor.predict(_jpeg_with_gps(35.6762, 139.6503))
    assert exif.tag_location == (pytest.approx(35.6762), pytest.approx(139.6503))
    assert exif.tags == expected(exif, exif.tag_location)
    predicted = predictor.predict(toy_photos[0])
    assert predicted.tag_location == (predicted.top.latitude, predicted.top.longitude)
    assert predicted.tags == expected(predicted, predicted.tag_location)
    assert predictor.tags_at(predicted, (-33.86, 151.21)) == given.tags
    coarse = predictor.predict(_jpeg_with_gps(35.6762, 139.6503), coarse=True)
    assert coarse.tags == [] and coarse.tag_location is None
    assert predictor.tags_at(coarse, (-33.86, 151.21)) == []
  finally:
    predictor.tag_ranker = old


def test_cli_on_a_folder_with_bad_files(runlocal_workdir, toy_photos, tmp_path):
  photos = tmp_path / "photos"
  (photos / "sub").mkdir(parents=True)
  for p in toy_photos[:3]:
    (photos / p.name).write_bytes(p.read_bytes())
  (photos / "sub" / "gps.jpg").write_bytes(_jpeg_with_gps(35.6762, 139.6503))
  (photos / "sub" / "IMG_0042.HEIC").write_bytes(heic_with_gps(-33.8568, 151.2153)[0])
  (photos / "zero.jpg").write_bytes(b"")
  (photos / "sub" / "notes.png").write_text("not a photo\n" * 100)
  data = toy_photos[0].read_bytes()
  (photos / "sub" / "truncated.jpg").write_bytes(data[: len(data) // 2])
  (photos / "readme.txt").write_text("ignored: not a photo extension")
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, "-m", "jaxgeo.predict", "--workdir", str(runlocal_workdir),
       "--output_dir", str(out), str(photos), str(tmp_path / "missing.jpg"),
       "tfds:geo_testsets/yfcc4k:test"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  yfcc4k = len(pipeline.open_split("geo_testsets/yfcc4k", "test",
                                   str(runlocal_workdir / "tfds")))
  assert f"Predicted {5 + yfcc4k} of {9 + yfcc4k} photos; skipped 4" in result.stdout
  for name, reason in [("zero.jpg", "empty_image"), ("notes.png", "not_an_image"),
                       ("truncated.jpg", "corrupt_image"), ("missing.jpg", "missing_image")]:
    assert any(name in line and reason in line for line in result.stdout.splitlines()), name
  report = json.loads((out / "report.json").read_text())
  assert report["predicted"] == 5 + yfcc4k and report["skipped"] == 4
  assert (out / "report.txt").read_text().count("\n  skipped ") == 4
  with open(out / "predictions.csv", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  labelled = [r for r in rows if r["source"].startswith("geo_testsets/yfcc4k/")]
  assert len(labelled) == yfcc4k and all(r["true_source"] == "label" for r in labelled)
  for r in labelled:  # a built test set's labels are the true places
    assert float(r["distance_km"]) == pytest.approx(geopy_distance.great_circle(
        (float(r["true_latitude"]), float(r["true_longitude"])),
        (float(r["latitude"]), float(r["longitude"]))).km, rel=1e-4, abs=1e-3)
  rows = [r for r in rows if r not in labelled]
  assert sorted(pathlib.Path(r["source"]).name for r in rows) == sorted(
      [p.name for p in toy_photos[:3]] + ["gps.jpg", "IMG_0042.HEIC"])
  gps_row = next(r for r in rows if r["source"].endswith("gps.jpg"))
  assert gps_row["true_source"] == "exif"
  assert float(gps_row["distance_km"]) == pytest.approx(geopy_distance.great_circle(
      (35.6762, 139.6503), (float(gps_row["latitude"]), float(gps_row["longitude"]))).km,
      rel=1e-4)
  heic_row = next(r for r in rows if r["source"].endswith("IMG_0042.HEIC"))  # iPhone photo
  assert heic_row["true_source"] == "exif"
  assert (float(heic_row["true_latitude"]), float(heic_row["true_longitude"])) == (
      pytest.approx(-33.8568, abs=1e-4), pytest.approx(151.2153, abs=1e-4))
  assert all(r["place"] and r["tags"] for r in rows)
  # The toy-world model says what it knows, in the report and on every answer.
  assert all(r["warning"] == model_card.TOY_WORLD_WARNING for r in rows + labelled)
  assert f"WARNING: {model_card.TOY_WORLD_WARNING}" in result.stdout
  assert "Trained on yfcc100m_geo/yfcc100m (" in (out / "report.txt").read_text()
  assert report["model"]["toy_world"] and report["model"]["tests"]
  # GeoJSON (RFC 7946): a FeatureCollection of Points at [longitude, latitude].
  geo = json.loads((out / "predictions.geojson").read_text())
  assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 5 + yfcc4k
  by_source = {r["source"]: r for r in rows + labelled}
  for feature in geo["features"]:
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    row = by_source[feature["properties"]["source"]]
    assert (lat, lon) == (pytest.approx(float(row["latitude"]), abs=1e-6),
                          pytest.approx(float(row["longitude"]), abs=1e-6))
    assert feature["properties"]["place"] == row["place"]


def test_hybrid_answers_where_the_deciding_gallery_photos_are(hybrid_predictor, predictor,
                                                              toy_photos, runlocal_workdir):
  assert hybrid_predictor.has_gallery and not predictor.has_gallery
  tree = hybrid_predictor.hierarchy
  source = pipeline.open_split("yfcc100m_geo/yfcc100m", "train",
                               str(runlocal_workdir / "tfds"))
  hybrid = hybrid_predictor.predict_batch(toy_photos)
  plain = predictor.predict_batch(toy_photos)
  assert all(p.method == "hierarchy" and p.gallery_matches is None for p in plain)
  answered = [(h, p) for h, p in zip(hybrid, plain) if h.method == "hybrid"]
  assert answered  # the best cells of a toy photo hold some of its 100 nearest gallery photos
  for h, p in answered:
    assert h.gallery == "yfcc100m_geo/yfcc100m:train"
    top, chosen = h.top, h.gallery_matches[0]
    # The point is the chosen gallery photo's, in the cell holding it, with that cell's
    # probability under the hierarchy; the hierarchy's other places follow.
    assert (top.latitude, top.longitude) == (chosen.latitude, chosen.longitude)
    assert tree.finest.classify([top.latitude], [top.longitude])[0] == top.class_id
    probs = hybrid_predictor.probabilities(h.source)["hierarchy"]
    assert top.probability == pytest.approx(float(probs[top.class_id]), rel=1e-5)
    assert top.class_id in [x.class_id for x in p.places]  # one of the 5 best cells
    assert [x.class_id for x in h.places[1:]] == [
        x.class_id for x in p.places if x.class_id != top.class_id][:4]
    # Every match is a real gallery photo: its record in the split, its own coordinates.
    for match in h.gallery_matches:
      example = source[match.record]
      assert example["photo_id"].decode() == match.photo_id
      assert (example["latitude"], example["longitude"]) == pytest.approx(
          (match.latitude, match.longitude))
      assert -1 <= match.similarity <= 1.0001
  # The CSV names them; coarse answers never use the gallery (it pins places to metres).
  row = dict(zip(formats.csv_header(tree.names), formats.csv_row(answered[0][0], tree.names)))
  assert row["method"] == "hybrid"
  assert row["gallery_photos"].split() == [m.photo_id for m in answered[0][0].gallery_matches]
  coarse_answer = hybrid_predictor.predict(toy_photos[0], coarse=True)
  assert coarse_answer.method == "hierarchy" and coarse_answer.gallery_matches is None


def test_the_chance_of_being_within_25_200_750_km_of_the_answer(predictor, hybrid_predictor,
                                                                 toy_photos):
  tree = predictor.hierarchy
  probs = predictor.probabilities(toy_photos[1])["hierarchy"]
  for p in (predictor.predict(toy_photos[1]), hybrid_predictor.predict(toy_photos[1])):
    # The hierarchy's mass in the cells within r km (geopy's distances) of the answered point.
    distances = np.array([geopy_distance.great_circle(
        (p.top.latitude, p.top.longitude), (a, b)).km for a, b in zip(tree.finest.latitudes,
                                                                   tree.finest.longitudes)])
    for r in (25.0, 200.0, 750.0):
      assert p.within_km[r] == pytest.approx(float(probs[distances <= r].sum()), abs=1e-4)
    assert p.within_km[25.0] <= p.within_km[200.0] <= p.within_km[750.0] <= 1.0001
  plain = predictor.predict(toy_photos[1])
  assert plain.within_km[25.0] >= plain.top.probability - 1e-6  # its own cell at least
  row = dict(zip(formats.csv_header(tree.names), formats.csv_row(p, tree.names)))
  assert float(row["p_within_200km"]) == pytest.approx(p.within_km[200.0], abs=1e-4)
  assert predictor.predict(toy_photos[1], coarse=True).within_km is None


def test_heat_map_cells_are_the_hierarchys_best_down_to_99_percent(predictor, toy_photos):
  finest = predictor.hierarchy.finest
  probs = predictor.probabilities(toy_photos[1])["hierarchy"]
  assert predictor.predict(toy_photos[1]).heat is None  # asked for only (the demo does)
  heat = predictor.predict(toy_photos[1], heat=True).heat
  order = np.argsort(-probs, kind="stable")
  kept = min(assembler.HEAT_CELLS,
             int(np.searchsorted(np.cumsum(probs[order]), assembler.HEAT_MASS)) + 1)
  assert len(heat) == kept
  np.testing.assert_allclose([c.probability for c in heat], probs[order[:kept]], atol=1e-6)
  # The cells are the finest partition's, by S2 token.
  tokens = s2.cell_ids_to_tokens(finest.cell_ids[order[:kept]])
  assert [c.cell for c in heat] == tokens
  total = sum(c.probability for c in heat)
  assert total >= assembler.HEAT_MASS - 1e-6 or len(heat) == assembler.HEAT_CELLS
  assert total - heat[-1].probability < assembler.HEAT_MASS  # no cell more than needed
  assert predictor.predict(toy_photos[1], coarse=True, heat=True).heat is None
