r"""The base every config starts from: each key with its one default (jaxgeo.run.config_base).

A config is a variant of it: `config = common.base()`, then its overrides. Its evals are named
explicitly, `config.evals.<name> = common.make_eval("geolocation" | "landmarks", "name[:split]",
**options)`, and its one string argument is parsed by `common.parse_arg` (big_vision's shape:
`configs/quickstart.py:runlocal`, `...:runlocal,other=value`). The defaults live in jaxgeo, not
here, because jaxgeo fills them into the config.json of workdirs written before a key existed,
and `configs/` is not installed with the package.

As a config of its own (`--config configs/common.py`) it trains a ResNet-50 on MP-16 with the
defaults (a constant rate, no weight decay) and evaluates nothing: configs/mp16_resnet50.py is
GeoEstimation's recipe, with its evaluations.
"""

import ml_collections

from jaxgeo.run.config_base import EVAL_OPTIONS, base, make_eval, parse_arg

__all__ = ["EVAL_OPTIONS", "base", "make_eval", "parse_arg", "get_config"]


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The base config; it takes no argument."""
  parse_arg(arg, __file__)
  return base()
