"""Service settings, read once from the environment (prefix ``ROUTECHECK_``).

Everything an operator may want to change without editing code lives here, so the
OpenAPI page, the drawing page and the log all agree on one set of values.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Tile URL template of the default basemap, and the attribution its licence asks for.
DEFAULT_TILES_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILES_ATTRIBUTION = "Map tiles © OpenStreetMap contributors"


class Settings(BaseSettings):
    """How the HTTP service runs: district, basemap, limits, admin key and reloading."""

    model_config = SettingsConfigDict(env_prefix="ROUTECHECK_", extra="ignore")

    district: Path | None = Field(
        None, description="District folder to serve; the bundled sample when unset."
    )
    tiles_url: str = Field(
        DEFAULT_TILES_URL,
        description="Basemap tile URL template for the maps; empty for no basemap.",
    )
    tiles_attribution: str = Field(
        DEFAULT_TILES_ATTRIBUTION, description="Attribution shown for the basemap tiles."
    )
    max_body_bytes: int = Field(
        1_000_000, gt=0, description="Largest request body accepted, in bytes (else 413)."
    )
    items_limit: int = Field(
        100, gt=0, description="Features per page of /collections/{id}/items by default."
    )
    items_max_limit: int = Field(
        10_000, gt=0, description="Largest `limit` a client may ask for (larger is capped)."
    )
    admin_key: SecretStr | None = Field(
        None,
        description="Key the admin calls (reload, re-screening) must send as "
        "`Authorization: Bearer KEY`; unset or empty switches them off (403). Never logged.",
    )
    screening_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads that screen and decide routes; about the number of cores "
        "(the work holds Python's GIL most of the time, so more threads only queue).",
    )
    watch: bool = Field(
        False,
        description="Reload the district when its district.toml, rule file, layer store "
        "or holiday schedules change on disk (polled).",
    )
    watch_interval_s: float = Field(
        2.0, gt=0, description="Seconds between two looks at the district's files."
    )
