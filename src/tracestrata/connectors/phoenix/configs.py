"""Annotation configs: what Phoenix's annotation panel offers a reviewer.

Phoenix's panel (on a trace's page) offers only the annotation names whose config is
attached to the project, and stores what a reviewer sets there as a *span* annotation
on the trace's root span (measured on Phoenix 20.x in headless Chromium). So `sync`
creates a config for each human label declared in the sync config (`[[label]]`) and
attaches it; the sampling marker's config is *not* attached, so the panel never
offers the marker as something to fill in.

`PUT /v1/projects/{p}/annotation_configs` replaces the project's whole set, so every
change keeps what the project already had.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from tracestrata.protocols import HumanLabel, JSONObject, LabelKind

from .client import PhoenixHTTP, response_json


class AnnotationConfigs:
    def __init__(self, http: PhoenixHTTP, project: str) -> None:
        self.http = http
        self.project = project

    def ensure(self, config: JSONObject, *, replace_type: bool = False) -> tuple[str, bool]:
        """The id of the config named `config["name"]`, created if missing (and True if so).

        `replace_type`: a config of that name but another type is rewritten to `config`.
        """
        path = f"/v1/annotation_configs/{quote(config['name'], safe='')}"
        response = self.http.request("GET", path, allow=(404,))
        created = False
        if response.status_code == 404:
            posted = self.http.request("POST", "/v1/annotation_configs", allow=(409,), json=config)
            created = posted.status_code != 409
            response = posted if created else self.http.request("GET", path)
        data = response_json(response)["data"]
        config_id = str(data["id"])
        if replace_type and data.get("type") != config["type"]:
            response = self.http.request("PUT", f"/v1/annotation_configs/{quote(config_id, safe='')}", json=config)
            config_id = str(response_json(response)["data"]["id"])
        return config_id, created

    def attached(self) -> list[JSONObject]:
        body = self.http.json("GET", f"/v1/projects/{quote(self.project, safe='')}/annotation_configs")
        return list(body.get("data", []))

    def set_attached(self, keep: Sequence[str], add: Sequence[str] = (), drop: Sequence[str] = ()) -> None:
        wanted = [i for i in dict.fromkeys([*keep, *add]) if i not in set(drop)]
        if wanted != list(keep):
            self.http.request(
                "PUT",
                f"/v1/projects/{quote(self.project, safe='')}/annotation_configs",
                json={"annotation_config_ids": wanted},
            )

    def attach(self, config_ids: list[str]) -> None:
        self.set_attached([str(c["id"]) for c in self.attached()], add=config_ids)

    def detach(self, config_id: str) -> None:
        self.set_attached([str(c["id"]) for c in self.attached()], drop=[config_id])


def label_config(label: HumanLabel) -> JSONObject:
    """The Phoenix annotation config of a declared human label."""
    description = label.description or f"Human label (set by a reviewer; tracestrata reads it back as {label.name!r})."
    if label.kind is LabelKind.CONTINUOUS:
        return {
            "type": "CONTINUOUS",
            "name": label.name,
            "description": description,
            "optimization_direction": "NONE",
            "lower_bound": label.lower,
            "upper_bound": label.upper,
        }
    return {
        "type": "CATEGORICAL",
        "name": label.name,
        "description": description,
        "optimization_direction": "NONE",
        "values": [{"label": text, "score": score} for text, score in label.choices],
    }
