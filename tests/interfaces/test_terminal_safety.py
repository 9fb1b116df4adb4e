"""What users and data wrote is shown, never obeyed (issue 10, item 9).

A model name, reason, remediation or message carrying Rich markup (``[bold green]ALLOW[/]``),
an ANSI colour, an OSC 8 hyperlink or a newline reaches the operator's terminal as visible
text on one line: no ESC byte, no markup effect, one line per request. The Markdown and JUnit
reports escape what their own formats obey. Renders are checked exactly on a fixed-width
in-memory console (as rich's own tests do), then through the command (``cli_runner``).
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine, text

from clearance.adapters.evidence import load_manifest
from clearance.api.logs import JsonFormatter
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.loading import load_policy
from clearance.core.results import Decision, GateStatus
from clearance.reporters import render_json, render_junit, render_markdown
from clearance.reporters.table import render
from clearance.terminal import SafeConsole, json_for_terminal, printable
from cli_runner import Cli

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "clearance"
EXAMPLE = ROOT / "examples" / "credit-risk"
MARKUP = "[bold green]ALLOW[/]"
RED = "\x1b[31m"
LINK = "\x1b]8;;http://x\x1b\\"
FORGED = "  9 │ forged │ line"
HOSTILE = f"m{MARKUP}{RED}red{LINK}here\n{FORGED}"
SHOWN = "m[bold green]ALLOW[/]\\x1b[31mred\\x1b]8;;http://x\\x1b\\here\\n  9 │ forged │ line"


def inert(out: str) -> None:
    """Nothing in ``out`` is obeyed: no control byte, the markup is literal, one line."""
    assert not {c for c in out if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0)}
    assert "\u202e" not in out and "".join(MARKUP.split()) in "".join(out.split())  # wrapped
    assert not any(line.startswith(FORGED) for line in out.splitlines())


# -- the one function ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (RED, "\\x1b[31m"),
        (LINK, "\\x1b]8;;http://x\\x1b\\"),
        ("a\nb\rc", "a\\nb\\rc"),
        ("\x00\x07\x08\x0b\x0c\x7f", "\\x00\\x07\\x08\\x0b\\x0c\\x7f"),
        ("\x9b31m\x85", "\\x9b31m\\x85"),  # C1: a one-byte CSI, next line
        ("\u202egnp.exe\u2066\u200f", "\\u202egnp.exe\\u2066\\u200f"),  # bidi
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("\ud800", "\\ud800"),  # a lone surrogate would crash the writer
        (HOSTILE, SHOWN),
    ],
)
def test_printable_shows_every_control_character(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_keeps_ordinary_text() -> None:
    text = "crédit-模型 ✅ [x] a\tb \\x1b 1.2.0+build.5"
    assert printable(text) == text


# -- the console: exact renders -------------------------------------------------------------


def console(*, terminal: bool = False, width: int = 60) -> tuple[SafeConsole, io.StringIO]:
    out = io.StringIO()
    colors = {"force_terminal": True, "color_system": "standard"} if terminal else {}
    return SafeConsole(file=out, width=width, **colors), out  # type: ignore[arg-type]


def test_a_printed_string_is_shown_as_written_on_one_line() -> None:
    c, out = console(width=120)
    c.print(f"registered {HOSTILE} 1 in stage draft")
    assert out.getvalue() == f"registered {SHOWN} 1 in stage draft\n"


def test_a_table_cell_and_title_are_shown_as_written() -> None:
    c, out = console(width=100)
    table = Table("id", "model", "status", title=f"policy {MARKUP}")
    table.add_row("1", HOSTILE, "pending")
    c.print(table)
    bar, line = "━" * 80, "─" * 80
    assert out.getvalue() == (
        f"{' ' * 35}policy [bold green]ALLOW[/]{' ' * 35}\n"
        f"┏━━━━┳{bar}┳━━━━━━━━━┓\n"
        f"┃ id ┃ model{' ' * 74}┃ status  ┃\n"
        f"┡━━━━╇{bar}╇━━━━━━━━━┩\n"
        f"│ 1  │ {SHOWN} │ pending │\n"
        f"└────┴{line}┴─────────┘\n"
    )


def test_say_styles_its_template_and_escapes_its_values() -> None:
    c, out = console(terminal=True)
    c.say("[bold red]refused[/]: {why} ({n:.0%})", why=f"{MARKUP}{RED}x", n=0.25)
    assert out.getvalue() == "\x1b[1;31mrefused\x1b[0m: [bold green]ALLOW[/]\\x1b[31mx (25%)\n"


def test_a_hand_built_text_cannot_smuggle_an_escape_sequence() -> None:
    c, out = console(terminal=True)
    c.print(Text(f"a{RED}b{LINK}c\x9bd\u202e"))
    assert out.getvalue() == "a\\x1b[31mb\\x1b]8;;http://x\\x1b\\c\\x9bd\\u202e\n"


# -- decisions: terminal, Markdown, JUnit, JSON ---------------------------------------------


@pytest.fixture(scope="module")
def hostile() -> Decision:
    """The example's passing decision, with hostile text wherever users and data write."""
    loaded = load_policy(EXAMPLE / "policy")
    version, evidence = load_manifest(EXAMPLE / "v7-pass" / "manifest.yaml")
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    transition = resolve_transition(loaded, "staging", "production")
    decision = evaluate(Evaluation(loaded, transition, version, evidence, now))
    first, *rest = decision.gates
    gate = first.model_copy(
        update={
            "status": GateStatus.FAIL,
            "message": f"{HOSTILE} <img src=x> `code` &#x202e; | cell",
            "remediation": f"run {LINK}this{RED}",
            "details": {"worst": [{"what": "column", "name": f"c`{RED}`", "summary": HOSTILE}]},
        }
    )
    return decision.model_copy(
        update={"model": HOSTILE, "summary": f"{MARKUP}\n{FORGED}", "gates": [gate, *rest]}
    )


