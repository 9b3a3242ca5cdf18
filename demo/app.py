r"""The jaxgeo demo: a photo library, an offline map and an inspector, in the browser.

  python -m demo --workdir runs/quickstart            # http://127.0.0.1:7860, this machine only
  python -m demo --workdir runs/quickstart --coarse   # coarse regions for every photo
  python -m demo --workdir runs/quickstart --share    # public link (opt-in): coarse for all
  python -m demo --workdir runs/quickstart --results out/predictions.csv  # more to explore

Add photos (or a folder) to the library on the left: each gets its answer as it is read. The
map in the centre pins every photo and draws the selected one's heat map, alternatives and true
place; the inspector on the right says what the model knows of it. Arrow keys move through the
library, Enter or Space shows the selected photo on the map. The library exports as CSV, GeoJSON
or a zip of XMP sidecars (demo/library_tab.py). The Explore tab puts a whole evaluation (or a
batch CLI run) on the map, filtered and measured (demo/explore_tab.py, demo/explore.py); it is
not offered behind a public share link. The Search tab finds indexed photos for a tag near a
place (demo/search_tab.py). This module reads the command line and puts the tabs together.

Works offline: the map is drawn in the browser from outlines the app serves itself
(demo/basemap.py), place names come from an offline gazetteer, and Gradio's analytics are off
(demo/gradio_env.py). Uploads are read into memory and their files deleted at once
(demo/gradio_uploads.py, demo/uploads.py); pictures and exports derived from them are inlined
into the page, never written to disk. Photos with faces, and every photo behind a share link, get
only a coarse region (demo/privacy.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import os
import pathlib
import shutil
import signal
import sys
import threading

import gradio as gr

from demo import answerer as answerer_lib, basemap, explore_tab, gradio_env, library_tab, search
from demo import search_tab
from jaxgeo.predict import predictor as predictor_lib
from jaxgeo.run import restore

STATIC = pathlib.Path(__file__).resolve().parent / "static"
MAX_FILE_SIZE = "25mb"
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
  parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0],
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


class Demo:
  """The loaded model and the handlers of each tab's events."""

  def __init__(self, settings: Settings, predictor: predictor_lib.Predictor,
               searcher: search.PhotoSearch | None, search_note: str = ""):
    self.settings = settings
    self.predictor = predictor
    answerer = answerer_lib.Answerer(predictor, share=settings.share, coarse=settings.coarse)
    self.library = library_tab.LibraryTab(answerer)
    # Where the run's built data sets are: the Explore tab reads its test photos there.
    data_dir = restore.data_dir_of(restore.load_config(settings.workdir), settings.workdir)
    self.explore = explore_tab.ExploreTab(
        answerer, data_dir, {} if settings.share else explore_tab.explorable(
            settings.workdir, settings.results, data_dir))
    self.search = search_tab.SearchTab(searcher, search_note)


def _css() -> str:
  return (STATIC / "app.css").read_text(encoding="utf-8")


def build_app(demo: Demo) -> gr.Blocks:
  """The page: a header naming the model, the tabs, the responsible-use line."""
  settings, predictor = demo.settings, demo.predictor
  mode = ("coarse regions for every photo (public share link)" if settings.share else
          "coarse regions for every photo (--coarse)" if settings.coarse else
          "fine answers, coarse for photos with faces")
  heads = ", ".join(predictor.partition_names) or "no geo"
  # Gradio's own sweep of its cache (leftovers of interrupted uploads), on top of the deletion
  # of each upload once read.
  with gr.Blocks(title="jaxgeo demo", delete_cache=(600, 600), fill_width=True) as app:
    # The run's folder name only: the page never shows a server path.
    run_name = os.path.basename(os.path.normpath(settings.workdir))
    gr.HTML(f'<div class="jg-header"><b>jaxgeo</b>: where was this photo taken? '
            f'<small>Model <code>{html.escape(run_name)}</code> (step {predictor.step}; '
            f"{html.escape(heads)}{'; tags' if predictor.has_tags else ''}"
            f"{'; landmarks' if predictor.has_landmarks else ''}). Mode: {mode}. Offline."
            "</small></div>", elem_id="header")
    with gr.Tab("Photos", elem_id="photos-tab"):
      library_tab.layout(demo.library, five_crop_default=settings.five_crop)
    if not settings.share:  # a run's files are this machine's, not a public link's
      with gr.Tab("Explore results", elem_id="explore-tab"):
        explore_tab.layout(demo.explore)
    with gr.Tab("Search indexed photos", elem_id="search-tab"):
      search_tab.layout(demo.search)
    with gr.Tab("About and responsible use", elem_id="about-tab"):
      gr.Markdown(RESPONSIBLE_USE, elem_id="responsible-use-full")
    gr.HTML(f'<div class="jg-footer">{html.escape(RESPONSIBLE_USE_LINE)}</div>',
            elem_id="responsible-use")
    app.unload(demo.library.forget)
  return app


def _stop(signum: int, frame) -> None:
  """Ctrl-C or `kill`: remove the cache folder (and every upload with it) now, and exit.

  Gradio's graceful shutdown waits for open connections, so a browser tab (or API client) left
  open kept the app alive long after Ctrl-C, with the cache still on disk.
  """
  del frame
  shutil.rmtree(gradio_env.CACHE, ignore_errors=True)
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
    shutil.rmtree(gradio_env.CACHE, ignore_errors=True)
