"""Counting the records a data-set build skips, by reason, for a report the user sees.

Nothing a builder drops is lost silently: each skip is counted under a short reason key with a
few example ids, logged at the end of the split and written to `build_report.json` next to the
data set.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any

from absl import logging
from etils import epath

from jaxgeo.data import vocab

REPORT_FILE = "build_report.json"


class SkipCounter:
  """Kept/skipped counts of one split; reasons are short keys like `no_gps`."""

  def __init__(self, max_examples: int = 5):
    self.max_examples = max_examples
    self.num_kept = 0
    self.skipped: collections.Counter[str] = collections.Counter()
    self.examples: dict[str, list[str]] = collections.defaultdict(list)

  def keep(self) -> None:
    self.num_kept += 1

  def skip(self, reason: str, example: str) -> None:
    self.skipped[reason] += 1
    if len(self.examples[reason]) < self.max_examples:
      self.examples[reason].append(example)

  def as_dict(self) -> dict[str, Any]:
    return {"kept": self.num_kept, "skipped": dict(sorted(self.skipped.items())),
            "examples": {k: self.examples[k] for k in sorted(self.skipped)}}

  def summary(self, split: str) -> str:
    total = sum(self.skipped.values())
    parts = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items()))
    return f"{split}: kept {self.num_kept}, skipped {total}" + (f" ({parts})" if parts else "")


def write_split_report(data_dir: str | os.PathLike, split: str, counts: dict[str, Any]) -> None:
  """Adds one split's counts (or another section's, e.g. a CSV read before the splits) to
  `<data_dir>/build_report.json`, and logs them."""
  path = epath.Path(data_dir) / REPORT_FILE
  report = json.loads(path.read_text()) if path.exists() else {}
  report[split] = counts
  path.write_text(json.dumps(report, indent=2, sort_keys=True))
  skipped = counts.get("skipped", {})
  logging.info("Build report, split %s: kept %d, skipped %d %s -> %s", split, counts["kept"],
               sum(skipped.values()), skipped, path)


class EmptySplitError(ValueError):
  """A split that would hold no example. TFDS cannot write one (its own error, "No examples
  were yielded", says nothing of why), so builders stop with this message instead."""


def require_examples(counter: SkipCounter, dataset: str, split: str,
                     data_dir: str | os.PathLike, hint: str) -> None:
  """Raises EmptySplitError, naming the split, what was skipped and `hint`, if nothing was kept.

  Called at the end of a split's generator, after its report is written, so the report on disk
  says what happened to every record.
  """
  if counter.num_kept:
    return
  total = sum(counter.skipped.values())
  what = (f"all {total} of its records were skipped "
          f"({', '.join(f'{r}: {n}' for r, n in sorted(counter.skipped.items()))})" if total
          else "no record of the input falls in it")
  raise EmptySplitError(f"{dataset}: split {split!r} would be empty: {what}. {hint} (Build "
                        f"report: {epath.Path(data_dir) / REPORT_FILE})")


def validation_hint(dataset: str, config: dict[str, Any], fraction: float) -> str:
  """What to do when a small input leaves the validation split empty: the config field."""
  smaller = json.dumps({**config, "name": f"{config['name']}_novalidation",
                        "validation_fraction": 0})
  return (f"validation_fraction={fraction} (a stable hash of each id) put none of the input's "
          "usable records in it, as happens with a few rows. Raise the builder config field "
          "validation_fraction, or set it to 0 to build no validation split, e.g. tfds build "
          f"tfds_builders/{dataset.split('/')[0]} --config '{smaller}' ...")


def write_tag_counts(data_dir: str | os.PathLike, split: str,
                     counts: collections.Counter[str] | dict[str, int]) -> epath.Path:
  """Writes `tag_counts_<split>.tsv` (tag, photos carrying it), most frequent first.

  Counted while building, so a tag vocabulary needs no second pass over millions of photos.
  """
  path = vocab.tag_counts_path(data_dir, split)
  path.write_text("".join(f"{tag}\t{count}\n" for tag, count in
                          sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
  return path


def read_report(data_dir: str | os.PathLike) -> dict[str, Any]:
  return json.loads((epath.Path(data_dir) / REPORT_FILE).read_text())
