"""The Flickr-style test sets: Im2GPS3k (images and meta CSV) and YFCC4k (rows and images).

Their authors are kept apart from the training users (sampling.World's user pools), as the
real test sets' authors are excluded from MP-16.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jaxgeo.toy_world.config import ToyWorldConfig
from jaxgeo.toy_world.formats import rows
from jaxgeo.toy_world.formats.files import FileWriter
from jaxgeo.toy_world.sampling import Plan


def write(out: FileWriter, config: ToyWorldConfig, plan: Plan,
          make_photos: Callable[[list[tuple]], Iterable[dict[str, Any]]]) -> dict[str, Any]:
  """Writes the Im2GPS3k-style (images + meta CSV) and YFCC4k-style (rows + flat images) sets.

  Args:
    out: Where the files go.
    config: Size and seed of the world.
    plan: The world-wide draws (photo ids, unlabelled images, YFCC4k line numbers).
    make_photos: Samples and renders photos for a list of tasks, in task order (the
      generator's workers); a task is (split, index, photo id, user pool, bad kind).

  Returns:
    The manifest's entries for these files, and the truth rows of their photos.
  """
  n_test = config.num_test_photos
  tasks = ([("im2gps3k", i, plan.im2gps_ids[i], "im2gps3k", "good") for i in range(n_test)]
           + [("yfcc4k", i, plan.yfcc4k_ids[i], "yfcc4k", "good")
              for i in range(config.num_yfcc4k_photos)])
  im2gps_rows, unlabelled, yfcc4k_rows, truth = [], [], [], []
  for j, rec in enumerate(make_photos(tasks)):
    if j < n_test:
      img_id = f"{rec['photo_id']}_{rec['original_secret']}_o.jpg"
      out.write(f"im2gps3k/images/{img_id}", rec["jpeg"])
      truth.append(rows.truth_row("im2gps3k", rec))
      if j in plan.unlabelled:  # image present, row missing (as in the usual meta CSV)
        unlabelled.append(img_id)
      else:
        im2gps_rows.append(rows.places_row(img_id, rec))
    else:
      out.write(f"yfcc4k/images/{rec['photo_id']}.jpg", rec["jpeg"])
      yfcc4k_rows.append(rows.yfcc_line(rec, plan.yfcc4k_lines[j - n_test]))
      truth.append(rows.truth_row("yfcc4k", rec))
  out.write_text("im2gps3k/im2gps3k_places365.csv",
                 [",".join(rows.PLACES365_HEADER_2018)] + im2gps_rows)
  out.write_text("yfcc4k/yfcc4k_dataset", yfcc4k_rows)
  return {"counts": {"im2gps3k_images": n_test, "im2gps3k_labelled": len(im2gps_rows),
                     "yfcc4k_photos": config.num_yfcc4k_photos},
          "im2gps3k_unlabelled": unlabelled, "truth": truth}
