"""The one Definitions object of the code location. Importing it starts no Spark."""

from __future__ import annotations

import dagster as dg

from pdm_assets.assets.raw import build_raw_assets
from pdm_assets.resources.deployments import build_resources


def build_definitions() -> dg.Definitions:
    return dg.Definitions(assets=build_raw_assets(), resources=build_resources())


defs = build_definitions()
