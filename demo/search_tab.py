"""The Search tab: indexed photos for a tag near a place picked on the map (LocSens).

Its handlers and layout; the search itself is search.py's. Without a trained LocSens model the
tab stays, and says why it finds nothing.
"""

from __future__ import annotations

import gradio as gr

from demo import map_view, report, search as search_lib, ui_inputs


class SearchTab:
  """The Search tab's handlers: `searcher`, or None and `note` saying why there is none."""

  def __init__(self, searcher: search_lib.PhotoSearch | None, note: str = ""):
    self.searcher = searcher
    self.note = note

  def pick(self, evt: gr.EventData):
    """A click on the search map: its coordinates into the place field, and a marker there."""
    data = evt._data or {}  # pylint: disable=protected-access  (the map's own event payload)
    try:
      lat, lon = round(float(data["lat"]), 2), round(float(data["lon"]), 2)
    except (KeyError, TypeError, ValueError):
      return gr.skip(), gr.skip()
    return f"{lat}, {lon}", map_view.search_payload((lat, lon))

  def search(self, tag, where, radius_km):
    """The indexed photos for `tag` near the typed place, best first, or what to type."""
    location, note = ui_inputs.parse_location(where)
    if self.searcher is None:
      return self.note, [], map_view.search_payload(location)
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


def layout(tab: SearchTab) -> None:
  """The Search tab's layout and events: tag, place and radius | map; the photos found below."""
  gr.Markdown("Find indexed photos for a tag near a place (LocSens): click the map or type "
              "coordinates.")
  with gr.Row():
    with gr.Column(scale=1):
      tag = gr.Textbox(label="Tag", placeholder="beach", elem_id="search-tag")
      where = gr.Textbox(label="Place: lat, lon (or click the map)", placeholder="48.86, 2.35",
                         elem_id="search-where")
      radius = gr.Slider(50, 5000, value=1000, step=50, label="Within (km)")
      go = gr.Button("Search", variant="primary", elem_id="search")
      message = gr.Markdown()
    with gr.Column(scale=2, elem_id="jg-search-map-pane"):
      search_map = map_view.component(elem_id="search-map")
  gallery = gr.Gallery(label="Photos found", columns=6, height="auto")
  search_map.pick(tab.pick, None, [where, search_map], api_visibility="private")
  go.click(tab.search, [tag, where, radius], [message, gallery, search_map], api_name="search")
