r"""The jaxgeo demo: a photo library, an offline map and an inspector, in the browser.

  python demo/app.py --workdir runs/quickstart            # http://127.0.0.1:7860, this machine only
  python demo/app.py --workdir runs/quickstart --coarse   # coarse regions for every photo
  python demo/app.py --workdir runs/quickstart --share    # public link (opt-in): coarse for all
  python demo/app.py --workdir runs/quickstart --results out/predictions.csv  # more to explore

Add photos (or a folder) to the library on the left: each gets its answer as it is read. The
map in the centre pins every photo and draws the selected one's heat map, alternatives and true
place; the inspector on the right says what the model knows of it. Arrow keys move through the
library, Enter or Space shows the selected photo on the map. The library exports as CSV, GeoJSON
or a zip of XMP sidecars. The Explore tab puts a whole evaluation (or a batch CLI run) on the
map, filtered and measured (demo/explore.py); it is not offered behind a public share link.

Works offline: the map is drawn in the browser from outlines the app serves itself
(demo/basemap.py), place names come from an offline gazetteer, and Gradio's analytics are off.
Uploads are read into memory and their files deleted at once (demo/uploads.py); pictures and
exports derived from them are inlined into the page, never written to disk. Photos with faces,
and every photo behind a share link, get only a coarse region (demo/privacy.py).
"""

from __future__ import annotations

import os

# Before Gradio is imported: no analytics calls to the network, and a private cache folder for
# uploads, removed when the app exits.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import argparse
import atexit
import base64
import contextlib
import dataclasses
import functools
import hashlib
import html
import io
import json
import pathlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

_CACHE = tempfile.mkdtemp(prefix="jaxgeo-demo-")
os.environ["GRADIO_TEMP_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

REPO = pathlib.Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

import gradio as gr
from absl import logging
from PIL import Image

from demo import basemap, explore, library as library_lib, map_view, privacy, report, search
from demo import results as results_lib, sessions as sessions_lib, uploads
from demo.sessions import Session
from jaxgeo.data.raw.images import BadImage
from jaxgeo.predict import photos, predictor as predictor_lib
from jaxgeo.run import restore

EXAMPLES = REPO / "demo" / "examples"
STATIC = REPO / "demo" / "static"
_EXAMPLE_DIGESTS = frozenset(hashlib.sha256(p.read_bytes()).digest()
                             for p in EXAMPLES.glob("*.jpg"))
MAX_FILE_SIZE = "25mb"
MAX_LIBRARY = 2000  # photos in one session's library
STREAM_EVERY_S = 0.5  # the library and map refresh this often while photos are added
RESPONSIBLE_USE = """\
**Responsible use.** Photo geolocation can be misused to find people; the GeoEstimation authors
switched off uploads in their public demo for that reason. This demo: processes uploads in memory
and never stores them (the uploaded file is deleted as soon as it is read; thumbnails and exports
are inlined into this page, not saved); listens only on this machine unless started with `--host`;
shows only a coarse region (a 10-degree cell and the country; no coordinates, tags or landmark)
when a photo contains a face, or for every photo when it runs with a public share link
(`--share`) or `--coarse`. Do not use it to locate people who have not agreed to it.
"""
RESPONSIBLE_USE_LINE = ("Uploads are processed in memory and never stored; photos with faces get "
                        "only a coarse region. Do not use this to locate people who have not "
                        "agreed to it (see About).")


@dataclasses.dataclass(frozen=True)
class Settings:
  """The command line, resolved: `coarse` is forced on by `share`."""
  workdir: str
  host: str = "127.0.0.1"
  port: int = 7860
  share: bool = False
  coarse: bool = False
  concurrency: int = 1
  five_crop: bool = False
  locsens: str = ""
  results: tuple[str, ...] = ()


def parse_args(argv: list[str] | None = None) -> Settings:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--workdir", required=True, help="a jaxgeo training workdir")
  parser.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default: this machine only)")
  parser.add_argument("--port", type=int, default=7860)
  parser.add_argument("--share", action="store_true",
                      help="also open a public Gradio share link; every photo then gets only a "
                           "coarse region")
  parser.add_argument("--coarse", action="store_true",
                      help="coarse regions only, for every photo")
  parser.add_argument("--concurrency", type=int, default=1,
                      help="photos predicted at once; other users wait in the queue")
  parser.add_argument("--five_crop", action="store_true", help="vote over five crops per photo")
  parser.add_argument("--locsens", default="",
                      help="the LocSens (stage 2) workdir for the search tab, if not --workdir")
  parser.add_argument("--results", action="append", default=[],
                      help="a per-image results CSV (a batch CLI's predictions.csv, an "
                           "evaluation's) to offer in the Explore tab besides the run's own "
                           "evaluations; the photos its rows name are opened; repeatable")
  args = parser.parse_args(argv)
  return Settings(workdir=args.workdir, host=args.host, port=args.port, share=args.share,
                  coarse=args.coarse or args.share, concurrency=max(1, args.concurrency),
                  five_crop=args.five_crop, locsens=args.locsens, results=tuple(args.results))


