"""The README's curl examples, run as written against a real Hub.

Every ```bash block of README.md that runs ``curl`` is run with bash, in the README's
order, against one Hub started from the project's jupyterhub_config.py, the service
managed by it and the example templates loaded. The blocks are one story, as a reader
in one terminal follows it: the shell variables a block sets (``HUB``, ``SVC``, ``ID``)
are there in the next ones, and files (the template uploaded) stay in one working
folder. What the test changes in the text: ``HUB`` is this Hub's address instead of the
demo's, ``TOKEN`` is a test user's token (carol's, a holder of
``custom:templates:admin``, for a block that says it needs that scope; alice's
otherwise), ``ADMIN_TOKEN`` the Hub admin's, and ``AUTH`` is computed again from
``TOKEN`` before each block with the README's own line.

``curl`` is a shell function that runs the real curl (``-sS``, the status written out
apart from the answer) and fails the block on any status that is not 2xx. Where the
README shows an answer in a ``# →`` comment after a command (or at the end of its
line), that command must answer the status it names, with every field it names.

Stand-ins for what the test machine lacks: the notification example names a webhook at
hooks.example.org and an e-mail address; the service is configured to allow them (its
``jupyterhub_templates_config.py``) with an SMTP server of the test's own (aiosmtpd).
The example asks for notifications of failures only and its run succeeds, so nothing is
sent to either, which the last test checks. The runs log to a real MLflow tracking
server (tests/fixtures/mlflow.py), as the demo's do; they go to the users' default
servers (no run server, which tests/test_run_server.py covers).

The blocks depend on one another: run the module as a whole.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from fixtures.hub import ROOT, Hub, clean_env, free_port, start_managed_hub, stop_process
from fixtures.secrets_watch import WATCH
from secrets_scan import presigned_credential

from jupyterhub_templates.statuses import FINAL

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
#: the demo's address, as the README's first API block sets it
DEMO_HUB_LINE = "HUB=http://127.0.0.1:8000"
#: a block that names this scope needs a token that holds it
ADMIN_SCOPE = "custom:templates:admin"
#: the test users: a holder of the admin scope (not a Hub admin), a user, a Hub admin
SCOPE_HOLDER, USER, HUB_ADMIN = "carol", "alice", "admin"
#: the longest one block may take (the in-place run waits for its end)
BLOCK_TIMEOUT = 300
#: the longest the story's runs may take to end once every block has run
RUNS_TIMEOUT = 300

#: what each block runs before its own text: the curl wrapper, and the story's variables
#: (those of the blocks before it, and its own kept for the next ones, even if it fails)
PRELUDE = r"""
set -euo pipefail
shopt -s inherit_errexit
__baseline=$(compgen -v)
EXPECT_NEXT=
curl() {
  # an expectation set just before a command is that command's, not its substitutions'
  local want=- rec rc=0 status
  if [ "$BASH_SUBSHELL" -eq 0 ]; then want=${EXPECT_NEXT:--}; EXPECT_NEXT=; fi
  rec=$(mktemp "$README_CALLS/call-$(date +%s%N)-XXXXXX")
  printf '%s\n' "$@" > "$rec.args"
  command curl -sS -w '%{stderr}\n@@status %{http_code}\n' "$@" >"$rec.body" 2>"$rec.err" \
    || rc=$?
  status=$(sed -n 's/^@@status //p' "$rec.err" | tail -n 1)
  grep -v -e '^@@status ' -e '^$' "$rec.err" >&2 || true
  cat "$rec.body"
  printf '%s\n%s\n%s\n' "$want" "${status:-000}" "$rc" > "$rec.meta"
  if [ "$rc" -ne 0 ]; then return "$rc"; fi
  case "$status" in 2??) return 0 ;; esac
  echo "curl: HTTP $status" >&2
  return 22
}
__keep_variables() {
  local __name
  for __name in $(compgen -v); do
    case $__name in __*|AUTH|EXPECT_NEXT|BASH*|FUNCNAME|PIPESTATUS|_) continue ;; esac
    grep -qxF "$__name" <<<"$__baseline" || declare -p "$__name"
  done > "$README_STATE.new"
  mv "$README_STATE.new" "$README_STATE"
}
trap __keep_variables EXIT
if [ -f "$README_STATE" ]; then source "$README_STATE"; fi
"""


@dataclass
class Expectation:
    """The answer a ``# →`` comment shows for one command."""

    command: str
    status: int
    fields: list[str]


@dataclass
class Block:
    number: int
    heading: str
    text: str
    expectations: list[Expectation] = field(default_factory=list)

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"{self.number:02d}-{slug}"

    @property
    def user(self) -> str:
        return SCOPE_HOLDER if ADMIN_SCOPE in self.text else USER


