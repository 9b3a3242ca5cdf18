"""What a trained model has seen and how well it did, shown next to its answers.

A model answers every photo with a place and a probability, whether or not it has ever seen
anything like the photo. The quickstart's model has seen only the generated toy world: on a real
photo its answer is arbitrary (Tower Bridge came out as New York at 22%). So the batch CLI and
the demo show this card (the training data, its size, the run's accuracy on its test sets), and
every answer of a toy-world model carries `TOY_WORLD_WARNING`.

Read from the workdir: `config.json` (the data), `results.json` (the final evaluation) and the
built training split's info (its size), where present.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections
from absl import logging

from jaxgeo.data import pipeline
from jaxgeo.geo import hierarchy as hierarchy_lib
from jaxgeo.run import workdir as workdir_lib

TOY_WORLD_WARNING = ("This model was trained only on jaxgeo's generated toy world (synthetic "
                     "pictures of about 60 cities), not on real photos: for a real photo its "
                     "answer is arbitrary, whatever its probability.")
_KM = (25, 200, 750)


@dataclasses.dataclass(frozen=True)
class TestResult:
  """The hierarchy's accuracy on one test set (share of photos within each distance)."""
  dataset: str
  num_photos: int
  accuracy: dict[int, float]  # km -> share of photos within it

  def describe(self) -> str:
    shares = " / ".join(f"{100 * self.accuracy[km]:.1f}" for km in _KM)
    return (f"{self.dataset} ({self.num_photos:,} photos): {shares} % within "
            f"{' / '.join(str(km) for km in _KM)} km")


@dataclasses.dataclass(frozen=True)
class ModelCard:
  """What a model was trained on and how well it did."""
  workdir: str
  train_dataset: str
  num_train_photos: int | None  # None when the built data set is not at hand
  toy_world: bool
  step: int
  tests: tuple[TestResult, ...] = ()
  landmark_gap: dict[str, float] = dataclasses.field(default_factory=dict)

  @property
  def warning(self) -> str:
    """What every answer of this model must say; empty for a model of real photos."""
    return TOY_WORLD_WARNING if self.toy_world else ""

  def describe(self) -> str:
    """A few sentences for people: the training data, then the test results (the warning is
    shown apart, where people cannot miss it)."""
    photos = f"{self.num_train_photos:,} photos" if self.num_train_photos else "size unknown"
    world = ", generated toy world" if self.toy_world else ""
    lines = [f"Trained on {self.train_dataset} ({photos}{world}), checkpoint of step "
             f"{self.step:,}."]
    if self.tests:
      where = " on the toy world's own test sets" if self.toy_world else ""
      lines.append(f"Tested{where}: " + "; ".join(t.describe() for t in self.tests) + ".")
    else:
      lines.append("No test results in the workdir (results.json).")
    if self.landmark_gap:
      lines.append("Landmarks: " + "; ".join(f"GAP {gap:.3f} on {name}"
                                             for name, gap in self.landmark_gap.items()) + ".")
    return " ".join(lines)

  def to_dict(self) -> dict[str, Any]:
    return {"workdir": self.workdir, "train_dataset": self.train_dataset,
            "num_train_photos": self.num_train_photos, "toy_world": self.toy_world,
            "step": self.step,
            "tests": [{"dataset": t.dataset, "num_photos": t.num_photos,
                       **{f"acc@{km}km": t.accuracy[km] for km in _KM}} for t in self.tests],
            "landmark_gap": dict(self.landmark_gap), "warning": self.warning,
            "description": self.describe()}


def _num_photos(data_dir: str, dataset: str, split: str = "train") -> int | None:
  """Examples in a built split; None if it is not at hand (a workdir copied without its data)."""
  try:
    return pipeline.split_size(dataset, split, data_dir)
  except (FileNotFoundError, KeyError, AssertionError, ValueError) as e:
    # Not built here, no such split, or metadata TFDS cannot read: the card says "size unknown"
    # rather than keep the model from answering.
    logging.info("The size of %s:%s is unknown (%s).", dataset, split, e)
    return None


def load_model_card(workdir: workdir_lib.PathLike | workdir_lib.Workdir,
                    config: ml_collections.ConfigDict, data_dir: str, step: int) -> ModelCard:
  """The card of a trained run (see the module docstring for what it reads)."""
  workdir = workdir_lib.Workdir(workdir)
  results: dict[str, Any] = {}
  if workdir.results.exists():
    results = workdir_lib.read_json(workdir.results)
  tests, gaps = [], {}
  for dataset, by_predictor in results.items():
    hierarchy = by_predictor.get(hierarchy_lib.NAME)
    if hierarchy:
      tests.append(TestResult(dataset, int(hierarchy["num_examples"]),
                              {km: float(hierarchy[f"acc@{km}km"]) for km in _KM}))
    if "landmark" in by_predictor:
      gaps[dataset] = float(by_predictor["landmark"]["gap"])
  return ModelCard(workdir=str(workdir), train_dataset=config.data.train,
                   num_train_photos=_num_photos(data_dir, config.data.train),
                   toy_world=config.toy_world.enabled, step=step, tests=tuple(tests),
                   landmark_gap=gaps)
