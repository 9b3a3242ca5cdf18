"""A nearest-photo index over a built GLDv2 index split, for "photos like yours".

Built by `python -m jaxgeo.predict.build_index --workdir runs/quickstart`.
Every index photo is described by the landmark head's input: its GeM-pooled feature map,
L2-normalised, so the dot product is the cosine similarity (the usual GLDv2 retrieval
descriptor). The descriptors are written to `<workdir>/landmark_index/embeddings.npy` with the
photo ids in `images.csv` and what built them in `index.json`; the Predictor loads them when
present and answers with the most similar index photos. Built from the model of one checkpoint:
a later checkpoint describes photos differently, so the Predictor warns when the steps differ.
"""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import tqdm
from absl import logging
from etils import epath

from jaxgeo.data import pipeline
from jaxgeo.data.raw import images
from jaxgeo.predict.answers import IndexMatch
from jaxgeo.predict.photos import load_photo
from jaxgeo.run import workdir as workdir_lib

DEFAULT_SPLIT = "gldv2/index:index"


@dataclasses.dataclass
class LandmarkIndex:
  """L2-normalised descriptors of index photos and their ids."""
  embeddings: np.ndarray  # (N, D) float32, unit rows
  image_ids: list[str]
  landmark_ids: np.ndarray  # (N,) int64, the index's landmark ids (-1 unknown)
  rows: np.ndarray  # (N,) row of each photo in the split, to fetch it back
  dataset: str  # `name:split`
  data_dir: str
  step: int

  def __len__(self) -> int:
    return len(self.image_ids)

  def search(self, descriptor: np.ndarray, k: int = 5):
    """The k most similar index photos to one unit descriptor, most similar first."""
    sims = self.embeddings @ np.asarray(descriptor, np.float32)
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [IndexMatch(self.image_ids[i], int(self.landmark_ids[i]), float(sims[i])) for i in top]

  def photo(self, image_id: str) -> bytes:
    """The JPEG bytes of an index photo (from the built split), e.g. to show it."""
    try:
      row = int(self.rows[self.image_ids.index(image_id)])
    except ValueError:
      raise KeyError(f"{image_id} is not in the landmark index of {self.dataset}.") from None
    name, split = self.dataset.split(":")
    return pipeline.open_split(name, split, self.data_dir)[row]["image"]

  def save(self, workdir: workdir_lib.PathLike | workdir_lib.Workdir) -> epath.Path:
    out = workdir_lib.Workdir(workdir).landmark_index
    out.mkdir(parents=True, exist_ok=True)
    workdir_lib.save_npy(out / "embeddings.npy", self.embeddings.astype(np.float32))
    with (out / "images.csv").open("w") as f:
      writer = csv.writer(f)
      writer.writerow(["row", "image_id", "landmark_id"])
      writer.writerows(zip(self.rows.tolist(), self.image_ids, self.landmark_ids.tolist()))
    workdir_lib.write_json(out / "index.json", {
        "dataset": self.dataset, "step": self.step, "size": len(self),
        "dim": int(self.embeddings.shape[1])})
    return out

  @classmethod
  def load_if_built(cls, workdir: workdir_lib.PathLike | workdir_lib.Workdir, data_dir: str,
                    step: int | None = None) -> "LandmarkIndex | None":
    """The workdir's index, or None if none was built."""
    root = workdir_lib.Workdir(workdir).landmark_index
    if not (root / "index.json").exists():
      return None
    meta = workdir_lib.read_json(root / "index.json")
    embeddings = workdir_lib.load_npy(root / "embeddings.npy")
    with (root / "images.csv").open() as f:
      rows = list(csv.DictReader(f))
    if len(rows) != len(embeddings):
      raise ValueError(f"{root}: {len(rows)} ids but {len(embeddings)} embeddings; rebuild "
                       "with python -m jaxgeo.predict.build_index.")
    if step is not None and meta["step"] != step:
      logging.warning("The landmark index in %s was built with the checkpoint of step %d; the "
                      "model is at step %d. Rebuild it for matching descriptors.", root,
                      meta["step"], step)
    return cls(embeddings=embeddings, image_ids=[r["image_id"] for r in rows],
               landmark_ids=np.array([int(r["landmark_id"]) for r in rows], np.int64),
               rows=np.array([int(r["row"]) for r in rows], np.int64),
               dataset=meta["dataset"], data_dir=data_dir, step=int(meta["step"]))


def build_index(predictor, *, data_dir: str, dataset: str = DEFAULT_SPLIT,
                limit: int | None = None) -> LandmarkIndex:
  """Descriptors of every photo of a built split (`name:split`), in the Predictor's batches.

  Photos that cannot be decoded are skipped and counted (the builder already dropped most).
  """
  if not predictor.has_landmarks:
    raise ValueError("The landmark index needs a model with a landmark head "
                     "(config.model.landmark_head=True).")
  name, _, split = dataset.partition(":")
  source = pipeline.open_split(name, split or "index", data_dir)
  n = len(source) if limit is None else min(limit, len(source))
  chunks, ids, landmark_ids, rows, skipped = [], [], [], [], 0
  bar = tqdm.tqdm(total=n, unit="photo", dynamic_ncols=True)
  for start in range(0, n, predictor.batch_size):
    batch = []
    for row in range(start, min(n, start + predictor.batch_size)):
      example = source[row]
      image_id = example["image_id"]
      image_id = image_id.decode() if isinstance(image_id, bytes) else str(image_id)
      try:
        batch.append(load_photo(example["image"], image_id, predictor.min_decode_side))
      except images.BadImage as e:
        logging.warning("Skipped %s", e)
        skipped += 1
        continue
      ids.append(image_id)
      landmark_ids.append(int(example.get("landmark_id", -1)))
      rows.append(row)
    if batch:
      chunks.append(predictor.run_batch(batch, five_crop=False)["landmark/descriptor"])
    bar.update(min(n, start + predictor.batch_size) - start)
  bar.close()
  if skipped:
    logging.warning("%d of %d photos of %s could not be decoded and were skipped.", skipped, n,
                    dataset)
  return LandmarkIndex(embeddings=np.concatenate(chunks).astype(np.float32), image_ids=ids,
                       landmark_ids=np.array(landmark_ids, np.int64),
                       rows=np.array(rows, np.int64), dataset=f"{name}:{split or 'index'}",
                       data_dir=data_dir, step=predictor.step)
