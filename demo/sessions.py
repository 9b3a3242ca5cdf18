"""Each browser session's photo library, kept on the server in memory and changed atomically.

A user drops more photos while the first ones are still being answered, selects a photo or
re-ranks its tags meanwhile, or clears the library halfway: every change goes through one lock,
so none is lost to another (with gr.State, two uploads of one session would each write back
their own copy). Sessions are forgotten when their page closes, and the least recently used
beyond `capacity` too, so memory stays bounded.
"""

from __future__ import annotations

import collections
import dataclasses
import threading

from demo.library import Entry


@dataclasses.dataclass(frozen=True)
class Session:
  """A snapshot of one session's library: its photos, the selected one, and how many times it
  was cleared (an upload under way stops adding once the library it started on is gone)."""
  entries: tuple[Entry, ...] = ()
  selected: int | None = None
  generation: int = 0


class Sessions:
  """The libraries of all sessions, by Gradio's session hash."""

  def __init__(self, capacity: int = 64):
    self.capacity = capacity
    self._lock = threading.Lock()
    self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()

  def _put(self, key: str, session: Session) -> Session:
    self._sessions[key] = session
    self._sessions.move_to_end(key)
    while len(self._sessions) > self.capacity:
      self._sessions.popitem(last=False)
    return session

  def get(self, key: str) -> Session:
    with self._lock:
      return self._sessions.get(key, Session())

  def append(self, key: str, entry: Entry, generation: int, select: bool = False
             ) -> Session | None:
    """Adds an answered photo, selected if `select` or if nothing is; None if the library was
    cleared since `generation` (the photo is then not added)."""
    with self._lock:
      session = self._sessions.get(key, Session())
      if session.generation != generation:
        return None
      selected = (len(session.entries) if select or session.selected is None
                  else session.selected)
      return self._put(key, Session(session.entries + (entry,), selected, generation))

  def select(self, key: str, index: int) -> Session | None:
    """Selects photo `index`; None if the library has no such photo."""
    with self._lock:
      session = self._sessions.get(key, Session())
      if not 0 <= index < len(session.entries):
        return None
      return self._put(key, dataclasses.replace(session, selected=index))

  def replace(self, key: str, index: int, entry: Entry) -> Session:
    """Puts a changed entry (tags re-ranked) in place of photo `index` (if the library still
    has it: "Clear all" may have come first)."""
    with self._lock:
      session = self._sessions.get(key, Session())
      if not 0 <= index < len(session.entries):
        return session
      entries = list(session.entries)
      entries[index] = entry
      return self._put(key, dataclasses.replace(session, entries=tuple(entries)))

  def clear(self, key: str) -> Session:
    with self._lock:
      session = self._sessions.get(key, Session())
      return self._put(key, Session(generation=session.generation + 1))

  def drop(self, key: str) -> None:
    """The page was closed: its photos' answers and thumbnails are forgotten."""
    with self._lock:
      self._sessions.pop(key, None)
