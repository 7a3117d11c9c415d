"""Content hashes of a district's rules and layers, for decision records.

A decision must be reproducible later, so its record names exactly which rules and
which layer contents it was made on. The hashes are of content, not of files: the
rules as validated (so comments and layout do not matter) and each layer's geometries
and attributes in order.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import shapely

from geo.rules import Rules
from geo.screening import IndexedLayer


def rules_digest(rules: Rules) -> str:
    """SHA-256 of the validated rules in canonical JSON."""
    canonical = json.dumps(rules.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def layer_digest(layer: IndexedLayer) -> str:
    """SHA-256 of a layer's geometries (WKB) and attribute rows, in feature order."""
    digest = hashlib.sha256(layer.name.encode("utf-8"))
    for wkb in shapely.to_wkb(layer.geometries, output_dimension=2):
        digest.update(wkb)
    attributes = layer.frame.drop(columns=layer.frame.geometry.name)
    rows = pd.util.hash_pandas_object(attributes.astype(str), index=False)
    digest.update(rows.to_numpy().tobytes())
    digest.update(",".join(map(str, attributes.columns)).encode("utf-8"))
    return digest.hexdigest()
