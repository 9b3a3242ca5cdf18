r"""The jaxgeo web demo: where was this photo taken, which tags fit it there, which landmark is it.

  python demo/app.py --workdir runs/quickstart            # http://127.0.0.1:7860, this machine only
  python demo/app.py --workdir runs/quickstart --coarse   # coarse regions for every photo
  python demo/app.py --workdir runs/quickstart --share    # public link (opt-in): coarse for all

Works offline: the maps are drawn on the server from a land mask shipped in a pip package
(demo/world_map.py), place names come from an offline gazetteer, and Gradio's analytics are off.
Uploads are read into memory and their files deleted at once (demo/uploads.py); pictures derived
from them are inlined into the page, never written to disk. Photos with faces, and every photo
behind a share link, get only a coarse region (demo/privacy.py).
"""

from __future__ import annotations

import os

# Before Gradio is imported: no analytics calls to the network, and a private cache folder for
# uploads, removed when the app exits.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import argparse
import atexit
import dataclasses
import functools
import hashlib
import html
import io
import pathlib
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable

_CACHE = tempfile.mkdtemp(prefix="jaxgeo-demo-")
os.environ["GRADIO_TEMP_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

REPO = pathlib.Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

import gradio as gr
from absl import logging
from PIL import Image

from demo import privacy, report, search, uploads, world_map
from jaxgeo.data.raw.images import BadImage
from jaxgeo.predict import photos, predictor as predictor_lib

EXAMPLES = REPO / "demo" / "examples"
_EXAMPLE_DIGESTS = frozenset(hashlib.sha256(p.read_bytes()).digest()
                             for p in EXAMPLES.glob("*.jpg"))
MAX_FILE_SIZE = "25mb"
RESPONSIBLE_USE = """\
**Responsible use.** Photo geolocation can be misused to find people; the GeoEstimation authors
switched off uploads in their public demo for that reason. This demo: processes uploads in memory
and never stores them (the uploaded file is deleted as soon as it is read; maps and thumbnails are
inlined into this page, not saved); listens only on this machine unless started with `--host`;
shows only a coarse region (a 10-degree cell and the country; no coordinates, tags or landmark)
when a photo contains a face, or for every photo when it runs with a public share link
(`--share`) or `--coarse`. Do not use it to locate people who have not agreed to it.
"""
CSS = """
.jaxgeo-result { border-top: 1px solid #ccc; padding-top: .5em; margin-bottom: 1.5em; }
.jaxgeo-pictures { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.jaxgeo-photo { max-width: 224px; }
.jaxgeo-pictures figure { margin: 0; max-width: 140px; }
.jaxgeo-map { max-width: 100%; border: 1px solid #ccc; }
.jaxgeo-notice { background: #fff4d6; border-left: 4px solid #e0a800; padding: 4px 8px;
                 margin: 4px 0; }
.jaxgeo-warning { background: #fde2e1; border-left: 4px solid #b00020; padding: 4px 8px;
                  margin: 4px 0; font-weight: bold; }
.jaxgeo-error { background: #fde2e1; border-left: 4px solid #d62728; padding: 4px 8px;
                margin: 4px 0; }
.jaxgeo-result table { border-collapse: collapse; margin: 4px 0; }
.jaxgeo-result td, .jaxgeo-result th { padding: 1px 8px; border-bottom: 1px solid #eee; }
"""


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
  args = parser.parse_args(argv)
  return Settings(workdir=args.workdir, host=args.host, port=args.port, share=args.share,
                  coarse=args.coarse or args.share, concurrency=max(1, args.concurrency),
                  five_crop=args.five_crop, locsens=args.locsens)


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


class Demo:
  """The loaded model and the handlers of the UI's events."""

  def __init__(self, settings: Settings, predictor: predictor_lib.Predictor,
               searcher: search.PhotoSearch | None, search_note: str = ""):
    self.settings = settings
    self.predictor = predictor
    self.searcher = searcher
    self.search_note = search_note

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

  def locate(self, files, where, five_crop):
    """Predicts every uploaded photo; bad ones get a message and the others still run."""
    paths = _upload_paths(files)
    if not paths:
      return report.error_html("Upload one or more photos first (or click an example)."), [], []
    location, location_note = parse_location(where)
    parts = [report.error_html(location_note)] if location_note else []
    if len(paths) > uploads.MAX_FILES:
      parts.append(report.error_html(f"{len(paths)} photos uploaded; the first "
                                     f"{uploads.MAX_FILES} are shown."))
    # Every upload is read (and its file deleted) first, so none stays on disk whatever happens
    # to the photos before it. The results hold one entry per upload, in upload order.
    taken = []
    for k, (path, name) in enumerate(paths):
      try:
        data = _read(path, name)
      except uploads.UploadError as e:
        data = e
      if k >= uploads.MAX_FILES:
        data = uploads.UploadError(f"{name}: not processed: at most {uploads.MAX_FILES} photos "
                                   "at a time. Upload it again with fewer photos.")
      taken.append((name, data))
    results, kept = [], []
    for name, data in taken:
      try:
        if isinstance(data, uploads.UploadError):
          raise data
        image = uploads.decode_photo(data, name)
        decision = privacy.decide(privacy.count_faces(image), share=self.settings.share,
                                  coarse=self.settings.coarse)
        prediction = self.predictor.predict(image, name=name, location=location,
                                            coarse=decision.coarse, five_crop=bool(five_crop))
      except (uploads.UploadError, BadImage) as e:
        message = str(e)
      except Exception as e:  # pylint: disable=broad-except  (one photo never stops the others)
        # The details (which may name server paths) go to the server's log only.
        logging.exception("Predicting %s failed", name)
        message = (f"{name}: could not be processed ({type(e).__name__}; the details are in the "
                   "server's log).")
      else:
        parts.append(report.prediction_html(name, prediction, decision, image,
                                            self._index_photos(prediction),
                                            self._gallery_photos(prediction)))
        results.append(report.summary(name, prediction, decision))
        kept.append((name, prediction, decision, report.thumbnail(image)))
        continue
      parts.append(report.error_html(message))
      results.append({"name": name, "error": message})
    return "\n".join(parts), results, kept

  def rerank(self, kept, where):
    """The same photos with their tags ranked for a typed place (LocSens), without re-running
    the CNN."""
    location, note = parse_location(where)
    if not kept:
      return report.error_html("Locate some photos first."), []
    if location is None:
      return report.error_html(note or "Type your location (lat, lon) first."), [
          report.summary(n, p, d) for n, p, d, _ in kept]
    parts, results = [], []
    if self.predictor.tag_ranker is None:
      parts.append(report.error_html(
          "This run has no LocSens model, so tags come from the tag head and do not depend on "
          "the location."))
    for name, prediction, decision, thumb in kept:
      tags = self.predictor.tags_at(prediction, location)
      reranked = dataclasses.replace(
          prediction, tags=tags,
          tag_source="locsens" if self.predictor.tag_ranker is not None else prediction.tag_source,
          tag_location=location if self.predictor.tag_ranker is not None else None)
      parts.append(report.prediction_html(name, reranked, decision, thumb,
                                          self._index_photos(reranked),
                                          self._gallery_photos(reranked)))
      results.append(report.summary(name, reranked, decision))
    return "\n".join(parts), results

  # -- the search tab

  def search_map(self, location: tuple[float, float] | None, hits=()) -> Image.Image:
    markers = [world_map.Marker(h.latitude, h.longitude, "result") for h in hits]
    if location is not None:
      markers.append(world_map.Marker(*location, "query", "here"))
    return world_map.render_map(markers, width=search.MAP_WIDTH).image

  def pick(self, evt: gr.SelectData):
    """A click on the search map: its coordinates into the place field, and a marker there."""
    x, y = evt.index
    lat, lon = world_map.pixel_to_latlon(x, y, world_map.WORLD,
                                         (search.MAP_WIDTH, search.MAP_WIDTH // 2))
    lat, lon = round(lat, 2), round(lon, 2)
    return f"{lat}, {lon}", self.search_map((lat, lon))

  def search(self, tag, where, radius_km):
    location, note = parse_location(where)
    if self.searcher is None:
      return self.search_note, [], self.search_map(location)
    if location is None:
      return note or "Pick a place on the map or type its coordinates.", [], self.search_map(None)
    if not (tag or "").strip():
      return "Type a tag to search for, e.g. `beach` or `snow`.", [], self.search_map(location)
    try:
      hits = self.searcher.search(tag.strip(), location, radius_km=radius_km)
    except KeyError as e:
      return str(e.args[0]) if e.args else str(e), [], self.search_map(location)
    gallery = [(h.image, h.caption) for h in hits]
    message = (f"{len(hits)} indexed photos for **{tag.strip()}** within {radius_km:,.0f} km of "
               f"({location[0]:.2f}, {location[1]:.2f}), best first." if hits
               else f"No indexed photo within {radius_km:,.0f} km of that place.")
    return message, gallery, self.search_map(location, hits)


def build_app(demo: Demo) -> gr.Blocks:
  settings, predictor = demo.settings, demo.predictor
  mode = ("coarse regions for every photo (public share link)" if settings.share else
          "coarse regions for every photo (--coarse)" if settings.coarse else
          "fine answers, coarse for photos with faces")
  # Gradio's own sweep of its cache (leftovers of interrupted uploads), on top of the deletion
  # of each upload once read.
  with gr.Blocks(title="jaxgeo demo", delete_cache=(600, 600)) as app:
    gr.Markdown(f"# jaxgeo: where was this photo taken?\nModel: `{settings.workdir}` "
                f"(step {predictor.step}; {', '.join(predictor.partition_names) or 'no geo'}"
                f"{'; tags' if predictor.has_tags else ''}"
                f"{'; landmarks' if predictor.has_landmarks else ''}). Mode: {mode}. "
                "Everything runs on this machine, offline.")
    if predictor.card is not None:  # what the model knows (jaxgeo.predict.model_card)
      gr.Markdown(f"**What this model knows.** {predictor.card.describe()}",
                  elem_id="model-card")
      if predictor.card.warning:
        gr.HTML(f'<div class="jaxgeo-warning">{html.escape(predictor.card.warning)}</div>',
                elem_id="model-warning")
    with gr.Tab("Locate photos"):
      with gr.Row():
        with gr.Column(scale=1):
          files = gr.File(
              label=f"Photos: drag and drop one or several ({uploads.accepted_formats()})",
              file_count="multiple", file_types=list(photos.PHOTO_EXTENSIONS), elem_id="photos")
          files.preprocess = _upload_paths_only
          where = gr.Textbox(label="Your location (optional): lat, lon",
                             placeholder="48.86, 2.35", elem_id="where")
          five_crop = gr.Checkbox(value=settings.five_crop, label="Vote over five crops (slower)")
          with gr.Row():
            locate = gr.Button("Locate", variant="primary", elem_id="locate")
            rerank = gr.Button("Re-rank tags for my location", elem_id="rerank")
          gr.Markdown("The location you type re-ranks the tags (LocSens); without one, tags are "
                      "ranked for the photo's GPS position or the predicted place.")
        with gr.Column(scale=2):
          results_html = gr.HTML(elem_id="results")
      with gr.Accordion("Results as JSON", open=False):
        results_json = gr.JSON(label="results")
      kept = gr.State([])
      examples = sorted(str(p) for p in EXAMPLES.glob("*.jpg"))
      gr.Examples([[[p]] for p in examples], inputs=[files], label="Toy-world examples (click one)",
                  example_labels=[pathlib.Path(p).stem.replace("_", " ") for p in examples],
                  fn=lambda f: demo.locate(f, "", False), outputs=[results_html, results_json, kept],
                  run_on_click=True, cache_examples=False)
      locate.click(demo.locate, [files, where, five_crop], [results_html, results_json, kept],
                   api_name="locate")
      rerank.click(demo.rerank, [kept, where], [results_html, results_json], api_name="rerank")
    with gr.Tab("Search indexed photos"):
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
        with gr.Column(scale=2):
          world = gr.Image(value=demo.search_map(None), label="Click to pick a place",
                           interactive=False, type="pil", elem_id="search-map",
                           buttons=["fullscreen"])
      gallery = gr.Gallery(label="Photos found", columns=6, height="auto")
      world.select(demo.pick, None, [s_where, world])
      go.click(demo.search, [tag, s_where, radius], [message, gallery, world],
               api_name="search")
    with gr.Tab("About and responsible use"):
      gr.Markdown(RESPONSIBLE_USE)
    gr.Markdown(RESPONSIBLE_USE, elem_id="responsible-use")
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
  # The land mask (~2 s) loads while the checkpoint is restored, before the first user waits.
  mask = threading.Thread(target=world_map.land_share, daemon=True)
  mask.start()
  predictor = predictor_lib.Predictor.from_workdir(settings.workdir, five_crop=settings.five_crop,
                                               locsens=settings.locsens or None)
  mask.join()
  demo = Demo(settings, predictor, *search.load_search(settings.locsens or settings.workdir,
                                                       scorer=predictor.tag_ranker))
  app = build_app(demo)
  app.queue(default_concurrency_limit=settings.concurrency, max_size=64)
  if settings.share:
    print("jaxgeo demo: --share opens a PUBLIC link; every photo gets only a coarse region.",
          flush=True)
  try:
    app.launch(server_name=settings.host, server_port=settings.port, share=settings.share,
               max_file_size=MAX_FILE_SIZE, ssr_mode=False, show_error=True, css=CSS,
               allowed_paths=[str(EXAMPLES)])
  finally:
    # At once, not only at exit: the interpreter may wait on Gradio's threads a long while
    # after Ctrl-C before atexit runs.
    shutil.rmtree(_CACHE, ignore_errors=True)


if __name__ == "__main__":
  main()
