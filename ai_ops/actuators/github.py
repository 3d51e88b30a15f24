"""GitHub REST API: open (or update) the pull request of a pushed ai-ops branch.

Plain `urllib` on purpose: two endpoints do not justify an SDK, and `api_url` can point
at a local fake server in tests (or at GitHub Enterprise). The token is sent as a
header only; it never appears in a message or a log line.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ai_ops.config import Secrets
from ai_ops.errors import ActuatorError

API_VERSION = "2022-11-28"


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool


class GitHubClient:
    def __init__(self, api_url: str, repository: str, token: str, timeout: float = 30.0) -> None:
        if repository.count("/") != 1:
            raise ActuatorError(f"GITHUB_REPOSITORY must look like 'owner/name', got '{repository}'")
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self._token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method, headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self._token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "ai-ops",
            "Content-Type": "application/json",
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ActuatorError(f"cannot reach the GitHub API at {self.api_url}: {reason}") from None

    def _fail(self, action: str, status: int, payload: Any) -> ActuatorError:
        message = payload.get("message", "") if isinstance(payload, dict) else ""
        hint = ""
        if status in (401, 403):
            hint = ("; the token needs `pull-requests: write` and `contents: write` on "
                    f"{self.repository} (see docs/github_actions.md)")
        elif status == 404:
            hint = f"; check GITHUB_REPOSITORY ('{self.repository}') and that the token can see it"
        return ActuatorError(f"GitHub API refused to {action}: HTTP {status} {message}{hint}")

    def open_or_update(self, head: str, base: str, title: str, body: str) -> PullRequest:
        """Create the PR; if one is already open for `head`, update its title and body instead."""
        status, payload = self._request("POST", f"/repos/{self.repository}/pulls",
                                        {"title": title, "head": head, "base": base, "body": body,
                                         "maintainer_can_modify": True})
        if status == 201 and isinstance(payload, dict):
            return PullRequest(int(payload["number"]), str(payload.get("html_url", "")), True)
        if status != 422:
            raise self._fail("open the pull request", status, payload)
        owner = self.repository.split("/")[0]
        query = urllib.parse.urlencode({"head": f"{owner}:{head}", "base": base, "state": "open"})
        status, found = self._request("GET", f"/repos/{self.repository}/pulls?{query}")
        if status != 200 or not isinstance(found, list) or not found:
            raise self._fail("open the pull request", 422, payload)
        number = int(found[0]["number"])
        status, updated = self._request("PATCH", f"/repos/{self.repository}/pulls/{number}",
                                        {"title": title, "body": body})
        if status != 200 or not isinstance(updated, dict):
            raise self._fail(f"update pull request #{number}", status, updated)
        return PullRequest(number, str(updated.get("html_url", "")), False)


def client_from_env(secrets: Secrets) -> GitHubClient | None:
    """A client when GITHUB_TOKEN and GITHUB_REPOSITORY are set (as in GitHub Actions), else None."""
    if secrets.GITHUB_TOKEN is None or not secrets.GITHUB_TOKEN.get_secret_value() or not secrets.GITHUB_REPOSITORY:
        return None
    return GitHubClient(secrets.GITHUB_API_URL, secrets.GITHUB_REPOSITORY, secrets.GITHUB_TOKEN.get_secret_value())