def _upload_paths_only(payload) -> list[str] | None:
  """The uploads' paths: what gr.File.preprocess hands a handler, without its side effect.

  gr.File.preprocess (Gradio 6.31) leaves an empty temporary file in the cache for every file of
  every request. It is replaced on the one component instance (a gr.File subclass would make
  Gradio write a `.pyi` stub next to this file).
  """
  if payload is None:
    return None
  files = payload.root if isinstance(payload, gr.data_classes.ListFiles) else [payload]
  return [f.path for f in files]


def _upload_paths(files) -> list[tuple[str, str]]:
  """(path, shown name) of each upload; Gradio hands paths, or objects with a .name path."""
  out = []
  for f in files or []:
    path = f if isinstance(f, str) else getattr(f, "name", None) or f["path"]
    out.append((path, os.path.basename(path)))
  return out


_UPLOADS = uploads.UploadTaker()


def _read(path: str, name: str) -> bytes:
  """The bytes of an upload. Uploads (files in our Gradio cache) are deleted once read, except
  Gradio's copies of the example photos, which the next click on an example needs.

  Raises:
    uploads.UploadError: with a message for the user (no server path).
  """
  if os.path.realpath(path).startswith(os.path.realpath(_CACHE) + os.sep):
    return _UPLOADS.take(path, name, keep=lambda data: hashlib.sha256(data).digest()
                         in _EXAMPLE_DIGESTS)
  try:
    with open(path, "rb") as f:  # an example photo of the repository
      return f.read()
  except OSError:
    logging.exception("Reading %s failed", path)
    raise uploads.UploadError(f"{name}: could not be read.") from None


def _discard(path: str) -> None:
  """Deletes an upload that was never read (the handler stopped early); not example photos."""
  if (os.path.realpath(path).startswith(os.path.realpath(_CACHE) + os.sep)
      and os.path.exists(path)):
    with contextlib.suppress(OSError, uploads.UploadError):
      _read(path, os.path.basename(path))


def parse_location(text: str | None) -> tuple[tuple[float, float] | None, str]:
  """A typed "lat, lon" (decimal degrees), or None and a message saying what is wrong."""
  text = (text or "").strip()
  if not text:
    return None, ""
  parts = text.replace(",", " ").split()
  try:
    lat, lon = (float(v) for v in parts)
  except ValueError:
    return None, (f"'{text}' is not a place: type latitude and longitude in decimal degrees, "
                  "e.g. 48.86, 2.35.")
  if not (-90 <= lat <= 90 and -180 <= lon <= 180):
    return None, f"'{text}' is not a place on Earth: latitude -90..90, longitude -180..180."
  return (lat, lon), ""


def _data_link(data: bytes, mime: str, filename: str, text: str, elem_class: str) -> str:
  uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
  return (f'<a class="jg-export {elem_class}" download="{filename}" href="{uri}">'
          f"{html.escape(text)}</a>")


