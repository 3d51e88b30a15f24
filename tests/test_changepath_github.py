"""The GitHub REST client against a local fake API server on 127.0.0.1 (wire format checked)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from ai_ops.actuators.git import propose_change
from ai_ops.actuators.github import GitHubClient, client_from_env
from ai_ops.config import GitConfig, OpsConfig, Secrets
from ai_ops.errors import ActuatorError

TOKEN = "ghs_fake_token_for_tests"


class FakeGitHub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.open_prs: dict[str, dict[str, Any]] = {}
        self.status_override: int | None = None

    def handle(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        self.requests.append({"method": method, "path": path, "auth": headers.get("Authorization"),
                              "version": headers.get("X-GitHub-Api-Version"), "body": body})
        if self.status_override:
            return self.status_override, {"message": "Resource not accessible by integration"}
        if method == "POST" and path == "/repos/acme/infra/pulls":
            if body["head"] in self.open_prs:
                return 422, {"message": "Validation Failed",
                             "errors": [{"message": f"A pull request already exists for acme:{body['head']}."}]}
            number = len(self.open_prs) + 1
            self.open_prs[body["head"]] = {"number": number, **body,
                                           "html_url": f"https://github.test/acme/infra/pull/{number}"}
            return 201, self.open_prs[body["head"]]
        if method == "GET" and path.startswith("/repos/acme/infra/pulls?"):
            head = path.split("head=acme%3A")[1].split("&")[0].replace("%2F", "/")
            return 200, [self.open_prs[head]] if head in self.open_prs else []
        if method == "PATCH" and path.startswith("/repos/acme/infra/pulls/"):
            number = int(path.rsplit("/", 1)[1])
            pr = next(p for p in self.open_prs.values() if p["number"] == number)
            pr.update(body)
            return 200, pr
        return 404, {"message": "Not Found"}


@pytest.fixture
def fake_github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, payload = fake.handle(self.command, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_opens_then_updates_the_same_pull_request(fake_github: tuple[FakeGitHub, str]) -> None:
    fake, url = fake_github
    client = GitHubClient(url, "acme/infra", TOKEN)
    first = client.open_or_update("ai-ops/2026-01-12-x", "main", "ai-ops: x", "body 1")
    assert first.created and first.number == 1 and first.url.endswith("/pull/1")
    post = fake.requests[0]
    assert post["auth"] == f"Bearer {TOKEN}" and post["version"] == "2022-11-28"
    assert post["body"]["head"] == "ai-ops/2026-01-12-x" and post["body"]["base"] == "main"
    second = client.open_or_update("ai-ops/2026-01-12-x", "main", "ai-ops: x", "body 2")
    assert not second.created and second.number == 1
    assert [r["method"] for r in fake.requests] == ["POST", "POST", "GET", "PATCH"]
    assert fake.open_prs["ai-ops/2026-01-12-x"]["body"] == "body 2"


def test_permission_error_names_the_fix_and_never_the_token(fake_github: tuple[FakeGitHub, str]) -> None:
    fake, url = fake_github
    fake.status_override = 403
    with pytest.raises(ActuatorError) as info:
        GitHubClient(url, "acme/infra", TOKEN).open_or_update("b", "main", "t", "b")
    assert "pull-requests: write" in str(info.value) and TOKEN not in str(info.value)


def test_unreachable_api_and_bad_repository_are_clear_errors() -> None:
    with pytest.raises(ActuatorError, match="owner/name"):
        GitHubClient("http://127.0.0.1:9", "infra", TOKEN)
    with pytest.raises(ActuatorError, match="cannot reach the GitHub API"):
        GitHubClient("http://127.0.0.1:9", "acme/infra", TOKEN, timeout=2).open_or_update("b", "main", "t", "b")


def test_client_only_when_token_and_repository_are_set() -> None:
    assert client_from_env(Secrets(GITHUB_TOKEN=None, GITHUB_REPOSITORY="acme/infra")) is None
    assert client_from_env(Secrets(GITHUB_TOKEN=SecretStr(TOKEN), GITHUB_REPOSITORY=None)) is None
    assert client_from_env(Secrets(GITHUB_TOKEN=SecretStr(TOKEN), GITHUB_REPOSITORY="acme/infra")) is not None


def test_pr_mode_opens_the_pull_request_for_the_pushed_branch(
        sim_config: OpsConfig, tmp_path: Path, fake_github: tuple[FakeGitHub, str]) -> None:
    import git

    fake, url = fake_github
    ws = sim_config.path(".")
    git.Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    repo = git.Repo(ws)
    repo.create_remote("origin", str(tmp_path / "remote.git")).push("main").raise_if_error()
    sim_config.tfvars_path.write_text('{"autoscaling_cpu_target": 75}\n')
    result = propose_change(ws, [sim_config.tfvars_path], "ai-ops: lower target\n\nEvidence: ...",
                            GitConfig(mode="pr"), "lower target", 1_768_176_000,
                            github=GitHubClient(url, "acme/infra", TOKEN))
    assert result.pull_request_url == "https://github.test/acme/infra/pull/1" and result.warning is None
    sent = fake.requests[0]["body"]
    assert sent["title"] == "ai-ops: lower target" and sent["head"] == result.branch
    assert "Evidence" in sent["body"] and sent["body"] == result.pull_request_file.read_text()
    # An API failure after the push is a warning, not a lost change: the branch is on the remote.
    fake.status_override = 500
    sim_config.tfvars_path.write_text('{"autoscaling_cpu_target": 70}\n')
    failed = propose_change(ws, [sim_config.tfvars_path], "ai-ops: lower target\n\nmore", GitConfig(mode="pr"),
                            "lower target", 1_768_176_000, github=GitHubClient(url, "acme/infra", TOKEN))
    assert failed.pushed and failed.warning is not None and "HTTP 500" in failed.warning
