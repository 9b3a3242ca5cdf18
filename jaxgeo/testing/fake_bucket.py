"""A `gs://` bucket on local disk, for tests of code that reads and writes through epath.

`etils.epath.testing.mock_epath` swaps the backend of every path prefix; this maps each
`gs://bucket/key` onto `<root>/bucket/key` and calls the local file system, so a run's workdir
and data dir can be buckets in a test without a network. What bypasses epath (a plain `open`, an
`os.path` call) meets the literal string `gs://...` and fails or writes a local `gs:` folder,
which the tests check for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from unittest import mock

from etils.epath import gpath, testing as epath_testing


_PREFIX = "gs://"


@contextlib.contextmanager
def fake_gcs(root: str | os.PathLike) -> Iterator[None]:
  """Within the block, `gs://...` paths of epath live under `root`."""
  root = os.fspath(root)

  def local(path) -> str:
    path = os.fspath(path)
    return os.path.join(root, path[len(_PREFIX):]) if path.startswith(_PREFIX) else path

  def bucket(path: str) -> str:
    """A local path under `root` back to its gs:// form (for listings)."""
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else _PREFIX + rel

  def one_path(fn, path, *args, **kwargs):
    return fn(local(path), *args, **kwargs)

  def two_paths(fn, path, dst, *args, **kwargs):
    return fn(local(path), local(dst), *args, **kwargs)

  def glob(fn, pattern):
    return [bucket(p) for p in fn(local(pattern))]

  def walk(fn, top, **kwargs):
    for directory, dirs, files in fn(local(top), **kwargs):
      yield bucket(os.fspath(directory)), dirs, files

  # With TensorFlow installed, epath sends gs:// to tf.io.gfile, past the mocked backends; the
  # check is cached at its first use, so the environment (EPATH_USE_TF) is too late to say no.
  with mock.patch.object(gpath, "_is_tf_installed", lambda: False), epath_testing.mock_epath(

      open=one_path, exists=one_path, isdir=one_path, listdir=one_path, makedirs=one_path,
      mkdir=one_path, remove=one_path, rmtree=one_path, stat=one_path, copy=two_paths,
      rename=two_paths, replace=two_paths, glob=glob, walk=walk):
    yield
