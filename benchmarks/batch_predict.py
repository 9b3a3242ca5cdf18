r"""The batch path over a collection: photos/s against a one-process loop, memory, processes.

  python benchmarks/batch_predict.py --workdir runs/quickstart [--photos 1000]
      [--photo_size 1024x768] [--memory_sizes 10000,100000] [--processes_inputs 4000]

Three measures, each against a reference taken in the same run on this machine:
  1. photos/s of `jaxgeo.predict.collection.predict_collection` (one process, shards, photos
     decoded and cropped by threads ahead of the model, batches over the local devices) against
     a plain loop over the same phone-sized JPEG files: decode a batch on the Predictor's threads,
     then run it, then write its CSV rows and GeoJSON features (what the batch CLI did before
     shards). Alternated, best of --rounds each; the time split of the batch path comes from
     its report.
  2. peak resident memory (ru_maxrss) of `python -m jaxgeo.predict` over a file list of N
     inputs, for each of --memory_sizes (the toy world's small photos, repeated): flat when
     listing and answering never hold the collection.
  3. wall time of the command over --processes_inputs inputs as two local processes
     (`JAXGEO_COORDINATOR`, one CPU device each) against one process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import portpicker

from jaxgeo.predict import collection, formats
from jaxgeo.predict.predictor import Predictor
from predict_latency import make_photos
from timing import cpu_description

REPO = pathlib.Path(__file__).resolve().parents[1]
PEAK = "PEAK_RSS_KB"
# Runs the command in-process and prints its peak resident memory on the way out.
MEASURED_CLI = ("import atexit, resource, runpy, sys\n"
                "atexit.register(lambda: print('" + PEAK + "', resource.getrusage("
                "resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
                "sys.argv = ['jaxgeo.predict'] + sys.argv[1:]\n"
                "runpy.run_module('jaxgeo.predict', run_name='__main__')\n")


def loop_of_today(predictor: Predictor, paths: list[str], out: str) -> int:
  """The reference: decode a batch (threads), predict it, write its CSV rows and GeoJSON
  features; nothing overlaps."""
  names = predictor.partition_names
  done = 0
  with open(f"{out}.csv", "w", encoding="utf-8", newline="") as f, \
       open(f"{out}.geojson", "w", encoding="utf-8") as geo:
    writer = csv.writer(f)
    writer.writerow(formats.csv_header(names))
    geo.write('{"type": "FeatureCollection", "features": [\n')
    for start in range(0, len(paths), predictor.batch_size):
      photos = predictor.load_photos(paths[start:start + predictor.batch_size])
      for p in predictor.predict_batch(photos):
        writer.writerow(formats.csv_row(p, names))
        geo.write(("" if done == 0 else ",\n") + json.dumps(formats.geojson_feature(p)))
        done += 1
    geo.write("\n]}\n")
  return done


def throughput(workdir: str, folder: str, paths: list[str], rounds: int, batch_size: int,
               scratch: str) -> None:
  predictor = Predictor.from_workdir(workdir, batch_size=batch_size, devices=jax.local_devices())
  predictor.predict_batch(paths[:batch_size])  # compile the full batch shape for both
  best = {"loop": float("inf"), "batch": float("inf")}
  report = None
  for r in range(rounds):
    start = time.perf_counter()
    assert loop_of_today(predictor, paths, os.path.join(scratch, "loop")) == len(paths)
    best["loop"] = min(best["loop"], time.perf_counter() - start)
    out = os.path.join(scratch, f"batch{r}")
    start = time.perf_counter()
    report = collection.predict_collection(predictor, [folder], out, shard_size=1000,
                                           progress=False)
    best["batch"] = min(best["batch"], time.perf_counter() - start)
    assert report["predicted"] == len(paths)
  loop_rate, batch_rate = len(paths) / best["loop"], len(paths) / best["batch"]
  print(f"1. {len(paths)} photos, batch {predictor.batch_size}, {len(predictor.devices)} "
        f"device(s), best of {rounds}:")
  print(f"   loop of today : {loop_rate:7.1f} photos/s")
  print(f"   batch path    : {batch_rate:7.1f} photos/s  ({batch_rate / loop_rate:.2f}x)")
  print("   " + formats.format_seconds(report))


def _run_cli(workdir: str, out: str, listing: str, env: dict[str, str]) -> tuple[float, int]:
  """(seconds, peak resident kB) of one process of the command."""
  start = time.perf_counter()
  result = subprocess.run(
      [sys.executable, "-c", MEASURED_CLI, "--workdir", workdir, "--output_dir", out,
       "--input_list", listing, "--batch_size", "64"],
      cwd=REPO, env=env, capture_output=True, text=True, check=False)
  if result.returncode:
    raise RuntimeError(result.stderr[-3000:])
  peak = next(int(line.split()[1]) for line in result.stderr.splitlines()
              if line.startswith(PEAK))
  return time.perf_counter() - start, peak


def _listing(path: str, photos: list[str], n: int) -> str:
  with open(path, "w", encoding="utf-8") as f:
    for i in range(n):
      f.write(photos[i % len(photos)] + "\n")
  return path


def memory(workdir: str, small: list[str], sizes: list[int], scratch: str) -> None:
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  print("2. peak resident memory of `python -m jaxgeo.predict` over a file list:")
  for n in sizes:
    listing = _listing(os.path.join(scratch, f"list{n}.txt"), small, n)
    seconds, peak = _run_cli(workdir, os.path.join(scratch, f"mem{n}"), listing, env)
    print(f"   {n:>8,} inputs: {peak / 1024:7.1f} MiB peak, {seconds:6.1f} s "
          f"({n / seconds:6.1f} photos/s with start-up)")


def processes(workdir: str, small: list[str], n: int, scratch: str) -> None:
  listing = _listing(os.path.join(scratch, f"proc{n}.txt"), small, n)
  base = dict(os.environ, JAX_PLATFORMS="cpu",
              XLA_FLAGS="--xla_force_host_platform_device_count=1")
  one, _ = _run_cli(workdir, os.path.join(scratch, "one"), listing, base)
  port = portpicker.pick_unused_port()
  start = time.perf_counter()
  procs = [subprocess.Popen(
      [sys.executable, "-c", MEASURED_CLI, "--workdir", workdir, "--output_dir",
       os.path.join(scratch, "two"), "--input_list", listing, "--batch_size", "64"],
      cwd=REPO, env=dict(base, JAXGEO_COORDINATOR=f"127.0.0.1:{port}",
                         JAXGEO_NUM_PROCESSES="2", JAXGEO_PROCESS_ID=str(i)),
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
  if any(p.wait() for p in procs):
    raise RuntimeError("a process of the two-process run failed")
  two = time.perf_counter() - start
  same = (pathlib.Path(scratch, "one", "predictions.csv").read_bytes()
          == pathlib.Path(scratch, "two", "predictions.csv").read_bytes())
  print(f"3. {n:,} inputs, wall time with start-up, {os.cpu_count()} CPU cores:")
  print(f"   one process   : {one:6.1f} s")
  print(f"   two processes : {two:6.1f} s  ({one / two:.2f}x; identical CSV: {same})")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True, help="A quickstart run.")
  parser.add_argument("--photos", type=int, default=1000)
  parser.add_argument("--photo_size", default="1024x768")
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--memory_sizes", default="10000,100000")
  parser.add_argument("--processes_inputs", type=int, default=4000)
  parser.add_argument("--parts", default="1,2,3", help="Which measures to run.")
  args = parser.parse_args()
  print(cpu_description(), flush=True)
  parts = set(args.parts.split(","))
  width, height = (int(x) for x in args.photo_size.split("x"))
  small = sorted(str(p) for p in pathlib.Path(args.workdir, "toy_world").glob("*/images/*.jpg"))
  print(f"{os.cpu_count()} CPU cores, {jax.local_device_count()} local device(s) "
        f"({jax.devices()[0].platform}); model {args.workdir}")
  scratch = tempfile.mkdtemp(prefix="jaxgeo-batch-")
  try:
    if "1" in parts:
      folder = os.path.join(scratch, "photos")
      os.makedirs(folder)
      unique = make_photos(50, width, height)
      paths = []
      for i in range(args.photos):
        paths.append(os.path.join(folder, f"{i:06d}.jpg"))
        pathlib.Path(paths[-1]).write_bytes(unique[i % len(unique)])
      throughput(args.workdir, folder, paths, args.rounds, args.batch_size, scratch)
    if "2" in parts:
      memory(args.workdir, small, [int(n) for n in args.memory_sizes.split(",")], scratch)
    if "3" in parts:
      processes(args.workdir, small, args.processes_inputs, scratch)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
  main()