def test_the_decision_render_is_inert(hostile: Decision) -> None:
    c, out = console(terminal=True, width=400)
    render(hostile, c)
    text = out.getvalue()
    plain = "".join(part.split("m", 1)[-1] for part in text.split("\x1b["))  # drop our SGRs
    inert(plain)
    assert SHOWN in plain
    assert "\x1b]" not in text and RED not in text  # only Rich's own SGR sequences


def test_the_markdown_report_is_inert(hostile: Decision) -> None:
    md = render_markdown(hostile)
    inert(md.replace("\\[", "[").replace("\\]", "]").replace("\\\\", "\\"))
    assert md.startswith(
        "## ⏳ clearance: m\\[bold green\\]ALLOW\\[/\\]\\\\x1b\\[31mred\\\\x1b\\]8;;http://x"
    )
    assert not re.search(r"(?<!\\)[<>&]", md)  # nothing left for HTML
    assert "\\<img src=x\\> " in md and "\\&\\#x202e;" in md
    assert " \\`code\\` " in md and "\\| cell" in md
    assert "  - column `` c`\\x1b[31m` ``: " in md  # a code span the name cannot close
    assert sum(line.startswith("| ") for line in md.splitlines()) == len(hostile.gates) + 2


def test_the_junit_report_parses_and_is_inert(hostile: Decision) -> None:
    xml = render_junit(hostile)
    suite = ET.fromstring(xml.encode())  # a raw ESC is not XML: the whole report would be lost
    inert(xml)
    failure = next(suite.iter("failure"))
    assert failure.get("message", "").startswith(SHOWN)
    assert "remediation: run \\x1b]8;;http://x\\x1b\\this\\x1b[31m" in (failure.text or "")


def test_json_output_is_the_same_data_with_nothing_a_terminal_obeys(hostile: Decision) -> None:
    text = render_json(hostile)
    assert not {c for c in text if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0)}
    assert json.loads(text)["model"] == HOSTILE
    tricky = json.dumps({"n": "\x7f\x9b\u202e\u2028é"}, ensure_ascii=False)
    assert json_for_terminal(tricky) == '{"n": "\\u007f\\u009b\\u202e\\u2028é"}'
    assert json.loads(json_for_terminal(tricky)) == json.loads(tricky)


def test_server_log_lines_are_json_and_one_line() -> None:
    record = logging.LogRecord("clearance.api", logging.INFO, __file__, 1, HOSTILE, None, None)
    record.fields = {"model": HOSTILE}
    line = JsonFormatter().format(record)
    assert line.isascii() and line.isprintable()
    assert json.loads(line)["model"] == HOSTILE


# -- one place: every console is a SafeConsole ------------------------------------------------


def test_no_module_makes_a_console_of_its_own() -> None:
    """A plain rich Console would interpret markup and pass escapes: only terminal.py makes
    the one kind of console there is, so new code cannot forget."""
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "terminal.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                plain = name.endswith("Console") and name != "SafeConsole"
                assert not plain, f"{path.name}:{node.lineno}: {name}()"
                for kw in node.keywords:
                    literal = isinstance(kw.value, ast.Constant) and kw.value.value is True
                    assert not (kw.arg == "markup" and literal), f"{path.name}:{node.lineno}"


# -- through the command as users run it ----------------------------------------------------

MODEL = "credit-default"