class Demo:
  """The loaded model and the handlers of the UI's events."""

  def __init__(self, settings: Settings, predictor: predictor_lib.Predictor,
               searcher: search.PhotoSearch | None, search_note: str = ""):
    self.settings = settings
    self.predictor = predictor
    self.searcher = searcher
    self.search_note = search_note
    self.sessions = sessions_lib.Sessions()
    # Where the run's built data sets are: the Explore tab reads its test photos there.
    self.data_dir = restore.data_dir_of(restore.load_config(settings.workdir), settings.workdir)
    self.explorable = self._explorable() if not settings.share else {}

  def _explorable(self) -> dict[str, tuple[str, explore.PhotoFinder]]:
    """The Explore tab's files by label: the run's evaluations, then the --results files."""
    found = {e.label: (e.path, explore.PhotoFinder(self.data_dir, e.dataset))
             for e in results_lib.run_evaluations(self.settings.workdir)}
    for path in self.settings.results:
      label = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))),
                           os.path.basename(path))
      found[label] = (path, explore.PhotoFinder(self.data_dir, trust_paths=True))
    return found

  # -- one photo

  def answer(self, name: str, data: bytes | uploads.UploadError, five_crop: bool,
             location: tuple[float, float] | None = None) -> library_lib.Entry:
    """One upload's library entry: its answer, or the message saying why it has none."""
    try:
      if isinstance(data, uploads.UploadError):
        raise data
      image = uploads.decode_photo(data, name)
      decision = privacy.decide(privacy.count_faces(image), share=self.settings.share,
                                coarse=self.settings.coarse)
      prediction = self.predictor.predict(image, name=name, location=location,
                                          coarse=decision.coarse, five_crop=bool(five_crop),
                                          heat=True)
    except (uploads.UploadError, BadImage) as e:
      return library_lib.Entry(name=name, error=str(e))
    except Exception as e:  # pylint: disable=broad-except  (one photo never stops the others)
      # The details (which may name server paths) go to the server's log only.
      logging.exception("Predicting %s failed", name)
      return library_lib.Entry(name=name, error=(
          f"{name}: could not be processed ({type(e).__name__}; the details are in the "
          "server's log)."))
    return library_lib.entry_of(name, image, prediction, decision)

  @staticmethod
  def _photos(found: list[tuple[str, float, Callable[[], bytes]]]
              ) -> list[tuple[str, Image.Image]]:
    """(caption, image) of each (id, similarity, read its JPEG); unreadable ones left out."""
    out = []
    for photo_id, similarity, read in found:
      try:
        out.append((f"{photo_id} ({similarity:.2f})",
                    Image.open(io.BytesIO(read())).convert("RGB")))
      except (OSError, KeyError, ValueError, IndexError):
        continue
    return out

  def _index_photos(self, prediction) -> list[tuple[str, Image.Image]]:
    """The nearest landmark-index photos."""
    if not prediction.neighbours or not self.predictor.has_index:
      return []
    index = self.predictor.landmark_index
    return self._photos([(m.image_id, m.similarity, functools.partial(index.photo, m.image_id))
                         for m in prediction.neighbours])

  def _gallery_photos(self, prediction) -> list[tuple[str, Image.Image]]:
    """The gallery photos that decided a hybrid answer."""
    if not prediction.gallery_matches or not self.predictor.has_gallery:
      return []
    gallery = self.predictor.gallery
    return self._photos([(m.photo_id, m.similarity, functools.partial(gallery.photo, m.record))
                         for m in prediction.gallery_matches])

  def inspector(self, session: Session) -> str:
    """The inspector: everything about the selected photo."""
    if session.selected is None or not session.entries:
      return ('<p class="jg-hint">Add photos with the buttons on the left (or the toy-world '
              "examples), then pick one in the list or on the map.</p>")
    entry = session.entries[session.selected]
    if entry.error:
      return report.error_html(entry.error)
    return report.prediction_html(entry.name, entry.prediction, entry.decision, entry.preview,
                                  self._index_photos(entry.prediction),
                                  self._gallery_photos(entry.prediction))

  # -- the library's views

  def exports(self, session: Session) -> str:
    """Download links for the library: CSV, GeoJSON, XMP sidecars (built in memory)."""
    answered = [e for e in session.entries if e.prediction is not None]
    if not answered:
      return ""
    names = self.predictor.partition_names
    sidecars, refused = library_lib.export_xmp_zip(answered)
    links = [_data_link(library_lib.export_csv(answered, names), "text/csv",
                        "jaxgeo-predictions.csv", "CSV", "jg-export-csv"),
             _data_link(library_lib.export_geojson(answered), "application/geo+json",
                        "jaxgeo-predictions.geojson", "GeoJSON", "jg-export-geojson")]
    written = len(answered) - sum(refused.values())
    if written:
      links.append(_data_link(sidecars, "application/zip", "jaxgeo-xmp-sidecars.zip",
                              f"XMP sidecars ({written})", "jg-export-xmp"))
    why = {"coarse": "coarse answer", "has_gps": "has GPS",
           "faces": "faces", "no_face_check": "no face check", "no_place": "no place",
           "duplicate_name": "same file name twice"}
    note = ("; no sidecar for " + ", ".join(f"{n} ({why.get(r, r)})" for r, n in refused.items())
            if refused else "")
    return (f'<div class="jg-exports"><b>Export {report.counted(len(answered), "answer")}:</b> '
            + " · ".join(links) + f'<small class="jg-export-note">{html.escape(note)}</small>'
            "<small> Sidecars (photo.jpg.xmp) put the predicted position on your photos in "
            "digiKam, darktable or Lightroom; the photos are never changed.</small></div>")

  @staticmethod
  def status(session: Session, skipped: int = 0, full: int = 0) -> str:
    """How many photos the library holds, and what an upload left out."""
    errors = sum(1 for e in session.entries if e.error)
    text = report.counted(len(session.entries), "photo") + (
        f", {errors:,} not readable" if errors else "")
    if skipped:
      text += (f"; {report.counted(skipped, 'file')} "
               + ("is not a photo and was" if skipped == 1 else "are not photos and were")
               + " left out")
    if full:
      text += (f"; {full:,} not added: the library holds at most "
               + report.counted(MAX_LIBRARY, "photo"))
    return text

  def views(self, session: Session, move: str | None = None, skipped: int = 0, full: int = 0,
            exports: bool = True):
    """Every view of a session: library list, map, inspector, exports (unless not `exports`:
    left as they are while an upload is still under way), status, JSON."""
    return (library_lib.items_html(session.entries),
            map_view.payload(session.entries, session.selected, move=move),
            self.inspector(session), self.exports(session) if exports else gr.skip(),
            self.status(session, skipped=skipped, full=full),
            [e.error and {"name": e.name, "error": e.error}
             or report.summary(e.name, e.prediction, e.decision) for e in session.entries])

  # -- events

  def add(self, files, five_crop: bool, request: gr.Request) -> Iterator[tuple]:
    """Adds uploads to the session's library, answering each as it is read; the views refresh
    as answers come in (the first at once). Every upload's file is deleted, whatever happens."""
    key = request.session_hash
    session = self.sessions.get(key)
    paths = _upload_paths(files)
    # A folder's files that are not photos (sidecars, notes) are counted, not answered; a single
    # file is always answered (and refused with a reason if it is no photo).
    photo_paths = [(p, n) for p, n in paths
                   if len(paths) == 1 or n.lower().endswith(photos.PHOTO_EXTENSIONS)]
    skipped = len(paths) - len(photo_paths)
    room = max(0, MAX_LIBRARY - len(session.entries))
    full = max(0, len(photo_paths) - room)
    last_yield = 0.0
    try:
      for k, (path, name) in enumerate(photo_paths[:room]):
        try:
          data = _read(path, name)
        except uploads.UploadError as e:
          data = e
        # The first photo of an upload is selected: the one the user just dropped.
        added = self.sessions.append(key, self.answer(name, data, five_crop), session.generation,
                                     select=k == 0)
        if added is None:  # "Clear all" meanwhile: the rest of this upload is dropped
          break
        session = added
        if k == 0 or time.monotonic() - last_yield >= STREAM_EVERY_S:
          yield self.views(session, move="all" if k == 0 else None, skipped=skipped, full=full,
                           exports=False)
          last_yield = time.monotonic()
    finally:
      for path, _ in paths:  # every upload's file, also those never read (a full library, an
        _discard(path)  # error, a closed page)
    yield self.views(self.sessions.get(key), move="all", skipped=skipped, full=full)

  def add_examples(self, five_crop: bool, request: gr.Request) -> Iterator[tuple]:
    yield from self.add(sorted(str(p) for p in EXAMPLES.glob("*.jpg")), five_crop, request)

  def select(self, evt: gr.EventData, request: gr.Request):
    """A photo picked in the list or on the map: the map's focus and the inspector follow."""
    session = self.sessions.select(request.session_hash, _event_index(evt))
    if session is None:
      return gr.skip(), gr.skip()
    return map_view.payload(session.entries, session.selected), self.inspector(session)

  def locate(self, evt: gr.EventData, request: gr.Request):
    """Enter or Space in the list: the map moves onto the selected photo's answer."""
    session = self.sessions.select(request.session_hash, _event_index(evt))
    if session is None:
      return gr.skip()
    return map_view.payload(session.entries, session.selected, move="selected")

  def clear(self, request: gr.Request):
    return self.views(self.sessions.clear(request.session_hash), move="all")

  def forget(self, request: gr.Request) -> None:
    """The page was closed."""
    self.sessions.drop(request.session_hash)

  def rerank(self, where: str, request: gr.Request):
    """The selected photo's tags ranked for a typed place (LocSens), without re-running the CNN."""
    key = request.session_hash
    session = self.sessions.get(key)
    location, note = parse_location(where)
    if session.selected is None:
      return report.error_html("Select a photo first."), gr.skip()
    entry = session.entries[session.selected]
    if entry.prediction is None:
      return self.inspector(session), gr.skip()
    if location is None:
      return (report.error_html(note or "Type a place (lat, lon) first.")
              + self.inspector(session)), gr.skip()
    prediction = entry.prediction
    parts = []
    if self.predictor.tag_ranker is None:
      parts.append(report.error_html(
          "This run has no LocSens model, so tags come from the tag head and do not depend on "
          "the location."))
    elif not entry.decision.coarse:
      prediction = dataclasses.replace(
          prediction, tags=self.predictor.tags_at(prediction, location), tag_source="locsens",
          tag_location=location)
    session = self.sessions.replace(key, session.selected,
                                    dataclasses.replace(entry, prediction=prediction))
    return "".join(parts) + self.inspector(session), self.exports(session)

  # -- the explore tab

  def _explore_views(self, opened: explore.Opened | None, message: str = "",
                     move: str | None = "all", inspector: str | None = None):
    """Every view of the Explore tab: state, region choices, confidence filter, map, summary,
    countries, inspector, status."""
    if opened is None:
      return (None, gr.update(choices=[("All photos", "")], value=""),
              gr.update(interactive=False), json.dumps({"pins": []}), "", "",
              inspector or "", message)
    results, mask = opened.results, opened.mask
    note = results.reading_note()
    return (opened,
            gr.update(choices=explore.region_choices(results), value=opened.filters.region),
            gr.update(interactive=results.has_confidence,
                      info=None if results.has_confidence else "this file has no confidence"),
            explore.payload(results, mask, opened.selected, move=move),
            explore.summary_html(results, mask, opened.filters),
            explore.countries_html(results, mask),
            inspector if inspector is not None else (
                "<p class='jg-hint'>Click a point on the map to see its photo and answer.</p>"),
            html.escape(" ".join(m for m in (message, note) if m)))

  def open_results(self, label: str):
    """A run's evaluation (or a --results file) chosen in the Explore tab: its views, then the
    dropdown of sources with its usual hint (an opened upload's name may have replaced it)."""
    source = gr.update(info=EXPLORE_SOURCE_INFO)
    if label not in self.explorable:
      return (*self._explore_views(None, "Choose an evaluation, or open a results file."),
              source)
    path, finder = self.explorable[label]
    try:
      results = results_lib.read_results(path, label)
    except results_lib.ResultsError as e:
      return (*self._explore_views(None, str(e)), source)
    return (*self._explore_views(explore.Opened(results, finder)), source)

  def open_results_file(self, files):
    """A results CSV uploaded from the browser (its rows' photos are opened only from built
    data sets, never from the paths it names): its views, then the dropdown of sources cleared,
    so that it no longer names the source shown before, and its hint naming the upload."""
    paths = _upload_paths(files)
    if not paths:
      return (*self._explore_views(None, "No file was received."),
              gr.update(value=None, info=EXPLORE_SOURCE_INFO))
    path, name = paths[0]
    try:
      results = results_lib.read_results(_read(path, name), name)
    except (results_lib.ResultsError, uploads.UploadError) as e:
      return (*self._explore_views(None, str(e)), gr.update(value=None, info=EXPLORE_SOURCE_INFO))
    finally:
      for p, _ in paths:
        _discard(p)
    return (*self._explore_views(explore.Opened(results, explore.PhotoFinder(self.data_dir))),
            gr.update(value=None, info=f"showing {name}, opened from this computer"))

  def filter_results(self, opened: explore.Opened | None, error_min, error_max, region,
                     min_confidence):
    """The filters changed: what is shown, its accuracy and its countries follow."""
    if opened is None:
      return self._explore_views(None)
    try:
      filters = explore.Filters(_km(error_min), _km(error_max), region or "",
                                float(min_confidence or 0.0))
    except ValueError:
      return self._explore_views(opened, f"'{error_min}' to '{error_max}': type distances in "
                                 "km, e.g. 25 and 750 (empty: no bound).", move=None)
    opened = dataclasses.replace(opened, filters=filters,
                                 mask=explore.shown(opened.results, filters))
    if opened.selected is not None and not opened.mask[opened.selected]:
      opened.selected = None
    # A selected photo that is still shown keeps its inspector.
    return self._explore_views(opened, move=None,
                               inspector=gr.skip() if opened.selected is not None else None)

  def _explore_answer(self, name: str, data: bytes) -> str:
    entry = self.answer(name, data, five_crop=False)
    if entry.error:
      return report.error_html(entry.error)
    return ("<h4>The model's answer now</h4>"
            + report.prediction_html(entry.name, entry.prediction, entry.decision, entry.preview,
                                     self._index_photos(entry.prediction),
                                     self._gallery_photos(entry.prediction)))

  def select_result(self, opened: explore.Opened | None, evt: gr.EventData):
    """A click on an explored point: its line and truth on the map, its photo and answer."""
    row = _event_index(evt)
    if opened is None or not 0 <= row < len(opened.results):
      return gr.skip(), gr.skip(), gr.skip()
    opened = dataclasses.replace(opened, selected=row)
    return (opened, explore.payload(opened.results, opened.mask, row),
            explore.inspector_html(opened, row, self._explore_answer))

  # -- the search tab

  def pick(self, evt: gr.EventData):
    """A click on the search map: its coordinates into the place field, and a marker there."""
    data = evt._data or {}  # pylint: disable=protected-access  (the map's own event payload)
    try:
      lat, lon = round(float(data["lat"]), 2), round(float(data["lon"]), 2)
    except (KeyError, TypeError, ValueError):
      return gr.skip(), gr.skip()
    return f"{lat}, {lon}", map_view.search_payload((lat, lon))

  def search(self, tag, where, radius_km):
    location, note = parse_location(where)
    if self.searcher is None:
      return self.search_note, [], map_view.search_payload(location)
    if location is None:
      return (note or "Pick a place on the map or type its coordinates.", [],
              map_view.search_payload(None))
    if not (tag or "").strip():
      return ("Type a tag to search for, e.g. `beach` or `snow`.", [],
              map_view.search_payload(location))
    try:
      hits = self.searcher.search(tag.strip(), location, radius_km=radius_km)
    except KeyError as e:
      return str(e.args[0]) if e.args else str(e), [], map_view.search_payload(location)
    found = [(h.image, h.caption) for h in hits]
    message = (f"{report.counted(len(hits), 'indexed photo')} for **{tag.strip()}** within "
               f"{radius_km:,.0f} km of ({location[0]:.2f}, {location[1]:.2f}), best first." if hits
               else f"No indexed photo within {radius_km:,.0f} km of that place.")
    return message, found, map_view.search_payload(
        location, [(h.latitude, h.longitude) for h in hits])


