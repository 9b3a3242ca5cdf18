r"""Exact top-k search by cosine similarity: jaxgeo's sharded index against FAISS IndexFlatIP.

  python benchmarks/retrieval.py [--sizes 100000,1000000] [--dim 512] [--queries 1000] [--k 10]
  python benchmarks/retrieval.py --sizes 4700000 --sides faiss         # MP-16's size, one side
  python benchmarks/retrieval.py --sizes 4700000 --sides jaxgeo_bf16   # per process (memory)

Both search the same L2-normalised float32 gallery (FAISS: `IndexFlatIP`, its exact inner-product
index; jaxgeo: `jaxgeo.retrieval.knn.ExactIndex` on the devices JAX sees) with the same queries,
in one run: queries/s of each (median of `--repeats` after a warm-up), their ratio, and whether
the neighbour ids agree (the share of identical top-k lists, which ties aside must all agree,
and the share of FAISS' neighbours found). `--bf16` adds jaxgeo with a bfloat16 gallery (half
the memory; the order then changes where scores differ below bf16's precision). `--sides` runs
only some of them (a gallery as large as MP-16's does not fit twice in 24 GB); without FAISS
there is no reference to compare with. Each size also prints the process's peak resident memory
so far, and how long building the index took.
"""

import argparse
import resource
import time

import faiss
import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.retrieval import knn
from timing import median_seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="100000,1000000")
  parser.add_argument("--dim", type=int, default=512)
  parser.add_argument("--queries", type=int, default=1000)
  parser.add_argument("--k", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--chunk", type=int, default=16384)
  parser.add_argument("--bf16", action="store_true")
  parser.add_argument("--sides", default="", help="Comma-separated: faiss, jaxgeo, jaxgeo_bf16 "
                      "(default: faiss and jaxgeo, and jaxgeo_bf16 with --bf16).")
  args = parser.parse_args()
  sides = set(args.sides.split(",")) if args.sides else {
      "faiss", "jaxgeo", *(["jaxgeo_bf16"] if args.bf16 else [])}
  print(f"jax {jax.__version__} on {jax.device_count()} {jax.devices()[0].platform} device(s); "
        f"faiss {faiss.__version__} with {faiss.omp_get_max_threads()} threads", flush=True)
  rng = np.random.default_rng(0)
  queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
  queries /= np.linalg.norm(queries, axis=1, keepdims=True)
  for size in (int(s) for s in args.sizes.split(",")):
    # Random unit rows, made in chunks so that only the gallery itself is ever held.
    dtype = np.float32 if sides & {"faiss", "jaxgeo"} else jnp.bfloat16
    gallery = np.empty((size, args.dim), dtype)
    for start in range(0, size, 1 << 18):
      part = rng.standard_normal((min(1 << 18, size - start), args.dim), dtype=np.float32)
      gallery[start:start + len(part)] = part / np.linalg.norm(part, axis=1, keepdims=True)
    rows, faiss_ids, faiss_s = [], None, None
    if "faiss" in sides:
      flat = faiss.IndexFlatIP(args.dim)
      flat.add(gallery)
      faiss_s = median_seconds(lambda: flat.search(queries, args.k), args.repeats)
      _, faiss_ids = flat.search(queries, args.k)
      rows.append(("faiss IndexFlatIP, f32", faiss_s, 1.0, 1.0, 0.0))
      del flat
    for name, side, index_dtype in (("jaxgeo ExactIndex, f32", "jaxgeo", jnp.float32),
                                    ("jaxgeo ExactIndex, bf16", "jaxgeo_bf16", jnp.bfloat16)):
      if side not in sides:
        continue
      start = time.perf_counter()
      index = knn.ExactIndex(gallery, dtype=index_dtype, chunk=args.chunk)
      jax.block_until_ready(index.gallery)
      built = time.perf_counter() - start
      seconds = median_seconds(
          lambda: index.search(queries, args.k, batch_size=args.queries), args.repeats)
      _, ids = index.search(queries, args.k, batch_size=args.queries)
      same = recall = float("nan")
      if faiss_ids is not None:
        recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ids, faiss_ids)])
        same = float(np.mean(np.all(ids == faiss_ids, axis=1)))
      rows.append((name, seconds, same, recall, built))
      index = None  # freed before the next side builds its own
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\ngallery {size:,} x {args.dim} ({gallery.nbytes / 2**30:.1f} GiB as "
          f"{np.dtype(dtype).name}), {args.queries} queries, top-{args.k}; peak RSS so far "
          f"{peak_gb:.1f} GiB:")
    for name, seconds, same, recall, built in rows:
      versus = f"{faiss_s / seconds:5.2f}x faiss" if faiss_s else "  (no faiss)"
      print(f"  {name:26s} {args.queries / seconds:10.1f} queries/s   {versus}   "
            f"identical top-{args.k}: {same:.1%}, faiss' neighbours found: {recall:.1%}"
            + (f"   index built in {built:.1f} s" if built else ""))
    del gallery

if __name__ == "__main__":
  main()
