r"""Exact top-k search by cosine similarity: jaxgeo's sharded index against FAISS IndexFlatIP.

  python benchmarks/retrieval.py [--sizes 100000,1000000] [--dim 512] [--queries 1000] [--k 10]
  python benchmarks/retrieval.py --sizes 4700000 --sides faiss         # MP-16's size, one side
  python benchmarks/retrieval.py --sizes 4700000 --sides jaxgeo_bf16   # per process (memory)

Each side searches the same L2-normalised float32 gallery with the same queries, in one run:
FAISS' `IndexFlatIP` (its exact inner-product index, the reference), jaxgeo's
`jaxgeo.retrieval.knn.ExactIndex` as it serves by default (`auto`: through FAISS on CPU devices
when faiss-cpu is installed, with ties ordered by row), and its XLA search alone (`xla`: the
sharded matmul and top-k, what accelerators run) on the devices JAX sees. Printed: queries/s of
each (median of `--repeats` after a warm-up), their ratio, and whether
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
from timing import cpu_description, interleaved_median_seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="100000,1000000")
  parser.add_argument("--dim", type=int, default=512)
  parser.add_argument("--queries", type=int, default=1000)
  parser.add_argument("--k", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--chunk", type=int, default=16384)
  parser.add_argument("--bf16", action="store_true")
  parser.add_argument("--sides", default="", help="Comma-separated: faiss, jaxgeo, jaxgeo_xla, "
                      "jaxgeo_bf16 (default: the first three, and jaxgeo_bf16 with --bf16).")
  args = parser.parse_args()
  sides = set(args.sides.split(",")) if args.sides else {
      "faiss", "jaxgeo", "jaxgeo_xla", *(["jaxgeo_bf16"] if args.bf16 else [])}
  print(f"{cpu_description()}\njax {jax.__version__} on {jax.device_count()} "
        f"{jax.devices()[0].platform} device(s); faiss {faiss.__version__} with "
        f"{faiss.omp_get_max_threads()} threads", flush=True)
  rng = np.random.default_rng(0)
  queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
  queries /= np.linalg.norm(queries, axis=1, keepdims=True)
  for size in (int(s) for s in args.sizes.split(",")):
    # Random unit rows, made in chunks so that only the gallery itself is ever held.
    dtype = np.float32 if sides & {"faiss", "jaxgeo", "jaxgeo_xla"} else jnp.bfloat16
    gallery = np.empty((size, args.dim), dtype)
    for start in range(0, size, 1 << 18):
      part = rng.standard_normal((min(1 << 18, size - start), args.dim), dtype=np.float32)
      gallery[start:start + len(part)] = part / np.linalg.norm(part, axis=1, keepdims=True)
    searchers, built = {}, {}  # name -> a search of all queries; seconds to build
    if "faiss" in sides:
      flat = faiss.IndexFlatIP(args.dim)
      flat.add(gallery)
      searchers["faiss IndexFlatIP, f32"] = lambda flat=flat: flat.search(queries, args.k)
    for side, index_dtype, backend in (("jaxgeo", jnp.float32, "auto"),
                                       ("jaxgeo_xla", jnp.float32, "xla"),
                                       ("jaxgeo_bf16", jnp.bfloat16, "xla")):
      if side not in sides:
        continue
      start = time.perf_counter()
      index = knn.ExactIndex(gallery, dtype=index_dtype, chunk=args.chunk, backend=backend)
      if index.backend == "xla":
        jax.block_until_ready(index.gallery)
      name = (f"jaxgeo ExactIndex ({backend}{'->' + index.backend if backend == 'auto' else ''}), "
              f"{'bf16' if index_dtype == jnp.bfloat16 else 'f32'}")
      built[name] = time.perf_counter() - start
      searchers[name] = lambda index=index: index.search(queries, args.k, batch_size=args.queries)
    # Every side is timed in each round, so that a machine's load changes weigh on all alike.
    seconds = interleaved_median_seconds(searchers, args.repeats)
    ids = {name: search()[1] for name, search in searchers.items()}
    faiss_ids = ids.get("faiss IndexFlatIP, f32")
    faiss_s = seconds.get("faiss IndexFlatIP, f32")
    rows = []
    for name in searchers:
      same = recall = float("nan")
      if faiss_ids is not None:
        recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ids[name], faiss_ids)])
        same = float(np.mean(np.all(ids[name] == faiss_ids, axis=1)))
      rows.append((name, seconds[name], same, recall, built.get(name, 0.0)))
    searchers = index = flat = None  # freed before the next size
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\ngallery {size:,} x {args.dim} ({gallery.nbytes / 2**30:.1f} GiB as "
          f"{np.dtype(dtype).name}), {args.queries} queries, top-{args.k}; peak RSS so far "
          f"{peak_gb:.1f} GiB:")
    for name, seconds, same, recall, built in rows:
      versus = f"{faiss_s / seconds:5.2f}x faiss" if faiss_s else "  (no faiss)"
      print(f"  {name:38s} {args.queries / seconds:10.1f} queries/s   {versus}   "
            f"identical top-{args.k}: {same:.1%}, faiss' neighbours found: {recall:.1%}"
            + (f"   index built in {built:.1f} s" if built else ""))
    del gallery

if __name__ == "__main__":
  main()
