"""The layer catalogue: which layers a district has and what their features mean.

The catalogue is shared by every district. Which OSM tags feed which layer, and the
widths a road gets when its tags say nothing, are the conventions of the OSM build
(`layers.osm`); a district whose layers come from its own surveys fills the same
columns by other means.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Layers a district store holds, in the order they are drawn and reported; see SPECS
#: for which may be missing.
LAYERS = ("roads", "bridges", "green", "trees", "zones")

#: The store layer holding the district's coverage polygon.
COVERAGE_LAYER = "coverage"


@dataclass(frozen=True)
class LayerSpec:
    """What a layer holds: geometry type, the kinds its features take, and attributes.

    `attributes` are the columns rules may test beyond the core ones (feature id, kind,
    name); a store that lacks one has it as unknown for every feature. An `optional`
    layer may be missing from a district's store altogether.
    """

    name: str
    geometry: str
    kinds: tuple[str, ...]
    description: str
    attributes: tuple[str, ...] = ()
    optional: bool = False


#: Urban road classes (快速路, 主干路, 次干路, 支路, non-motorised ways), then the
#: highway classes some districts' rules name: national and provincial trunk highways
#: (国省干线公路) and rural roads, whose traffic volume decides "heavy traffic".
ROAD_CLASSES = (
    "expressway", "main", "secondary", "branch", "non_motorised", "trunk_highway", "rural"
)  # fmt: skip

SPECS = {
    "roads": LayerSpec(
        "roads",
        "Polygon",
        ROAD_CLASSES,
        "Road footprints (centreline buffered by half the width), by road class.",
        attributes=("width_m", "handover_date", "major_repair_date", "traffic_volume"),
    ),
    "bridges": LayerSpec(
        "bridges",
        "Polygon",
        ("bridge",),
        "Bridge footprints, same width rule as roads; road_class is the class of the road "
        "the bridge carries (none for rail bridges).",
        attributes=("road_class", "width_m"),
    ),
    "green": LayerSpec(
        "green",
        "Polygon",
        ("green", "shrub", "forest"),
        "Urban green land, shrubland of urban green, and forest land.",
    ),
    "trees": LayerSpec(
        "trees",
        "Point",
        ("tree", "ancient_tree"),
        "Tree trunks with crown diameters; ancient and famous trees from a register.",
        attributes=("crown_diameter_m", "register_id", "species"),
    ),
    "zones": LayerSpec(
        "zones",
        "Polygon",
        ("highway_land", "water_protection", "river_management"),
        "Regulated zones: highway land, water-engineering protection areas and river "
        "management areas.",
        optional=True,
    ),
}

#: Layers every store must hold.
REQUIRED_LAYERS = tuple(name for name in LAYERS if not SPECS[name].optional)

#: Every kind a rule may name, and the layer that holds it.
KIND_LAYERS = {kind: spec.name for spec in SPECS.values() for kind in spec.kinds}

#: OSM `highway` values and the Chinese urban road class each maps to. Links take the
#: class of the road they link. Values not listed (corridor, elevator, proposed, …)
#: are not roads the works can occupy and are left out of the layer.
HIGHWAY_CLASSES = {
    "motorway": "expressway",
    "motorway_link": "expressway",
    "trunk": "expressway",
    "trunk_link": "expressway",
    "primary": "main",
    "primary_link": "main",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "branch",
    "tertiary_link": "branch",
    "unclassified": "branch",
    "residential": "branch",
    "living_street": "branch",
    "service": "branch",
    "pedestrian": "non_motorised",
    "footway": "non_motorised",
    "cycleway": "non_motorised",
    "path": "non_motorised",
    "steps": "non_motorised",
    "track": "non_motorised",
    "bridleway": "non_motorised",
}

#: Road width in metres by class, used when neither `width` nor `lanes` gives one.
CLASS_WIDTHS_M = {
    "expressway": 25.0,
    "main": 20.0,
    "secondary": 14.0,
    "branch": 7.0,
    "non_motorised": 3.0,
}

#: Width of one lane, in metres, when a road's width comes from its `lanes` tag.
LANE_WIDTH_M = 3.5

#: Crown diameter, in metres, of a tree whose tags give none.
DEFAULT_CROWN_DIAMETER_M = 6.0

#: OSM tags that put an area into the green layer, and the kind each gives.
GREEN_TAGS = {
    ("leisure", "park"): "green",
    ("leisure", "garden"): "green",
    ("landuse", "grass"): "green",
    ("landuse", "recreation_ground"): "green",
    ("landuse", "village_green"): "green",
    ("natural", "scrub"): "shrub",
    ("natural", "wood"): "forest",
    ("landuse", "forest"): "forest",
}

#: Attribution every product made from the OSM layers must carry.
OSM_ATTRIBUTION = (
    "© OpenStreetMap contributors, ODbL 1.0 "
    "(https://www.openstreetmap.org/copyright)"
)  # fmt: skip (one line would be 101 bytes: the © is two)
