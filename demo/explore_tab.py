"""The Explore tab: a results file's photos on the map, filters, accuracy and the inspector.

Its handlers and layout; what they show is computed in explore.py, from the files read by
results.py. The tab is offered only on this machine, never behind a public share link: a run's
files are this machine's.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Sequence

import gradio as gr

from demo import answerer as answerer_lib, explore, gradio_uploads, map_view, report
from demo import results as results_lib, ui_inputs, uploads

SOURCE_INFO = "a run's evaluation, or a file given with --results"


def explorable(workdir: str, results_files: Sequence[str], data_dir: str
               ) -> dict[str, tuple[str, explore.PhotoFinder]]:
  """The tab's files by label: the run's evaluations, then the --results files (whose rows'
  photo paths are trusted: this machine's user named them)."""
  found = {e.label: (e.path, explore.PhotoFinder(data_dir, e.dataset))
           for e in results_lib.run_evaluations(workdir)}
  for path in results_files:
    label = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))),
                         os.path.basename(path))
    found[label] = (path, explore.PhotoFinder(data_dir, trust_paths=True))
  return found


class ExploreTab:
  """The Explore tab's handlers. `data_dir` holds the run's built data sets (their test photos);
  `explorable` is what the dropdown offers (see `explorable`)."""

  def __init__(self, answerer: answerer_lib.Answerer, data_dir: str,
               explorable: dict[str, tuple[str, explore.PhotoFinder]]):
    self.answerer = answerer
    self.data_dir = data_dir
    self.explorable = explorable

  def _views(self, opened: explore.Opened | None, message: str = "",
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
    source = gr.update(info=SOURCE_INFO)
    if label not in self.explorable:
      return (*self._views(None, "Choose an evaluation, or open a results file."),
              source)
    path, finder = self.explorable[label]
    try:
      results = results_lib.read_results(path, label)
    except results_lib.ResultsError as e:
      return (*self._views(None, str(e)), source)
    return (*self._views(explore.Opened(results, finder)), source)

  def open_results_file(self, files):
    """A results CSV uploaded from the browser (its rows' photos are opened only from built
    data sets, never from the paths it names): its views, then the dropdown of sources cleared,
    so that it no longer names the source shown before, and its hint naming the upload."""
    paths = gradio_uploads.paths(files)
    if not paths:
      return (*self._views(None, "No file was received."),
              gr.update(value=None, info=SOURCE_INFO))
    path, name = paths[0]
    try:
      results = results_lib.read_results(gradio_uploads.read(path, name), name)
    except (results_lib.ResultsError, uploads.UploadError) as e:
      return (*self._views(None, str(e)), gr.update(value=None, info=SOURCE_INFO))
    finally:
      for p, _ in paths:
        gradio_uploads.discard(p)
    return (*self._views(explore.Opened(results, explore.PhotoFinder(self.data_dir))),
            gr.update(value=None, info=f"showing {name}, opened from this computer"))

  def filter_results(self, opened: explore.Opened | None, error_min, error_max, region,
                     min_confidence):
    """The filters changed: what is shown, its accuracy and its countries follow."""
    if opened is None:
      return self._views(None)
    try:
      filters = explore.Filters(ui_inputs.parse_km(error_min), ui_inputs.parse_km(error_max),
                                region or "", float(min_confidence or 0.0))
    except ValueError:
      return self._views(opened, f"'{error_min}' to '{error_max}': type distances in km, "
                         "e.g. 25 and 750 (empty: no bound).", move=None)
    opened = dataclasses.replace(opened, filters=filters,
                                 mask=explore.shown(opened.results, filters))
    if opened.selected is not None and not opened.mask[opened.selected]:
      opened.selected = None
    # A selected photo that is still shown keeps its inspector.
    return self._views(opened, move=None,
                       inspector=gr.skip() if opened.selected is not None else None)

  def _answer(self, name: str, data: bytes) -> str:
    """The loaded model's answer to an explored photo, beside the file's own answer."""
    entry = self.answerer.answer(name, data, five_crop=False)
    if entry.error:
      return report.error_html(entry.error)
    return "<h4>The model's answer now</h4>" + self.answerer.html(entry)

  def select_result(self, opened: explore.Opened | None, evt: gr.EventData):
    """A click on an explored point: its line and truth on the map, its photo and answer."""
    row = ui_inputs.event_index(evt)
    if opened is None or not 0 <= row < len(opened.results):
      return gr.skip(), gr.skip(), gr.skip()
    opened = dataclasses.replace(opened, selected=row)
    return (opened, explore.payload(opened.results, opened.mask, row),
            explore.inspector_html(opened, row, self._answer))


def layout(tab: ExploreTab) -> None:
  """The Explore tab's layout and events: controls | map | summary and inspector."""
  with gr.Row(elem_id="jg-explore-shell", equal_height=True):
    with gr.Column(scale=2, min_width=230, elem_id="jg-explore-controls"):
      source = gr.Dropdown(choices=list(tab.explorable), value=None, label="Results to explore",
                           info=SOURCE_INFO, elem_id="explore-source")
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
  upload.preprocess = gradio_uploads.paths_only
  # `select`, not `input`: a dropdown's `input` fires twice for one choice, and a second
  # opening that ends after a click on the map would undo its selection.
  # Both openings also set the dropdown of sources: after an upload it must not go on naming
  # the source shown before.
  source.select(tab.open_results, [source], [*views, source], api_name="explore")
  upload.upload(tab.open_results_file, [upload], [*views, source], api_name="explore_file")
  gr.on([error_min.submit, error_max.submit, error_min.blur, error_max.blur, region.select,
         confidence.release], tab.filter_results,
        [opened, error_min, error_max, region, confidence], views, api_name="explore_filter")
  world.select(tab.select_result, [opened], [opened, world, inspector],
               concurrency_limit=None, trigger_mode="always_last", api_visibility="private")
