"""What Flickr accounts and photo metadata look like: users, cameras, licences, photo ids.

YFCC100M rows carry a user (NSID and nickname), a camera, a Creative Commons licence and a photo
id that grows with the upload time; the toy world draws them from these lists so that its rows
look like the real ones to the data-set builders.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# (brand, model) as Flickr reports them; ("", "") when the EXIF data names no camera.
CAMERAS = (
    ("Canon", "Canon EOS 400D Digital"), ("Canon", "Canon EOS 5D Mark II"),
    ("Canon", "Canon PowerShot S95"), ("Nikon", "NIKON D90"), ("Nikon", "NIKON D700"),
    ("Nikon", "NIKON COOLPIX P7000"), ("Sony", "SONY DSC-RX100"), ("Apple", "Apple iPhone 4"),
    ("Apple", "Apple iPhone 5"), ("Panasonic", "Panasonic DMC-LX5"), ("Olympus", "OLYMPUS E-M5"),
    ("Fujifilm", "FUJIFILM X100"), ("", ""),
)
# (name, URL) of the Creative Commons licences that YFCC100M photos carry.
LICENCES = (
    ("Attribution-NonCommercial-ShareAlike License",
     "http://creativecommons.org/licenses/by-nc-sa/2.0/"),
    ("Attribution-NonCommercial License", "http://creativecommons.org/licenses/by-nc/2.0/"),
    ("Attribution-NonCommercial-NoDerivs License",
     "http://creativecommons.org/licenses/by-nc-nd/2.0/"),
    ("Attribution License", "http://creativecommons.org/licenses/by/2.0/"),
    ("Attribution-ShareAlike License", "http://creativecommons.org/licenses/by-sa/2.0/"),
    ("Attribution-NoDerivs License", "http://creativecommons.org/licenses/by-nd/2.0/"),
)
# Nicknames are made of these.
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "jo", "an", "el", "sa", "vi", "do", "ne", "ru", "ta",
              "be", "xi", "po", "li", "mar", "co")
# Flickr photo ids grow with upload time: map the id range onto 2007-01 .. 2014-06 uploads.
ID_RANGE = (1_000_000_000, 12_000_000_000)
UPLOAD_RANGE = (1_167_609_600, 1_401_580_800)


def make_users(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
  """Flickr-like users: NSID (12345678@N00), nickname and favourite camera."""
  users = []
  nsids = set()
  while len(users) < n:
    nsid = f"{int(rng.integers(10_000_000, 99_999_999))}@N{int(rng.integers(0, 8)):02d}"
    if nsid in nsids:
      continue
    nsids.add(nsid)
    name = "".join(rng.choice(_SYLLABLES, int(rng.integers(2, 4))))
    style = int(rng.integers(4))
    nickname = (name.capitalize(), f"{name}_photos", f"{name.capitalize()} {name[:1].upper()}.",
                f"{name}{int(rng.integers(10, 99))}")[style]
    users.append({"nsid": nsid, "nickname": nickname,
                  "camera": int(rng.integers(len(CAMERAS)))})
  return users


def activity_cdf(n: int, exponent: float = 1.1) -> np.ndarray:
  """Cumulative share of photos by user rank: a few users upload most photos (Zipf)."""
  w = 1.0 / np.arange(1, n + 1) ** exponent
  return np.cumsum(w) / w.sum()


def unique_photo_ids(rng: np.random.Generator, n: int) -> list[int]:
  """n distinct Flickr-like photo ids in random order."""
  ids: list[int] = []
  seen: set[int] = set()
  while len(ids) < n:
    for x in rng.integers(ID_RANGE[0], ID_RANGE[1], n - len(ids) + 16).tolist():
      if x not in seen and len(ids) < n:
        seen.add(x)
        ids.append(x)
  return ids
