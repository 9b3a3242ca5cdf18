r"""Builds the landmark index of a trained run (jaxgeo.predict.landmark_index).

  python -m jaxgeo.predict.build_index --workdir runs/quickstart [--split gldv2/index:index]

Describes every photo of a built GLDv2 index split with the run's landmark head and writes the
descriptors to `<workdir>/landmark_index/`, where the Predictor (and the demo) find them.
"""

from __future__ import annotations

from absl import app, flags

from jaxgeo.predict import landmark_index
from jaxgeo.predict.predictor import Predictor
from jaxgeo.run import restore


def _define_flags() -> None:
  flags.DEFINE_string("workdir", None, "Workdir of a run with a landmark head.")
  flags.DEFINE_string("split", landmark_index.DEFAULT_SPLIT, "Built split to index, `name:split`.")
  flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the run's).")
  flags.DEFINE_integer("limit", None, "Index only the first N photos.")
  flags.DEFINE_integer("batch_size", 32, "Photos per jitted batch.")
  flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
  del argv
  args = flags.FLAGS
  predictor = Predictor.from_workdir(args.workdir, data_dir=args.data_dir,
                                     batch_size=args.batch_size)
  data_dir = args.data_dir or restore.data_dir_of(restore.load_config(args.workdir),
                                                  args.workdir)
  index = landmark_index.build_index(predictor, data_dir=data_dir, dataset=args.split,
                                     limit=args.limit)
  out = index.save(args.workdir)
  print(f"Indexed {len(index)} photos of {index.dataset} (step {index.step}) -> {out}")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
