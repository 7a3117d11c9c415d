"""Geometry and analysis for routecheck: footprints, screening and decisions.

Nothing in this package reads files or knows a web framework; it takes and returns
shapely geometries, GeoDataFrames and plain data, so the CLI, the API, batch jobs and
notebooks all share it.
"""
