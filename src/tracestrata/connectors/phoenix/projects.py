"""Project lookup: the id GraphQL needs, and a helpful error for a project that does not exist."""

from __future__ import annotations

from urllib.parse import quote

from tracestrata.errors import FatalSourceError

from .client import PhoenixHTTP, response_json


class ProjectResolver:
    def __init__(self, http: PhoenixHTTP) -> None:
        self.http = http
        self._ids: dict[str, str] = {}

    def require(self, name: str) -> str:
        """The project's GlobalID; `FatalSourceError` listing the existing projects if unknown."""
        found = self.find(name)
        if found is None:
            names = self.names()
            listing = ", ".join(sorted(names)) if names else "(none)"
            raise FatalSourceError(
                f"Phoenix project {name!r} does not exist at {self.http.settings.shown_url}; "
                f"existing projects: {listing}",
                field="source.project",
            )
        return found

    def find(self, name: str) -> str | None:
        if name in self._ids:
            return self._ids[name]
        response = self.http.request("GET", f"/v1/projects/{quote(name, safe='')}", allow=(404,))
        if response.status_code == 404:
            return None
        project_id = str(response_json(response)["data"]["id"])
        self._ids[name] = project_id
        return project_id

    def names(self) -> list[str]:
        out: list[str] = []
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            body = self.http.json("GET", "/v1/projects", params=params)
            out.extend(str(p["name"]) for p in body.get("data", []))
            cursor = body.get("next_cursor")
            if not cursor:
                return out
