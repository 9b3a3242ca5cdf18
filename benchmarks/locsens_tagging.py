r"""LocSens speed: full-vocabulary tagging (naive vs optimized vs two-stage) and 1M-photo search.

  python benchmarks/locsens_tagging.py [--vocabulary 100000] [--candidates 500] [--images 2]
      [--index 1000000] [--full_index_slice 65536] [--workdir runs/quickstart]

All in one run, with the paper-sized scorer (FC 300 per modality, 2048-2048-2048-1024-512 with
GroupNorm(32)) RANDOM-INITIALISED (latency does not depend on the weights) and random 300-d
image/tag embeddings:
  * naive full: the whole MLP on the concatenated (image, tag, location) of every tag, as the
    paper scores (tag and image branches and the first layer recomputed per tag), in jitted
    chunks of 4096 tags;
  * optimized full: tag sides (W_tag . tag branch, `LocSens.tag_side`) precomputed once for the
    vocabulary, the query side once per image, the layers after the first on every tag in large
    jitted chunks (`jaxgeo.locsens.LocSensScorer.rank_tags(mode="full")`);
  * two-stage: the tag head's top --candidates tags re-ranked by the scorer (`mode="two_stage"`);
  * agreement: share of the full ranking's top 10 found in the two-stage top 10 on the same
    images. With a random-initialised scorer and tag head this is chance level; --workdir adds the
    agreement of a TRAINED scorer (a workdir with locsens/, e.g. the quickstart's) on its test
    photos.
  * retrieval over --index photos (random embeddings, photo-like coordinates): (a) full scoring
    from precomputed image sides (`LocSens.image_side`, once per index), timed on a
    --full_index_slice slice and scaled linearly to the index (the work is a chunked loop over
    photos, linear in their number; the 1M x 2048 image sides alone would take 8 GB); (b) two-
    stage: the tag-head dot product over the whole index, then the scorer on the top
    --candidates photos (their image sides precomputed), measured on the whole index.
The full-vocabulary modes are compiled ahead of time and timed once (minutes on a CPU); the
others are medians of --repeats timed calls after a warm-up call.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from benchmarks.photo_locations import photo_like_points  # noqa: E402
from jaxgeo.data import vocab as vocab_lib  # noqa: E402
from jaxgeo.locsens import ranking, scorer as scorer_lib  # noqa: E402
from timing import cpu_description  # noqa: E402  (benchmarks/ is the script's folder)


def _time_once(fn) -> float:
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


def _time(fn, repeats: int) -> float:
  jax.block_until_ready(fn())  # compile + warm-up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return float(np.median(times))


@functools.partial(jax.jit, static_argnames=("graphdef", "k", "chunk"))
def naive_full(graphdef, params, tag_embeddings, image, lat, lon, *, k: int, chunk: int):
  """Every tag through the whole MLP on the concatenated inputs (one image)."""
  model = nnx.merge(graphdef, params)
  v = tag_embeddings.shape[0]
  pad = (-v) % chunk
  blocks = jnp.pad(tag_embeddings, ((0, pad), (0, 0))).reshape(-1, chunk, tag_embeddings.shape[1])
  ones = jnp.ones((chunk,))
  scores = jax.lax.map(lambda t: model(jnp.broadcast_to(image, (chunk, image.shape[0])), t,
                                       ones * lat, ones * lon, ones), blocks).reshape(-1)[:v]
  return jax.lax.top_k(scores, k)


@functools.partial(jax.jit, static_argnames=("graphdef", "k"))
def two_stage_search(graphdef, params, index_images, tag_embedding, lat, lon, *, k: int):
  """Tag-head dot product over the whole index, the scorer on its top k photos.

  The image sides of the k candidates are computed here (0.7M MACs each): storing them for a
  1M index would take 8 GB.
  """
  model = nnx.merge(graphdef, params)
  _, rows = jax.lax.top_k(index_images @ tag_embedding, k)
  query = model.tag_side(tag_embedding) + model.location_side(lat, lon, jnp.ones(()))
  scores = model.after_first_layer(query + model.image_side(index_images[rows]))
  top, where = jax.lax.top_k(scores, 10)
  return rows[where], top


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--vocabulary", type=int, default=100_000)
  parser.add_argument("--candidates", type=int, default=500)
  parser.add_argument("--images", type=int, default=2, help="images timed in the full modes")
  parser.add_argument("--two_stage_batch", type=int, default=64)
  parser.add_argument("--index", type=int, default=1_000_000)
  parser.add_argument("--full_index_slice", type=int, default=65_536)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--workdir", default="", help="a run with a trained locsens/ to check "
                      "two-stage agreement on")
  args = parser.parse_args()
  print(cpu_description(), flush=True)
  rng = np.random.default_rng(0)
  e = 300
  model = scorer_lib.LocSens(e, 300, scorer_lib.PAPER_HIDDEN_SIZES, 32,
                              rngs=nnx.Rngs(params=0))
  tags = (rng.normal(size=(args.vocabulary, e)) / np.sqrt(e)).astype(np.float32)
  vocabulary = vocab_lib.TagVocabulary([f"tag{i}" for i in range(args.vocabulary)])
  scorer = ranking.LocSensScorer(model, tags, np.zeros(args.vocabulary, np.float32), vocabulary)
  images = rng.normal(size=(max(args.images, args.two_stage_batch), e)).astype(np.float32)
  lat, lon = photo_like_points(len(images), seed=1)
  print(f"devices: {jax.devices()}; scorer random-initialised at paper sizes, "
        f"{sum(x.size for x in jax.tree.leaves(scorer.params)) / 1e6:.1f}M parameters; "
        f"vocabulary {args.vocabulary}")

  # Tagging. The full modes take minutes on a CPU: compiled ahead of time, timed once each.
  naive_args = (scorer.params, scorer.tag_embeddings, jnp.asarray(images[0]),
                jnp.float32(lat[0]), jnp.float32(lon[0]))
  naive_exe = naive_full.lower(scorer.graphdef, *naive_args, k=10, chunk=4096).compile()
  naive = _time_once(lambda: naive_exe(*naive_args))
  n = args.images
  full_args = (scorer.params, scorer.tag_sides, scorer.tag_embeddings, scorer.tag_bias,
               jnp.asarray(images[:n]), jnp.asarray(lat[:n], jnp.float32),
               jnp.asarray(lon[:n], jnp.float32), jnp.ones(n))
  full_exe = ranking._rank.lower(scorer.graphdef, *full_args, k=10, candidates=0,
                                 chunk=4096).compile()
  full_ids = None

  def run_full():
    nonlocal full_ids
    full_ids = full_exe(*full_args)
    return full_ids

  optimized = _time_once(run_full) / n
  full_ids = np.asarray(full_ids[0])
  b = args.two_stage_batch
  two_stage = _time(lambda: scorer.rank_tags(images[:b], lat[:b], lon[:b],
                                             candidates=args.candidates, batch_size=b),
                    args.repeats) / b
  single = _time(lambda: scorer.rank_tags(images[0], lat[0], lon[0],
                                          candidates=args.candidates), args.repeats)
  two_ids = scorer.rank_tags(images[:n], lat[:n], lon[:n], candidates=args.candidates)[0]
  agreement = np.mean([len(set(a) & set(b_)) / 10 for a, b_ in zip(full_ids, two_ids)])
  print(f"\nTagging, {args.vocabulary} tags, per image (s):")
  print(f"  naive full (whole MLP per tag)         {naive:9.3f}   1.00x")
  print(f"  optimized full (precomputed tag sides) {optimized:9.3f}   {naive / optimized:.2f}x "
        f"(batch of {n})")
  print(f"  two-stage (top {args.candidates} re-ranked)         {two_stage:9.4f}   "
        f"{naive / two_stage:.0f}x (batch of {b}); one image alone {single:.4f} s")
  print(f"  two-stage top-10 agreement with the full ranking: {100 * agreement:.1f}% "
        f"(random-initialised scorer and tag head: chance is about "
        f"{100 * args.candidates / args.vocabulary:.1f}%)")
  if args.workdir:
    trained = ranking.load_locsens(args.workdir, required=True)
    test = trained.load_index("test")
    keep = (test.tag_ids >= 0).any(1)
    f_ids = trained.rank_tags(test.image[keep], test.latitude[keep], test.longitude[keep],
                              mode="full")[0]
    for c in (10, 50, 100):
      t_ids = trained.rank_tags(test.image[keep], test.latitude[keep], test.longitude[keep],
                                candidates=c)[0]
      agree = np.mean([len(set(a) & set(b_)) / 10 for a, b_ in zip(f_ids, t_ids)])
      print(f"  trained scorer of {args.workdir} ({len(trained.vocabulary)} tags, "
            f"{keep.sum()} test photos), top {c} candidates: top-10 agreement "
            f"{100 * agree:.1f}%, same top-1 {100 * np.mean(f_ids[:, 0] == t_ids[:, 0]):.1f}%")

  # Retrieval.
  n_slice = min(args.full_index_slice, args.index)
  index_images = rng.normal(size=(args.index, e)).astype(np.float32)
  build = time.perf_counter()
  sides = ranking._image_sides(scorer.graphdef, scorer.params, index_images[:n_slice])
  sides.block_until_ready()
  build = time.perf_counter() - build
  tag = scorer.tag_embeddings[:1]
  search = jax.jit(lambda params, sides, tag, la, lo: scorer_lib.score_photos(
      nnx.merge(scorer.graphdef, params), sides, tag, la, lo, jnp.ones(1), chunk=16384))
  full_slice = _time(lambda: search(scorer.params, sides, tag, jnp.asarray(lat[:1], jnp.float32),
                                    jnp.asarray(lon[:1], jnp.float32)), 1)
  full_index = full_slice * args.index / n_slice
  index_jax = jnp.asarray(index_images)
  del index_images
  two = _time(lambda: two_stage_search(scorer.graphdef, scorer.params, index_jax, tag[0],
                                       jnp.float32(lat[0]), jnp.float32(lon[0]),
                                       k=args.candidates), args.repeats)
  print(f"\nRetrieval over {args.index} photos (image sides precomputed; building them took "
        f"{build / n_slice * 1e6:.1f} us/photo):")
  print(f"  full scoring: {full_slice:.2f} s for {n_slice} photos -> {full_index:.1f} s/query "
        f"over {args.index} ({1 / full_index:.4f} queries/s, scaled linearly)")
  print(f"  two-stage (tag-head top {args.candidates} re-ranked): {two * 1e3:.1f} ms/query "
        f"({1 / two:.1f} queries/s), {full_index / two:.0f}x faster than full scoring")


if __name__ == "__main__":
  main()
