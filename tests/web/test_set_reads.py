"""The pages read set-based (plain HTTP, no browser): the inventory's and the queue's
statements do not grow with their rows, and what they show is the use cases' answer; the
model page shows each version's stage history and its model card through the contract."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import event

from api_server import running_server
from clearance.workspace import Workspace, init_workspace
from web.story import EXAMPLE, Story, build


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Workspace, Story]]:
    tmp = tmp_path_factory.mktemp("sets")
    ws = init_workspace(tmp / "ws")
    story = build(ws, tmp)
    with running_server(ws) as url:
        yield url, ws, story


@contextmanager
def _client(url: str, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as client:
        form = client.get("/signin").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        data = {"token": token, "csrf": csrf.group(1), "next": "/"}
        assert client.post("/signin", data=data).status_code == 303
        yield client


@contextmanager
def _statements(ws: Workspace) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement != "BEGIN":
            seen.append(statement)

    event.listen(ws.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(ws.engine, "before_cursor_execute", record)


def _register_copy(ws: Workspace, tmp: Path, name: str) -> None:
    folder = tmp / name
    shutil.copytree(EXAMPLE / "v7-pass", folder)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["model"]["name"] = name
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    ws.registry.register(folder / "manifest.yaml", actor="alice")
    staged = ws.promotions.promote(name, "7", "staging", actor="alice")
    assert ws.promotions.approve(staged.request.id, actor="tess").executed
    ws.promotions.promote(name, "7", "production", actor="alice")  # open, blocked


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"<[^>]+>", " ", row) for row in body.split("<tr>")[1:]]


def test_inventory_and_queue_cost_the_same_with_more_rows(
    served: tuple[str, Workspace, Story], tmp_path: Path
) -> None:
    url, ws, story = served
    with _client(url, story.tokens["rita"]) as rita, _client(url, story.tokens["aude"]) as aude:
        rita.get("/")  # the first page of a process parses the policy once: not counted
        with _statements(ws) as first:
            inventory = rita.get("/")
            queue = rita.get("/queue")
        assert [r.split()[0] for r in _rows(inventory.text)] == ["credit-default", "credit-limit"]
        assert [r.split()[:2] for r in _rows(queue.text)] == [["Request", str(story.blocked)]]
        for n in range(3):
            _register_copy(ws, tmp_path, f"credit-copy-{n}")
        with _statements(ws) as more:
            inventory = rita.get("/")
            queue = rita.get("/queue")
        assert len(_rows(inventory.text)) == 5 and len(_rows(queue.text)) == 4
        assert len(more) <= len(first) + 3, (len(first), len(more))  # her queue's 3 sign-off reads
        assert "Nothing waits for you." in aude.get("/queue").text  # an auditor signs nothing
    listed = {m.model: m.compliance for m in ws.views.models().items}
    rows = {r.split()[0]: r for r in _rows(inventory.text)}
    assert all(compliance in rows[model] for model, compliance in listed.items())


def test_model_page_shows_stage_history_and_the_card_through_the_contract(
    served: tuple[str, Workspace, Story], tmp_path: Path
) -> None:
    url, ws, story = served
    odd = tmp_path / "odd.md"
    odd.write_bytes(b"# odd\n\xff")
    ws.registry.attach("credit-limit", "7", "odd_notes", path=odd, actor="alice")
    with _client(url, story.tokens["aude"]) as aude:
        page = aude.get("/models/credit-limit").text
    history = re.search(r'<ol class="stage-history"[^>]*>(.*?)</ol>', page, re.S)
    assert history is not None
    items = history.group(1).split("<li>")[1:]
    steps = [" ".join(re.sub(r"<[^>]+>", " ", s).split()) for s in items]
    assert re.fullmatch(r"\S+ \S+ UTC registered in draft by alice", steps[0])
    assert re.fullmatch(r"\S+ \S+ UTC draft → staging by tess \(request \d+\)", steps[1])
    assert "<h5>Model card: credit-default scorecard v7</h5>" in page
    assert "Not shown: evidence &#39;odd_notes&#39; is not UTF-8 text" in page