def _code_part(line: str, in_quote: str | None) -> tuple[str | None, bool]:
    """The quote (``'`` or ``"``) still open at the end of ``line`` given the one open at
    its start, and whether the line ends in a comment."""
    previous = " "
    for char in line:
        if in_quote is None and char == "#" and previous.isspace():
            return None, True
        if char in "'\"" and (in_quote is None or in_quote == char):
            if not (char == '"' and previous == "\\"):
                in_quote = None if in_quote == char else char
        previous = char
    return in_quote, False


def instrument(text: str) -> tuple[str, list[Expectation]]:
    """The block with ``EXPECT_NEXT=<n>`` before each top-level curl command whose answer
    the README shows in a ``# →`` comment, and those expectations."""
    lines = text.splitlines()
    out: list[str] = []
    expectations: list[Expectation] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("curl "):
            out.append(lines[i])
            i += 1
            continue
        start, quote = i, None
        while True:
            quote, commented = _code_part(lines[i], quote)
            if quote is None and (commented or not lines[i].endswith("\\")):
                break
            assert i + 1 < len(lines), f"the command {lines[start]!r} does not end"
            i += 1
        command = lines[start : i + 1]
        comment = lines[i].split("# →", 1)[1] if "# →" in lines[i] else ""
        below = i + 1
        if not comment and below < len(lines) and lines[below].startswith("# →"):
            comment = lines[below].removeprefix("# →")
            below += 1
            while below < len(lines) and re.match(r"#\s{2,}\S", lines[below]):
                comment += lines[below][1:]
                below += 1
        if comment:
            status = re.match(r"\s*(\d{3})\b", comment)
            assert status, f"no status in the answer shown for {command[0]!r}: {comment!r}"
            expectations.append(
                Expectation("\n".join(command), int(status[1]), re.findall(r'"(\w+)":', comment))
            )
            out.append(f"EXPECT_NEXT={len(expectations) - 1}")
        out.extend(command)
        i += 1
    return "\n".join(out) + "\n", expectations


def readme_blocks() -> list[Block]:
    """The README's bash blocks that run curl, in order, with the heading above each."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"^```bash\n(.*?)^```[ \t]*$", text, re.M | re.S):
        body = match[1]
        if not re.search(r"(^|\$\()curl ", body, re.M):
            continue
        prose = re.sub(r"^```.*?^```", "", text[: match.start()], flags=re.M | re.S)
        # the section's heading, or the bold lead of a paragraph of it ("**Retries.**")
        headings = re.findall(r"^(?:#+ (.+)|\*\*([^*]+)\*\*)", prose, re.M)
        heading = next(part for part in headings[-1] if part)
        script, expectations = instrument(body)
        blocks.append(Block(len(blocks) + 1, heading, script, expectations))
    return blocks


BLOCKS = readme_blocks()


def test_the_readme_has_its_examples() -> None:
    """The selection finds the API's examples, and the parser the answers they show."""
    assert len(BLOCKS) >= 8, [b.id for b in BLOCKS]
    definitions = [b for b in BLOCKS if DEMO_HUB_LINE in b.text.splitlines()]
    assert [b.number for b in definitions] == [1], "the first API block sets HUB"
    assert sum(len(b.expectations) for b in BLOCKS) >= 15


def auth_line() -> str:
    """The README's definition of AUTH (from TOKEN)."""
    lines = [line for b in BLOCKS for line in b.text.splitlines() if line.startswith("AUTH=")]
    assert len(lines) == 1, lines
    assert "$TOKEN" in lines[0]
    return lines[0]


