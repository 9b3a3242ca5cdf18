r"""The Predictor: a trained workdir's model, ready for photos, in Python and behind the demo.

  predictor = Predictor.from_workdir("runs/quickstart")
  prediction = predictor.predict("photo.jpg")  # jaxgeo.predict.answers.Prediction

For each photo it gives the top-k places under the hierarchy's product rule (with an offline place
name; when the run's retrieval gallery is built, the top-1 moved by the hybrid onto the place
the gallery photos inside the best cells agree on, with those photos), each partition's
confidence, the hierarchy's best cells (the demo's heat map), tags (the tag head's, or ranked by
the workdir's LocSens scorer for the given place, the EXIF GPS or the predicted place), the
landmark (or "no landmark" below a threshold), the nearest landmark-index photos when
`python -m jaxgeo.predict.build_index` has built an index, and, if the photo carries EXIF GPS,
the true place and the distance to the prediction. `coarse=True` answers with regions only
(jaxgeo.predict.coarse: a 10-degree grid cell's centre and the country, no class ids, cells or
per-partition figures; the photo's own GPS as its region too) and leaves out the landmark, the
index photos (they pin a place to metres) and the tags (they name places): for photos of people
and public share links.

Two parts do the work: a ModelRunner (jaxgeo.predict.runner) runs the model on devices in
jitted, bucketed batches and gives raw arrays; an AnswerAssembler (jaxgeo.predict.assembler)
turns them into answers. The Predictor joins them and loads both from a workdir.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import numpy as np
from absl import logging

from jaxgeo.data import landmark_ids as landmark_ids_lib
from jaxgeo.locsens import ranking
from jaxgeo.predict import landmark_index, model_card
from jaxgeo.predict.answers import Prediction, Tag
from jaxgeo.predict.assembler import DEFAULT_LANDMARK_THRESHOLD, AnswerAssembler
from jaxgeo.predict.photos import LoadedPhoto, Photo, load_photo
from jaxgeo.predict.runner import ModelRunner
from jaxgeo.retrieval import gallery as gallery_lib
from jaxgeo.run import restore


def load_tag_ranker(where: str, *, required: bool, tags: Sequence[str]):
  """The trained LocSens scorer of a workdir (jaxgeo.locsens), or None if there is none.

  Its vocabulary must be the tag head's (the scorer ranks the same tag ids); a scorer trained
  over another run is refused with a warning (or an error when `required`).
  """
  scorer = ranking.load_locsens(where, required=required)
  if scorer is not None and list(scorer.vocabulary.tags) != list(tags):
    message = (f"The LocSens scorer in {where} has another tag vocabulary than the run "
               f"({len(scorer.vocabulary)} vs {len(tags)} tags): was it trained over this run?")
    if required:
      raise ValueError(message)
    logging.warning("%s Tags come from the tag head.", message)
    return None
  if scorer is not None:
    logging.info("Tags are ranked by the LocSens scorer of %s.", where)
  return scorer


def _delegate(part: str, name: str, writable: bool = False) -> property:
  """The runner's or the assembler's attribute as the Predictor's, as callers knew it."""
  def get(self):
    return getattr(getattr(self, part), name)

  def put(self, value):
    setattr(getattr(self, part), name, value)
  return property(get, put if writable else None, doc=f"`{part}.{name}`")