def _event_index(evt: gr.EventData) -> int:
  """The photo index a list or map event names (-1 if none: no photo has it)."""
  data = getattr(evt, "_data", None) or {}
  try:
    return int(data["index"])
  except (KeyError, TypeError, ValueError):
    return -1


def _km(text) -> float | None:
  """A typed distance bound: None when empty; ValueError when not a number >= 0."""
  text = str(text or "").strip().lower().removesuffix("km").strip()
  if not text:
    return None
  value = float(text.replace(",", ""))
  if not value >= 0:
    raise ValueError(text)
  return value


EXPLORE_SOURCE_INFO = "a run's evaluation, or a file given with --results"


def _explore_tab(demo: Demo) -> None:
  """The Explore tab: a results file's photos on the map, filters, accuracy, the inspector."""
  with gr.Row(elem_id="jg-explore-shell", equal_height=True):
    with gr.Column(scale=2, min_width=230, elem_id="jg-explore-controls"):
      source = gr.Dropdown(choices=list(demo.explorable), value=None, label="Results to explore",
                           info=EXPLORE_SOURCE_INFO, elem_id="explore-source")
      upload = gr.UploadButton("Open a results CSV", file_types=[".csv"], size="sm",
                               elem_id="explore-upload")
      with gr.Row(elem_classes="jg-buttons"):
        error_min = gr.Textbox(label="Error from (km)", placeholder="0", max_lines=1,
                               elem_id="explore-error-min")
        error_max = gr.Textbox(label="to (km)", placeholder="any", max_lines=1,
                               elem_id="explore-error-max")
      region = gr.Dropdown(choices=[("All photos", "")], value="", label="Predicted in",
                           elem_id="explore-region")
      confidence = gr.Slider(0, 1, value=0, step=0.01, label="Confidence at least",
                             interactive=False, elem_id="explore-confidence")
      status = gr.HTML("", elem_id="explore-status")
    with gr.Column(scale=5, min_width=320, elem_id="jg-explore-map-pane"):
      world = map_view.component(elem_id="explore-map")
    with gr.Column(scale=3, min_width=280, elem_id="jg-explore-inspector-pane"):
      summary = gr.HTML("", elem_id="explore-summary")
      with gr.Accordion("Accuracy by country of the true place", open=False):
        countries = gr.HTML("", elem_id="explore-countries")
      inspector = gr.HTML("", elem_id="explore-inspector")
  opened = gr.State(None)
  views = [opened, region, confidence, world, summary, countries, inspector, status]
  upload.preprocess = _upload_paths_only
  # `select`, not `input`: a dropdown's `input` fires twice for one choice, and a second
  # opening that ends after a click on the map would undo its selection.
  # Both openings also set the dropdown of sources: after an upload it must not go on naming
  # the source shown before.
  source.select(demo.open_results, [source], [*views, source], api_name="explore")
  upload.upload(demo.open_results_file, [upload], [*views, source], api_name="explore_file")
  gr.on([error_min.submit, error_max.submit, error_min.blur, error_max.blur, region.select,
         confidence.release], demo.filter_results,
        [opened, error_min, error_max, region, confidence], views, api_name="explore_filter")
  world.select(demo.select_result, [opened], [opened, world, inspector],
               concurrency_limit=None, trigger_mode="always_last", api_visibility="private")


