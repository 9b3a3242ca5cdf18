"""A location from a photo's nearest gallery photos: by retrieval alone, and hybrid with the
hierarchy's cells (PIGEOTTO's "classify a cell, then refine inside it").

Both answer one neighbour's coordinate, chosen at two scales. First the group: the neighbour
with the largest similarity weight of neighbours within `radius_km` (a vote, robust to a lone
look-alike far away). Then the spot: inside that group, the neighbour with the most weight within
`refine_radius_km` (the place the group's photos agree on most closely). Answering a real
photo's place rather than a mean keeps landmark photos on the landmark. On the toy world's
validation split the second scale added 1-2 points at 1 km and cost nothing at 25 km and beyond
(docs/retrieval.md).

Vectorised over queries (Q) and neighbours (K): one (Q, K, K) distance array, no Python loops.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxgeo.geo import distance


@dataclasses.dataclass(frozen=True)
class Vote:
  """The neighbours' answer for each query.

  Attributes:
    latitude, longitude: (Q,) the answer, degrees.
    choice: (Q,) the column (among the K neighbours) of the neighbour whose place was answered;
      -1 where no neighbour could vote (the hybrid then answered its top cell's mean).
    support: (Q, K) which neighbours lie within the radius of the chosen one (they decided it).
  """
  latitude: np.ndarray
  longitude: np.ndarray
  choice: np.ndarray
  support: np.ndarray


def similarity_weights(similarity: np.ndarray, temperature: float) -> np.ndarray:
  """exp((s - s_best) / temperature): the best neighbour weighs 1, one `temperature` of cosine
  below it 1/e. Embeddings that put every photo at cosine 0.8-0.99 need the contrast."""
  best = np.max(similarity, axis=-1, keepdims=True)
  return np.exp((similarity - best) / temperature)


def densest_neighbour(latitude: np.ndarray, longitude: np.ndarray, weights: np.ndarray,
                      radius_km: float, refine_radius_km: float = 0.0) -> Vote:
  """The neighbour whose surroundings hold the most weight, at two scales.

  Args:
    latitude, longitude: (Q, K) the neighbours' coordinates.
    weights: (Q, K) each neighbour's vote; 0 leaves it out (it can neither vote nor be chosen).
    radius_km: the group: neighbours this close vote for each other.
    refine_radius_km: inside the chosen group, the neighbour with the most weight this close
      is answered (0: the group's choice itself).

  Ties go to the better-ranked neighbour (the lower column).
  """
  km = distance.great_circle_km(latitude[:, :, None], longitude[:, :, None],
                                latitude[:, None, :], longitude[:, None, :])
  voters = weights > 0
  density = np.where(voters, np.einsum("qjk,qk->qj", km <= radius_km, weights), -1.0)
  rows = np.arange(len(density))
  group_of = np.argmax(density, axis=1)
  voted = density[rows, group_of] > 0
  support = (km[rows, group_of] <= radius_km) & voters & voted[:, None]
  choice = group_of
  if refine_radius_km > 0:
    local = np.einsum("qjk,qk->qj", km <= refine_radius_km, weights)
    # Within the group; the group's density breaks ties (then the rank does).
    local = np.where(support, local + 1e-9 * density, -1.0)
    choice = np.where(voted, np.argmax(local, axis=1), group_of)
  return Vote(latitude[rows, choice], longitude[rows, choice], np.where(voted, choice, -1),
              support)


def retrieval(similarity: np.ndarray, latitude: np.ndarray, longitude: np.ndarray, *,
              radius_km: float, refine_radius_km: float, temperature: float) -> Vote:
  """The location by the nearest gallery photos alone ((Q, K) similarities and coordinates)."""
  return densest_neighbour(latitude, longitude, similarity_weights(similarity, temperature),
                           radius_km, refine_radius_km)


def hybrid(similarity: np.ndarray, latitude: np.ndarray, longitude: np.ndarray,
           neighbour_cells: np.ndarray, top_cells: np.ndarray, top_log_probs: np.ndarray,
           cell_latitude: np.ndarray, cell_longitude: np.ndarray, *, radius_km: float,
           refine_radius_km: float, temperature: float, cell_power: float) -> Vote:
  """The hierarchy's top cells keep and re-weight the neighbours; the densest one inside them
  replaces the top cell's mean coordinate.

  Args:
    similarity, latitude, longitude: (Q, K) the neighbours.
    neighbour_cells: (Q, K) the finest-partition class of each neighbour (-1 outside all).
    top_cells: (Q, M) the hierarchy's M best finest classes, best first.
    top_log_probs: (Q, M) their log-probabilities under the hierarchy.
    cell_latitude, cell_longitude: (classes,) the finest partition's cell coordinates (the
      answer where no neighbour lies in a top cell).
    cell_power: a neighbour in the i-th top cell weighs its similarity weight times
      (p(cell i) / p(top cell)) ** cell_power: 0 trusts the neighbours in any of the M cells
      alike, large values only those of the top cell.
  """
  in_cell = neighbour_cells[:, :, None] == top_cells[:, None, :]  # (Q, K, M)
  cell_weight = np.exp(cell_power * (top_log_probs - top_log_probs[:, :1]))  # 1 for the top
  weights = similarity_weights(similarity, temperature) * np.einsum("qkm,qm->qk", in_cell,
                                                                     cell_weight)
  vote = densest_neighbour(latitude, longitude, weights, radius_km, refine_radius_km)
  fallback = vote.choice < 0
  lat = np.where(fallback, cell_latitude[top_cells[:, 0]], vote.latitude)
  lon = np.where(fallback, cell_longitude[top_cells[:, 0]], vote.longitude)
  return Vote(lat, lon, vote.choice, vote.support)
