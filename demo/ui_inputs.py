"""What the tabs' handlers read from the page: the photo an event names, a typed place or
distance. Typed text that is no answer comes back with a message saying what to type."""

from __future__ import annotations

import gradio as gr


def event_index(evt: gr.EventData) -> int:
  """The photo index a list or map event names (-1 if none: no photo has it)."""
  data = getattr(evt, "_data", None) or {}
  try:
    return int(data["index"])
  except (KeyError, TypeError, ValueError):
    return -1


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


def parse_km(text: str | float | None) -> float | None:
  """A typed distance bound: None when empty; ValueError when not a number >= 0."""
  text = str(text or "").strip().lower().removesuffix("km").strip()
  if not text:
    return None
  value = float(text.replace(",", ""))
  if not value >= 0:
    raise ValueError(text)
  return value