class Mailbox:
    """An SMTP server (aiosmtpd) that keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@dataclass
class Story:
    hub: Hub
    workdir: Path
    state: Path
    mailbox: Mailbox


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, mlflow_server: Any) -> Iterator[Story]:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"the README's examples need {tool}: apt-get install {tool}")
    mailbox = Mailbox()
    mailbox.controller.start()
    hub_dir = tmp_path_factory.mktemp("readme-hub")
    webhook_secret = secrets.token_hex(24)
    # the managed service's working folder is the Hub's: it reads this file at start
    (hub_dir / "jupyterhub_templates_config.py").write_text(
        f"c.Notifier.webhook_secret = {webhook_secret!r}\n"
        'c.Notifier.webhook_hosts = ["hooks.example.org"]\n'
        'c.Notifier.smtp_host = "127.0.0.1"\n'
        f"c.Notifier.smtp_port = {mailbox.port}\n"
    )
    try:
        hub = start_managed_hub(
            hub_dir,
            extra_env={
                "JUPYTERHUB_TEMPLATES_LOAD_EXAMPLES": "1",
                "JUPYTERHUB_TEMPLATES_MLFLOW": "1",
                "JUPYTERHUB_TEMPLATES_MLFLOW_TRACKING_URI": mlflow_server.url,
            },
        )
    except BaseException:
        mailbox.controller.stop()
        raise
    WATCH.add_secret(hub, "webhook secret", webhook_secret)
    workdir = tmp_path_factory.mktemp("readme-reader")
    try:
        yield Story(hub, workdir, workdir.parent / f"{workdir.name}.state", mailbox)
    finally:
        stop_process(hub.proc)
        mailbox.controller.stop()


def redact(hub: Hub, text: str) -> str:
    for token in (*hub.tokens.values(), hub.harness_token, hub.service_token):
        text = text.replace(token, "<token>")
    return text


def json_fields(value: Any) -> set[str]:
    """Every key of ``value``'s objects, at any depth."""
    if isinstance(value, dict):
        return set(value).union(*(json_fields(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(json_fields(v) for v in value))
    return set()


@dataclass
class Call:
    expectation: int | None
    status: int
    args: str
    body: bytes


def calls_in(folder: Path) -> list[Call]:
    calls = []
    for meta in sorted(folder.glob("*.meta")):
        want, status, _rc = meta.read_text().split("\n")[:3]
        stem = meta.with_suffix("")
        calls.append(
            Call(
                None if want == "-" else int(want),
                int(status),
                " ".join(stem.with_suffix(".args").read_text().split()),
                stem.with_suffix(".body").read_bytes(),
            )
        )
    return calls


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block(story: Story, block: Block) -> None:
    hub = story.hub
    text = block.text
    if block.number == 1:
        assert text.count(DEMO_HUB_LINE + "\n") == 1
        text = text.replace(DEMO_HUB_LINE + "\n", f"HUB={hub.url}\n")
    calls_dir = story.workdir.parent / f"{story.workdir.name}-calls-{block.number:02d}"
    calls_dir.mkdir()
    script = calls_dir / "block.sh"
    script.write_text(PRELUDE + auth_line() + "\n" + text)
    env = clean_env()
    env.update(
        TOKEN=hub.tokens[block.user],
        ADMIN_TOKEN=hub.tokens[HUB_ADMIN],
        README_CALLS=str(calls_dir),
        README_STATE=str(story.state),
    )
    result = subprocess.run(
        ["bash", str(script)],
        cwd=story.workdir,
        env=env,
        capture_output=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    output = redact(
        hub,
        f"--- stdout\n{result.stdout.decode(errors='replace')[-6000:]}\n"
        f"--- stderr\n{result.stderr.decode(errors='replace')[-3000:]}",
    )
    calls = calls_in(calls_dir)
    scanner = WATCH.hubs[hub.dir].scanner()
    for call in calls:
        found = scanner.scan_bytes(f"README block {block.id}", call.body)
        WATCH.findings += [f for f in found if not presigned_credential(f)]
    assert result.returncode == 0, f"block {block.id} as {block.user} failed:\n{output}"
    assert calls, f"block {block.id} made no request"
    for call in calls:
        assert 200 <= call.status < 300, redact(hub, f"{call.status} for {call.args}")
    for number, expectation in enumerate(block.expectations):
        answered = [c for c in calls if c.expectation == number]
        assert len(answered) == 1, f"{expectation.command!r} ran {len(answered)} times"
        call = answered[0]
        assert call.status == expectation.status, redact(hub, f"{call.args}: {call.status}")
        if expectation.fields:
            missing = set(expectation.fields) - json_fields(json.loads(call.body))
            assert not missing, f"{expectation.command!r} answered without {sorted(missing)}"


def test_the_runs_of_the_story_end_well(story: Story) -> None:
    """Once every block has run, each run the README started ends (bounded wait): none
    failed, so no notification went out (the example asks for failures only), and
    the Hub's log (with the service's and the users' servers') has no error."""
    hub = story.hub
    headers = {"Authorization": f"token {hub.tokens[HUB_ADMIN]}"}
    deadline = time.monotonic() + RUNS_TIMEOUT
    while True:
        r = requests.get(
            hub.service_url + "executions",
            params={"all": "true", "limit": 500},
            headers=headers,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        executions = r.json()["executions"]
        if all(e["status"] in FINAL for e in executions):
            break
        assert time.monotonic() < deadline, [(e["execution_id"], e["status"]) for e in executions]
        time.sleep(1)
    statuses = {e["execution_id"]: e["status"] for e in executions}
    assert len(statuses) >= 6, statuses  # the runs of "Notebooks from templates" on
    assert "failed" not in statuses.values(), [e for e in executions if e["status"] == "failed"]
    assert "cancelled" in statuses.values(), statuses
    notified = [e["execution_id"] for e in executions if e["notify"]]
    assert notified, "the notification example's run"
    for execution_id in notified:
        r = requests.get(
            f"{hub.service_url}execution/{execution_id}/notifications",
            headers=headers,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["notifications"] == [], r.text  # neither to the webhook nor by e-mail
    assert story.mailbox.messages == []
    errors = [
        line
        for line in hub.log.read_text(errors="replace").splitlines()
        if line.startswith("[E ") or "Traceback" in line
    ]
    assert not errors, redact(hub, "\n".join(errors[:20]))
