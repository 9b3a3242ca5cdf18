"""The Photos tab: a page's library of uploads, the map of their answers and the inspector.

The handlers keep each page's library on the server (sessions.py); `views` renders all of it at
once, so every event returns the same six views (list, map, inspector, exports, status, JSON).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import pathlib
import time
from collections.abc import Iterator

import gradio as gr

from demo import answerer as answerer_lib, gradio_uploads, library as library_lib, map_view
from demo import report, sessions as sessions_lib, ui_inputs, uploads
from demo.sessions import Session
from jaxgeo.predict import photos

MAX_LIBRARY = 2000  # photos in one session's library
STREAM_EVERY_S = 0.5  # the library and map refresh this often while photos are added
_LIBRARY_JS = pathlib.Path(__file__).resolve().parent / "static" / "library.js"


def _data_link(data: bytes, mime: str, filename: str, text: str, elem_class: str) -> str:
  """A download link holding the file itself: exports are inlined, never written to disk."""
  uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
  return (f'<a class="jg-export {elem_class}" download="{filename}" href="{uri}">'
          f"{html.escape(text)}</a>")


class LibraryTab:
  """The Photos tab's handlers: every page's library, answered by `answerer`."""

  def __init__(self, answerer: answerer_lib.Answerer):
    self.answerer = answerer
    self.predictor = answerer.predictor
    self.sessions = sessions_lib.Sessions()

  def inspector(self, session: Session) -> str:
    """The inspector: everything about the selected photo."""
    if session.selected is None or not session.entries:
      return ('<p class="jg-hint">Add photos with the buttons on the left (or the toy-world '
              "examples), then pick one in the list or on the map.</p>")
    return self.answerer.html(session.entries[session.selected])

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
    paths = gradio_uploads.paths(files)
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
          data = gradio_uploads.read(path, name)
        except uploads.UploadError as e:
          data = e
        # The first photo of an upload is selected: the one the user just dropped.
        added = self.sessions.append(key, self.answerer.answer(name, data, five_crop),
                                     session.generation, select=k == 0)
        if added is None:  # "Clear all" meanwhile: the rest of this upload is dropped
          break
        session = added
        if k == 0 or time.monotonic() - last_yield >= STREAM_EVERY_S:
          yield self.views(session, move="all" if k == 0 else None, skipped=skipped, full=full,
                           exports=False)
          last_yield = time.monotonic()
    finally:
      for path, _ in paths:  # every upload's file, also those never read (a full library, an
        gradio_uploads.discard(path)  # error, a closed page)
    yield self.views(self.sessions.get(key), move="all", skipped=skipped, full=full)

  def add_examples(self, five_crop: bool, request: gr.Request) -> Iterator[tuple]:
    yield from self.add(sorted(str(p) for p in gradio_uploads.EXAMPLES.glob("*.jpg")), five_crop,
                        request)

  def select(self, evt: gr.EventData, request: gr.Request):
    """A photo picked in the list or on the map: the map's focus and the inspector follow."""
    session = self.sessions.select(request.session_hash, ui_inputs.event_index(evt))
    if session is None:
      return gr.skip(), gr.skip()
    return map_view.payload(session.entries, session.selected), self.inspector(session)

  def locate(self, evt: gr.EventData, request: gr.Request):
    """Enter or Space in the list: the map moves onto the selected photo's answer."""
    session = self.sessions.select(request.session_hash, ui_inputs.event_index(evt))
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
    location, note = ui_inputs.parse_location(where)
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


def layout(tab: LibraryTab, five_crop_default: bool = False) -> None:
  """The Photos tab's layout and events: library | map | inspector; `five_crop_default` is the
  five-crop checkbox's start value (--five_crop)."""
  predictor = tab.predictor
  card = predictor.card.describe() if predictor.card is not None else ""
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
      five_crop = gr.Checkbox(value=five_crop_default, label="Vote over five crops (slower)",
                              elem_id="five-crop")
      status = gr.HTML("", elem_id="status")
      library = gr.HTML(
          "", html_template='<ul class="jg-library" role="listbox" tabindex="0" aria-label='
          '"Photos: arrow keys move, Enter shows the photo on the map">${value}</ul>',
          js_on_load=_LIBRARY_JS.read_text(encoding="utf-8"),
          apply_default_css=False, elem_id="library")
    with gr.Column(scale=5, min_width=320, elem_id="jg-map-pane"):
      world = map_view.component(elem_id="map")
    with gr.Column(scale=3, min_width=280, elem_id="jg-inspector-pane"):
      inspector = gr.HTML(tab.inspector(Session()), elem_id="inspector")
      exports = gr.HTML("", elem_id="exports")
      with gr.Accordion("Tags for another place (LocSens)", open=False):
        where = gr.Textbox(label="Place: lat, lon", placeholder="48.86, 2.35", elem_id="where")
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
    uploader.preprocess = gradio_uploads.paths_only
  # "multiple": a second drop while the first is answered queues up instead of being lost.
  add.upload(tab.add, [add, five_crop], views, api_name="locate", trigger_mode="multiple")
  folder.upload(tab.add, [folder, five_crop], views, api_name="add_folder",
                trigger_mode="multiple")
  examples.click(tab.add_examples, [five_crop], views, api_name="add_examples",
                 trigger_mode="multiple")
  clear.click(tab.clear, None, views, api_name="clear", concurrency_limit=None)
  for source in (library, world):
    source.select(tab.select, None, [world, inspector], concurrency_limit=None,
                  trigger_mode="always_last", api_visibility="private")
  library.locate(tab.locate, None, [world], concurrency_limit=None, api_visibility="private")
  rerank.click(tab.rerank, [where], [inspector, exports], api_name="rerank")
