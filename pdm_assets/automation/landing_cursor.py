"""The landing-zone sensor's cursor: file fingerprints acted on, and chains of phases in flight."""

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import dagster as dg

from pdm_assets.automation.landing_plan import Step

CURSOR_VERSION = 1


@dataclass
class Chain:
    """Phases of one delivery; ``phase`` is the one whose runs were requested last."""

    id: str
    phases: list[list[dict[str, Any]]]
    phase: int = 0

    def steps(self, phase: int) -> list[Step]:
        return [Step(**s) for s in self.phases[phase]]

    def requests(self, phase: int) -> list[dg.RunRequest]:
        return [s.run_request(self.id, phase, i) for i, s in enumerate(self.steps(phase))]


@dataclass
class LandingCursor:
    """``files``: fingerprint per day (and of the machines files) as last acted on."""

    files: dict[str, str]
    chains: list[Chain]

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls({}, [])
        data = json.loads(text)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unknown landing cursor version {data.get('v')!r}")
        return cls(dict(data["files"]), [Chain(**c) for c in data["chains"]])

    def dump(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "files": self.files, "chains": [asdict(c) for c in self.chains]},
            sort_keys=True,
            separators=(",", ":"),
        )


def chain_id(entries: dict[str, str]) -> str:
    text = "|".join(f"{k}={v}" for k, v in sorted(entries.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:12]
