"""What the service loads once at start and every request reads: settings, district, layers."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.features import Collection
from api.records import RecordStore
from api.settings import Settings
from layers.district import District


@dataclass
class Service:
    """The loaded district, its layers as OGC API collections, and the decision records."""

    settings: Settings
    district: District
    collections: dict[str, Collection]
    records: RecordStore


def get_service(request: Request) -> Service:
    """FastAPI dependency: the service the app was created with."""
    return request.app.state.service
