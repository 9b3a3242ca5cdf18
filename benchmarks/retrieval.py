r"""Exact top-k search by cosine similarity: jaxgeo's sharded index against FAISS IndexFlatIP.

  python benchmarks/retrieval.py [--sizes 100000,1000000] [--dim 512] [--queries 1000] [--k 10]

Both search the same L2-normalised float32 gallery (FAISS: `IndexFlatIP`, its exact inner-product
index; jaxgeo: `jaxgeo.retrieval.knn.ExactIndex` on the devices JAX sees) with the same queries,
in one run: queries/s of each (median of `--repeats` after a warm-up), their ratio, and whether
the neighbour ids agree (the share of identical top-k lists, which ties aside must all agree,
and the share of FAISS' neighbours found). `--bf16` adds jaxgeo with a bfloat16 gallery (half
the memory; the order then changes where scores differ below bf16's precision).
"""

import argparse

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
  args = parser.parse_args()
  print(f"jax {jax.__version__} on {jax.device_count()} {jax.devices()[0].platform} device(s); "
        f"faiss {faiss.__version__} with {faiss.omp_get_max_threads()} threads", flush=True)
  rng = np.random.default_rng(0)
  queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
  queries /= np.linalg.norm(queries, axis=1, keepdims=True)
  for size in (int(s) for s in args.sizes.split(",")):
    gallery = rng.standard_normal((size, args.dim), dtype=np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(gallery)
    faiss_s = median_seconds(lambda: flat.search(queries, args.k), args.repeats)
    _, faiss_ids = flat.search(queries, args.k)
    rows = [("faiss IndexFlatIP, f32", faiss_s, 1.0, 1.0)]
    dtypes = [("jaxgeo ExactIndex, f32", jnp.float32)]
    if args.bf16:
      dtypes.append(("jaxgeo ExactIndex, bf16", jnp.bfloat16))
    for name, dtype in dtypes:
      index = knn.ExactIndex(gallery, dtype=dtype, chunk=args.chunk)
      seconds = median_seconds(
          lambda: index.search(queries, args.k, batch_size=args.queries), args.repeats)
      _, ids = index.search(queries, args.k, batch_size=args.queries)
      recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ids, faiss_ids)])
      rows.append((name, seconds, float(np.mean(np.all(ids == faiss_ids, axis=1))), recall))
    print(f"\ngallery {size:,} x {args.dim}, {args.queries} queries, top-{args.k}:")
    for name, seconds, same, recall in rows:
      print(f"  {name:26s} {args.queries / seconds:10.1f} queries/s   "
            f"{faiss_s / seconds:5.2f}x faiss   identical top-{args.k}: {same:.1%}, "
            f"faiss' neighbours found: {recall:.1%}")


if __name__ == "__main__":
  main()