def _css() -> str:
  return (STATIC / "app.css").read_text(encoding="utf-8")


def build_app(demo: Demo) -> gr.Blocks:
  settings, predictor = demo.settings, demo.predictor
  mode = ("coarse regions for every photo (public share link)" if settings.share else
          "coarse regions for every photo (--coarse)" if settings.coarse else
          "fine answers, coarse for photos with faces")
  heads = ", ".join(predictor.partition_names) or "no geo"
  # Gradio's own sweep of its cache (leftovers of interrupted uploads), on top of the deletion
  # of each upload once read.
  with gr.Blocks(title="jaxgeo demo", delete_cache=(600, 600), fill_width=True) as app:
    card = predictor.card.describe() if predictor.card is not None else ""
    # The run's folder name only: the page never shows a server path.
    run_name = os.path.basename(os.path.normpath(settings.workdir))
    gr.HTML(f'<div class="jg-header"><b>jaxgeo</b>: where was this photo taken? '
            f'<small>Model <code>{html.escape(run_name)}</code> (step {predictor.step}; '
            f"{html.escape(heads)}{'; tags' if predictor.has_tags else ''}"
            f"{'; landmarks' if predictor.has_landmarks else ''}). Mode: {mode}. Offline."
            "</small></div>", elem_id="header")
    with gr.Tab("Photos", elem_id="photos-tab"):
      with gr.Row(elem_id="jg-shell", equal_height=True):
        with gr.Column(scale=2, min_width=230, elem_id="jg-library-pane"):
          with gr.Row(elem_classes="jg-buttons"):
            add = gr.UploadButton("Add photos", file_count="multiple", variant="primary",
                                  file_types=list(photos.PHOTO_EXTENSIONS), elem_id="add-photos",
                                  size="sm")
            folder = gr.UploadButton("Add a folder", file_count="directory", elem_id="add-folder",
                                     size="sm")
          with gr.Row(elem_classes="jg-buttons"):
            examples = gr.Button("Toy-world examples", elem_id="add-examples", size="sm")
            clear = gr.Button("Clear all", elem_id="clear", size="sm", variant="stop")
          five_crop = gr.Checkbox(value=settings.five_crop, label="Vote over five crops (slower)",
                                  elem_id="five-crop")
          status = gr.HTML("", elem_id="status")
          library = gr.HTML(
              "", html_template='<ul class="jg-library" role="listbox" tabindex="0" aria-label='
              '"Photos: arrow keys move, Enter shows the photo on the map">${value}</ul>',
              js_on_load=(STATIC / "library.js").read_text(encoding="utf-8"),
              apply_default_css=False, elem_id="library")
        with gr.Column(scale=5, min_width=320, elem_id="jg-map-pane"):
          world = map_view.component(elem_id="map")
        with gr.Column(scale=3, min_width=280, elem_id="jg-inspector-pane"):
          inspector = gr.HTML(demo.inspector(Session()), elem_id="inspector")
          exports = gr.HTML("", elem_id="exports")
          with gr.Accordion("Tags for another place (LocSens)", open=False):
            where = gr.Textbox(label="Place: lat, lon", placeholder="48.86, 2.35",
                               elem_id="where")
            rerank = gr.Button("Re-rank the tags", elem_id="rerank", size="sm")
          if card:  # what the model knows (jaxgeo.predict.model_card)
            with gr.Accordion("The model: what it was trained on, how well it did", open=False):
              gr.Markdown(f"**What this model knows.** {card}", elem_id="model-card")
              if predictor.card.warning:
                gr.HTML(f'<div class="jaxgeo-warning">{html.escape(predictor.card.warning)}'
                        "</div>", elem_id="model-warning")
          with gr.Accordion("Answers as JSON", open=False):
            results = gr.JSON(label="answers", elem_id="answers")
      views = [library, world, inspector, exports, status, results]
      for uploader in (add, folder):
        uploader.preprocess = _upload_paths_only
      # "multiple": a second drop while the first is answered queues up instead of being lost.
      add.upload(demo.add, [add, five_crop], views, api_name="locate", trigger_mode="multiple")
      folder.upload(demo.add, [folder, five_crop], views, api_name="add_folder",
                    trigger_mode="multiple")
      examples.click(demo.add_examples, [five_crop], views, api_name="add_examples",
                     trigger_mode="multiple")
      clear.click(demo.clear, None, views, api_name="clear", concurrency_limit=None)
      for source in (library, world):
        source.select(demo.select, None, [world, inspector], concurrency_limit=None,
                      trigger_mode="always_last", api_visibility="private")
      library.locate(demo.locate, None, [world], concurrency_limit=None, api_visibility="private")
      rerank.click(demo.rerank, [where], [inspector, exports], api_name="rerank")
    if not settings.share:  # a run's files are this machine's, not a public link's
      with gr.Tab("Explore results", elem_id="explore-tab"):
        _explore_tab(demo)
    with gr.Tab("Search indexed photos", elem_id="search-tab"):
      gr.Markdown("Find indexed photos for a tag near a place (LocSens): click the map or type "
                  "coordinates.")
      with gr.Row():
        with gr.Column(scale=1):
          tag = gr.Textbox(label="Tag", placeholder="beach", elem_id="search-tag")
          s_where = gr.Textbox(label="Place: lat, lon (or click the map)",
                               placeholder="48.86, 2.35", elem_id="search-where")
          radius = gr.Slider(50, 5000, value=1000, step=50, label="Within (km)")
          go = gr.Button("Search", variant="primary", elem_id="search")
          message = gr.Markdown()
        with gr.Column(scale=2, elem_id="jg-search-map-pane"):
          search_map = map_view.component(elem_id="search-map")
      gallery = gr.Gallery(label="Photos found", columns=6, height="auto")
      search_map.pick(demo.pick, None, [s_where, search_map], api_visibility="private")
      go.click(demo.search, [tag, s_where, radius], [message, gallery, search_map],
               api_name="search")
    with gr.Tab("About and responsible use", elem_id="about-tab"):
      gr.Markdown(RESPONSIBLE_USE, elem_id="responsible-use-full")
    gr.HTML(f'<div class="jg-footer">{html.escape(RESPONSIBLE_USE_LINE)}</div>',
            elem_id="responsible-use")
    app.unload(demo.forget)
  return app