class Predictor:
  """A trained model with its partitions, vocabulary and landmark names, ready for photos.

  Use `Predictor.from_workdir`; the constructor takes the two parts (benchmarks build a model
  directly). Not thread-safe for concurrent calls that change options; predictions are.
  """

  def __init__(self, runner: ModelRunner, assembler: AnswerAssembler, *, step: int = 0,
               workdir: str | None = None, card: model_card.ModelCard | None = None):
    # The assembler reads the runner's outputs: the same classes, as many of them.
    if (runner.hierarchy is not assembler.hierarchy or runner.top_k != assembler.top_k
        or runner.num_tags != assembler.num_tags):
      raise ValueError("The ModelRunner and the AnswerAssembler must have the same hierarchy, "
                       f"top_k and num_tags (runner: {runner.top_k}, {runner.num_tags}; "
                       f"assembler: {assembler.top_k}, {assembler.num_tags}).")
    if assembler.gallery and not runner.hybrid_cells:
      raise ValueError("A gallery answers by the hybrid: give the ModelRunner `hybrid_cells` "
                       "(the run config's retrieval.hybrid_cells).")
    self.runner = runner
    self.assembler = assembler
    if assembler.tag_ranker is not None:
      assembler.tag_ranker.place_on(runner.replicated)
    self.step = step
    self.workdir = workdir
    self.card = card  # what the model has seen, how well it did

  @classmethod
  def from_workdir(cls, workdir: str, *, data_dir: str | None = None, step: int | None = None,
                   locsens: str | bool | None = None, gallery: bool = True,
                   batch_size: int = 16, top_k: int = 5, num_tags: int = 10,
                   landmark_threshold: float = DEFAULT_LANDMARK_THRESHOLD,
                   five_crop: bool = False,
                   devices: Sequence[jax.Device] | None = None) -> Predictor:
    """The latest (or `step`'s) checkpoint of a training workdir, with everything it needs.

    Args:
      workdir: a finished or running training's workdir.
      data_dir: the TFDS data dir (default: the run's), for landmark names and index photos.
      step: a checkpoint step (default: the latest).
      locsens: where the trained LocSens scorer is: None looks in the workdir (`<workdir>/
        locsens`) and goes without one if there is none; a path requires one there (a stage-2
        workdir or its `locsens/` folder); False never uses one.
      gallery: answer by the hybrid when the run's retrieval gallery has been built for this
        checkpoint (`python -m jaxgeo.evaluate` and training build it); False never does.
      batch_size: the largest batch the model runs (rounded up to a multiple of the devices).
      top_k: places (and landmark-index photos) per answer.
      num_tags: tags per answer.
      landmark_threshold: the landmark head's confidence below which it says "no landmark".
      five_crop: vote over five crops by default.
      devices: the devices each batch is split over (default: this process's first).
    """
    run = restore.load_trained_run(workdir, data_dir, step)
    card = model_card.load_model_card(run.workdir, run.config, run.data_dir, run.step)
    names = {}
    if run.landmark_ids is not None:
      names = landmark_ids_lib.read(
          restore.landmark_ids_path(run.config, run.workdir, run.data_dir)).names
    index = landmark_index.LandmarkIndex.load_if_built(run.workdir, run.data_dir, run.step)
    scorer = None
    if locsens is not False and run.vocabulary is not None:
      scorer = load_tag_ranker(run.workdir if locsens is None else locsens,
                               required=locsens is not None, tags=run.vocabulary.tags)
    # A process answers its photos alone: the gallery is searched on its own devices.
    photos = (gallery_lib.load_run_gallery(run, build=False, devices=jax.local_devices())
              if gallery and run.hierarchy else None)
    runner = ModelRunner(run.graphdef, run.state["params"], run.state["rest"],
                         image_size=run.config.image_size, hierarchy=run.hierarchy,
                         top_k=top_k, num_tags=num_tags,
                         hybrid_cells=run.config.retrieval.hybrid_cells if photos else 0,
                         batch_size=batch_size, five_crop=five_crop, devices=devices)
    assembler = AnswerAssembler(
        hierarchy=run.hierarchy,
        tags=run.vocabulary.tags if run.vocabulary is not None else None,
        landmark_ids=run.landmark_ids, landmark_names=names, top_k=top_k, num_tags=num_tags,
        landmark_threshold=landmark_threshold, landmark_index=index, tag_ranker=scorer,
        gallery=photos, retrieval=run.config.retrieval)
    return cls(runner, assembler, step=run.step, workdir=workdir, card=card)

  # -- the parts' attributes, as callers (the demo, the batch CLI, benchmarks) read them

  graphdef = _delegate("runner", "graphdef")
  params = _delegate("runner", "params")
  rest = _delegate("runner", "rest")
  image_size = _delegate("runner", "image_size")
  devices = _delegate("runner", "devices")
  batch_size = _delegate("runner", "batch_size")
  five_crop = _delegate("runner", "five_crop")
  min_decode_side = _delegate("runner", "min_decode_side")
  hierarchy = _delegate("assembler", "hierarchy")
  tags = _delegate("assembler", "tags")
  landmark_ids = _delegate("assembler", "landmark_ids")
  landmark_names = _delegate("assembler", "landmark_names")
  gallery = _delegate("assembler", "gallery")
  retrieval = _delegate("assembler", "retrieval")
  top_k = _delegate("assembler", "top_k")
  num_tags = _delegate("assembler", "num_tags")
  # Options a caller may change between predictions (tests do).
  landmark_threshold = _delegate("assembler", "landmark_threshold", writable=True)
  landmark_index = _delegate("assembler", "landmark_index", writable=True)
  tag_ranker = _delegate("assembler", "tag_ranker", writable=True)

  # -- what the model has

  @property
  def has_geo(self) -> bool:
    return self.hierarchy is not None

  @property
  def has_tags(self) -> bool:
    return bool(self.tags)

  @property
  def has_landmarks(self) -> bool:
    return self.landmark_ids is not None

  @property
  def has_index(self) -> bool:
    return self.landmark_index is not None

  @property
  def has_gallery(self) -> bool:
    return self.gallery is not None

  @property
  def partition_names(self) -> tuple[str, ...]:
    return self.hierarchy.names if self.hierarchy is not None else ()

  # -- running the model (the runner's)

  def run_batch(self, photos: Sequence[Photo], *, five_crop: bool | None = None,
                full: bool = False) -> dict[str, np.ndarray]:
    """Raw outputs (see jaxgeo.predict.runner.ModelRunner) for any number of photos."""
    return self.runner.run_batch(photos, five_crop=five_crop, full=full)

  def prepare(self, photo: Photo, name: str | None = None,
              five_crop: bool | None = None) -> LoadedPhoto:
    """A photo decoded and cropped ahead of its batch (ModelRunner.prepare)."""
    return self.runner.prepare(photo, name, five_crop)

  def load_photos(self, photos: Sequence[Photo]) -> list[LoadedPhoto]:
    """Photos decoded on a few threads (ModelRunner.load_photos)."""
    return self.runner.load_photos(photos)

  # -- answers

  def predict(self, photo: Photo, *, location: tuple[float, float] | None = None,
              coarse: bool = False, five_crop: bool | None = None,
              online_names: bool = False, name: str | None = None,
              heat: bool = False) -> Prediction:
    """The prediction for one photo (path, bytes, PIL image).

    Args:
      photo: the photo; EXIF orientation is applied and EXIF GPS read.
      location: (lat, lon) to rank tags for (LocSens); default the EXIF GPS, else the predicted
        top-1 place. Ignored when tags come from the tag head.
      coarse: coarse region only (see the module docstring).
      five_crop: vote over five crops (default: the Predictor's setting).
      online_names: also ask OpenStreetMap's Nominatim for addresses (network; off by default).
      name: how the photo is named in the result (default: its path).
      heat: also give the hierarchy's best cells (`Prediction.heat`, the demo's heat map).

    Raises:
      jaxgeo.data.raw.images.BadImage: the photo cannot be read; the message names it.
    """
    photo = load_photo(photo, name, self.min_decode_side)
    return self.predict_batch([photo], locations=[location], coarse=coarse,
                              five_crop=five_crop, online_names=online_names, heat=heat)[0]

  def predict_batch(self, photos: Sequence[Photo], *,
                    locations: Sequence[tuple[float, float] | None] | None = None,
                    coarse: bool = False, five_crop: bool | None = None,
                    online_names: bool = False,
                    true_locations: Sequence[tuple[float, float] | None] | None = None,
                    heat: bool = False,
                    seconds: dict[str, float] | None = None) -> list[Prediction]:
    """Predictions for many photos, run in jitted batches. Raises BadImage on the first bad one.

    `true_locations` gives known coordinates (e.g. a data set's labels) for photos without EXIF
    GPS; they get the distance to the prediction like EXIF GPS does. `heat`: also the
    hierarchy's best cells of each (off for the batch CLI, which does not write them).
    `seconds`, when given, adds the time spent in the model (`model`) and in assembling the
    answers (`answers`) to its entries.
    """
    loaded = self.runner.load_photos(photos)
    five_crop = self.runner.five_crop if five_crop is None else five_crop
    start = time.perf_counter()
    out = self.runner.run_batch(loaded, five_crop=five_crop)
    model_done = time.perf_counter()
    results = self.assembler.assemble(
        out, loaded,
        locations=list(locations) if locations is not None else [None] * len(loaded),
        true_locations=(list(true_locations) if true_locations is not None
                        else [None] * len(loaded)),
        coarse=coarse, five_crop=five_crop, online_names=online_names, heat=heat,
        warning=self.card.warning if self.card is not None else "")
    if seconds is not None:
      seconds["model"] = seconds.get("model", 0.0) + model_done - start
      seconds["answers"] = seconds.get("answers", 0.0) + time.perf_counter() - model_done
    return results

  def probabilities(self, photo: Photo, *, five_crop: bool | None = None
                    ) -> dict[str, np.ndarray]:
    """Whole distributions for one photo: each partition's and the hierarchy's (over the
    finest classes), the tags' and the landmarks' where the heads exist. For maps and tests."""
    out = self.runner.run_batch([photo], five_crop=five_crop, full=True)
    return {name: v[0] for name, v in self.assembler.distributions(out).items()}

  def tags_at(self, prediction: Prediction, location: tuple[float, float]) -> list[Tag]:
    """The photo's tags re-ranked by LocSens for another location, without running the model
    (AnswerAssembler.tags_at)."""
    return self.assembler.tags_at(prediction, location)
