"""The session store: concurrent changes to one library all land; clearing stops an upload."""

from __future__ import annotations

import pathlib
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from demo import library, sessions


def _entry(name: str) -> library.Entry:
  return library.Entry(name=name, error=f"{name}: test entry")


def test_two_uploads_of_one_session_both_land():
  store = sessions.Sessions()
  start = store.get("a").generation

  def upload(prefix: str) -> None:
    for k in range(200):
      assert store.append("a", _entry(f"{prefix}{k}"), start) is not None

  threads = [threading.Thread(target=upload, args=(p,)) for p in ("x", "y")]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  names = [e.name for e in store.get("a").entries]
  assert sorted(names) == sorted([f"x{k}" for k in range(200)] + [f"y{k}" for k in range(200)])
  assert store.get("b").entries == ()  # sessions are apart


def test_selection_rerank_and_clear():
  store = sessions.Sessions()
  gen = store.get("a").generation
  assert store.append("a", _entry("one"), gen).selected == 0  # nothing was selected
  assert store.append("a", _entry("two"), gen).selected == 0  # the selection stays
  assert store.append("a", _entry("three"), gen, select=True).selected == 2  # a new upload
  assert store.select("a", 1).selected == 1 and store.select("a", 7) is None
  changed = store.replace("a", 1, _entry("two, re-ranked"))
  assert [e.name for e in changed.entries] == ["one", "two, re-ranked", "three"]
  assert store.replace("a", 5, _entry("gone")) == changed  # no such photo: nothing changes
  cleared = store.clear("a")
  assert cleared.entries == () and cleared.selected is None
  assert store.append("a", _entry("late"), gen) is None  # an upload started before the clear
  assert store.get("a").entries == ()
  store.drop("a")
  assert store.get("a") == sessions.Session()


def test_least_recently_used_sessions_are_forgotten_beyond_capacity():
  store = sessions.Sessions(capacity=2)
  for key in ("a", "b", "c"):
    store.append(key, _entry(key), 0)
  assert store.get("a").entries == () and len(store.get("c").entries) == 1