def _stop(signum: int, frame) -> None:
  """Ctrl-C or `kill`: remove the cache folder (and every upload with it) now, and exit.

  Gradio's graceful shutdown waits for open connections, so a browser tab (or API client) left
  open kept the app alive long after Ctrl-C, with the cache still on disk.
  """
  del frame
  shutil.rmtree(_CACHE, ignore_errors=True)
  print(f"jaxgeo demo: stopped ({signal.Signals(signum).name}).", flush=True)
  sys.stderr.flush()
  os._exit(0)


def main(argv: list[str] | None = None) -> None:
  settings = parse_args(argv)
  signal.signal(signal.SIGINT, _stop)
  signal.signal(signal.SIGTERM, _stop)
  # The map's outlines load while the checkpoint is restored, before the first user waits.
  outlines = threading.Thread(target=lambda: [basemap.load(n, r) for n in ("gshhs", "countries")
                                              for r in basemap.RESOLUTIONS], daemon=True)
  outlines.start()
  predictor = predictor_lib.Predictor.from_workdir(settings.workdir, five_crop=settings.five_crop,
                                               locsens=settings.locsens or None)
  outlines.join()
  demo = Demo(settings, predictor, *search.load_search(settings.locsens or settings.workdir,
                                                       scorer=predictor.tag_ranker))
  app = build_app(demo)
  app.queue(default_concurrency_limit=settings.concurrency, max_size=64)
  if settings.share:
    print("jaxgeo demo: --share opens a PUBLIC link; every photo gets only a coarse region.",
          flush=True)
  try:
    # No show_error: Gradio's own messages (a forged upload path, say) name server paths and
    # the working directory. The app's handlers turn every expected problem into a message of
    # their own, so users lose nothing by it.
    app.launch(server_name=settings.host, server_port=settings.port, share=settings.share,
               max_file_size=MAX_FILE_SIZE, ssr_mode=False, css=_css(),
               footer_links=[])
  finally:
    # At once, not only at exit: the interpreter may wait on Gradio's threads a long while
    # after Ctrl-C before atexit runs.
    shutil.rmtree(_CACHE, ignore_errors=True)


if __name__ == "__main__":
  main()