def _policy(tmp: Path, *, remediation: str = "retrain") -> Path:
    doc = yaml.safe_load((EXAMPLE / "policy" / "gates.yaml").read_text())
    for gate in doc["gates"]:
        gate["remediation"] = remediation
    folder = tmp / "policy"
    folder.mkdir(parents=True)
    (folder / "gates.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (folder / "workflow.yaml").write_text((EXAMPLE / "policy" / "workflow.yaml").read_text())
    return folder


def _manifest(tmp: Path, **metrics: float) -> Path:
    src = EXAMPLE / "v7-pass"
    doc = yaml.safe_load((src / "manifest.yaml").read_text())
    doc["metrics"].update(metrics)
    here = tmp / "v7"
    here.mkdir(parents=True)
    for item in src.iterdir():
        if item.name != "manifest.yaml":
            (here / item.name).symlink_to(item)
    (here / "manifest.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return here / "manifest.yaml"


def _tamper(engine: Engine, old: str, new: str, reason: str) -> None:
    """Old or edited rows: what registration now refuses can still be in the database."""
    with engine.begin() as con:
        con.execute(
            text("UPDATE models SET name = :new WHERE name = :old"), {"new": new, "old": old}
        )
        con.execute(
            text(
                "UPDATE audit_events SET model = :new, subject = replace(subject, :was, :now) "
                "WHERE model = :old"
            ),
            {"new": new, "old": old, "was": f"model:{old}", "now": f"model:{new}"},
        )
        for table in ("requests", "approvals"):
            con.execute(text(f"UPDATE {table} SET reason = :r"), {"r": reason})
        rows = con.execute(
            text("SELECT seq, payload FROM audit_events WHERE model = :m"), {"m": new}
        )
        for seq, payload in list(rows):
            data = json.loads(payload)
            if "reason" in data:
                data["reason"] = reason
                con.execute(
                    text("UPDATE audit_events SET payload = :p WHERE seq = :s"),
                    {"p": json.dumps(data), "s": seq},
                )


def test_cli_output_is_inert_everywhere(tmp_path: Path) -> None:
    from clearance.adapters.clock import SystemClock
    from clearance.workspace import init_workspace

    root = tmp_path / "ws"
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "250"}
    for var in ("CLEARANCE_DB_URL", "CLEARANCE_USER", "CLEARANCE_URL"):
        env.pop(var, None)

    cli = Cli(env, cwd=tmp_path)

    def done(code: int, *args: str | Path) -> tuple[str, str]:
        ran = cli.fails(code, *args)
        assert "Traceback" not in ran.stderr
        return ran.stdout, ran.stderr

    # the setup goes through the API, with clean names; then the rows are edited
    ws = init_workspace(root, clock=SystemClock())
    team = {"alice": ["ml_engineer"], "bob": ["tech_lead"], "carol": ["model_owner"]}
    team["erin"] = ["policy_admin"]
    for name, roles in team.items():
        ws.registry.add_user(name, roles, actor="ops", operator=True)
    ws.registry.apply_policy(EXAMPLE / "policy", actor="erin")
    manifest = _manifest(tmp_path)
    ws.registry.register(manifest, actor="alice")
    first = ws.promotions.promote(MODEL, "7", "staging", actor="alice", reason="r").request
    ws.promotions.approve(first.id, actor="bob", reason="ok")
    second = ws.promotions.promote(MODEL, "7", "production", actor="alice", reason="r").request
    ws.promotions.approve(second.id, actor="carol", reason="ok")
    _tamper(ws.engine, MODEL, HOSTILE, f"because{RED}\n{FORGED}")
    ws.engine.dispose()

    checked = _policy(tmp_path / "c", remediation=f"retrain {MARKUP}{LINK}now\n{FORGED}")
    low = _manifest(tmp_path / "c", auc=0.5)
    md, junit = tmp_path / "report.md", tmp_path / "junit.xml"
    out = {
        "list": done(0, "request", "list"),
        "status": done(0, "status"),
        "history": done(0, "history", HOSTILE),
        "show": done(0, "request", "show", str(second.id)),
        "check": done(1, "check", "-p", checked, "-m", low, "--to", "production",
                      "--markdown", md, "--junit", junit),
        "error": done(2, "history", f"nope{RED}\nerror: forged"),
    }  # fmt: skip

    for name in ("list", "status", "history", "show", "check"):
        inert(out[name][0])
    listing = out["list"][0].splitlines()
    rows = [line for line in listing if line.startswith("│")]
    assert len(rows) == 2 and all(SHOWN in row for row in rows)  # one line per request
    assert "because\\x1b[31m\\n" in out["history"][0]  # the status title wraps: inert() above
    assert "because\\x1b[31m\\n" in out["show"][0]
    assert "retrain [bold green]ALLOW[/]\\x1b]8;;http://x\\x1b\\now\\n" in out["check"][0]
    err = out["error"][1]
    assert err.count("\n") == 1 and "nope\\x1b[31m\\nerror: forged" in err
    ET.parse(junit)
    assert "\x1b" not in md.read_text()
