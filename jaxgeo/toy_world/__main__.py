"""`python -m jaxgeo.toy_world --out DIR`: the command line of the toy-world generator.

One flag per ToyWorldConfig field (help texts from its docstring), plus --out and --num_workers;
--help shows the generator's module docstring (jaxgeo.toy_world.generator).
"""

import dataclasses
import re

from absl import app
from absl import flags

from jaxgeo.toy_world import generator
from jaxgeo.toy_world.config import ToyWorldConfig

__doc__ = generator.__doc__  # what --help shows


def _define_flags() -> None:
  """CLI flags: --out, --num_workers and one per ToyWorldConfig field (defined only when run)."""
  flags.DEFINE_string("out", None, "Output folder of the toy world.", required=True)
  flags.DEFINE_integer("num_workers", 0, "Rendering processes (0: CPU count, at most 8).")
  # Help texts: the Attributes section of ToyWorldConfig's docstring.
  docs = dict(re.findall(r"^    (\w+): (.+)$", ToyWorldConfig.__doc__ or "", re.MULTILINE))
  for f in dataclasses.fields(ToyWorldConfig):
    help_ = docs.get(f.name, f"ToyWorldConfig.{f.name}.")
    if isinstance(f.default, bool):
      flags.DEFINE_boolean(f.name, f.default, help_)
    elif isinstance(f.default, int):
      flags.DEFINE_integer(f.name, f.default, help_)
    else:
      flags.DEFINE_float(f.name, f.default, help_)


def main(argv: list[str]) -> None:
  """Generates the toy world from the flags and prints what was written."""
  del argv
  config = ToyWorldConfig(**{f.name: getattr(flags.FLAGS, f.name)
                             for f in dataclasses.fields(ToyWorldConfig)})
  m = generator.generate_toy_world(flags.FLAGS.out, config,
                                   num_workers=flags.FLAGS.num_workers or None)
  c = m["counts"]
  print(f"Toy world (seed {config.seed}) written to {flags.FLAGS.out} in "
        f"{m['generation']['seconds']:.1f} s with {m['generation']['num_workers']} workers: "
        f"{c['files']} files, {c['bytes'] / 2**20:.1f} MiB")
  print(f"  yfcc100m: {c['yfcc100m_rows']} rows ({c['yfcc100m_good_photos']} good; bad: "
        + ", ".join(f"{k} {v}" for k, v in c["yfcc100m_bad_per_kind"].items())
        + f"), {c['yfcc100m_landmark_photos']} good photos show a landmark")
  if config.mp16:
    print(f"  mp16: {c['mp16_photos']} photos in {c['mp16_shards']} shards")
  print(f"  im2gps3k: {c['im2gps3k_images']} images, {c['im2gps3k_labelled']} labelled; "
        f"yfcc4k: {c['yfcc4k_photos']} photos")
  print(f"  gldv2: {c['gldv2_train']} train ({c['gldv2_train_clean']} clean), "
        f"{c['gldv2_index']} index, {c['gldv2_test']} test "
        f"({c['gldv2_test_with_landmark']} with a landmark); {len(m['landmarks'])} landmarks")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
