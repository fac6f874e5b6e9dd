"""Offline, proven (#20): every stage runs inside a network namespace with no way out (``unshare -n``: only a
loopback device, down), on the tiny model, from a fresh exports folder: the index build, the agent with retrieval
and a trace, a profile, an evaluation of two queries and each stage of the demo at its smallest.

Failing loudly is not the only way to need the network, so each command also runs with Python's audit hook
recording every DNS lookup and internet connect it tries (a download whose failure is swallowed is caught too),
without HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE / ORT_DISABLE_TELEMETRY in its environment (the workbench must
set what it needs itself), and with a throwaway HOME, so a library that keeps phoning-home state under
~/.cache (onnxruntime's telemetry did) shows up.

Needs ``unshare`` (util-linux) and root, or unprivileged user namespaces; CI runs as root. Elsewhere the tests
skip and say why; REQUIRE_UNSHARE=1 turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TIMEOUT = 600  # per command; the whole module takes about 3 minutes on 2 cores

# Runs before the workbench is imported: records each attempt to reach another machine in $WB_NET_LOG.
AUDIT = r"""
import os, socket, sys
_log = os.environ["WB_NET_LOG"]
def _hook(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        pass
    elif event in ("socket.connect", "socket.sendto") and getattr(args[0], "family", None) in (
            socket.AF_INET, socket.AF_INET6):
        args = args[1:]
    else:
        return
    with open(_log, "a") as f:
        f.write(f"{event} {args!r}\n")
sys.addaudithook(_hook)
"""
CLI = AUDIT + "from workbench.cli import main\nsys.exit(main(sys.argv[1:]))\n"

# Proves the namespace is shut: no interface but loopback, and neither a connect nor a DNS lookup gets out.
PROBE = r"""
import json, socket
out = {"interfaces": [name for _, name in socket.if_nameindex()]}
try:
    socket.create_connection(("1.1.1.1", 80), timeout=5).close()
    out["connect"] = "connected"
except OSError as e:
    out["connect"] = f"{type(e).__name__}: {e}"
try:
    socket.getaddrinfo("pypi.org", 443)
    out["dns"] = "resolved"
except OSError as e:
    out["dns"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""

DEMO = AUDIT + r"""
from workbench.demo import SMALLEST, run_demo
print(run_demo("tiny-llama", sys.argv[1], size=SMALLEST))
"""


def _unshare() -> list[str]:
    """The command prefix that enters a fresh network namespace, or a skip saying why there is none."""
    def skip(reason: str):
        if os.environ.get("REQUIRE_UNSHARE") == "1":
            pytest.fail(f"{reason} (REQUIRE_UNSHARE=1)")
        pytest.skip(f"{reason}; the offline tests need a network namespace (CI runs them as root)")

    if not sys.platform.startswith("linux"):
        skip(f"network namespaces are Linux only (this is {sys.platform})")
    if shutil.which("unshare") is None:
        skip("`unshare` not found (util-linux)")
    errors = []
    # root: a plain network namespace; otherwise a user namespace mapping us to root, where the kernel allows it
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):
        try:
            r = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append(f"`{' '.join(prefix)} true`: {e}")
            continue
        if r.returncode == 0:
            return prefix
        errors.append(f"`{' '.join(prefix)} true` exited {r.returncode}: {r.stderr.strip() or 'no message'}")
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}, not root"
    skip(f"cannot enter a network namespace as {who} (no privilege, or seccomp forbids unshare): "
         + "; ".join(errors))


class Offline:
    """Runs commands inside the namespace with a fresh exports folder, HOME and network-attempt log."""

    def __init__(self, prefix: list[str], root: Path):
        from workbench import paths

        self.prefix, self.root = prefix, root
        self.exports, self.home, self.log = root / "exports", root / "home", root / "net.log"
        self.home.mkdir()
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME",
                            "HF_HOME", "PYTHONSTARTUP")}
        env.update(WORKBENCH_EXPORTS=str(self.exports), WORKBENCH_MODEL="tiny-llama", HOME=str(self.home),
                   WORKBENCH_CACHE=str(paths.cache_dir()),  # the shared model cache, read where it is
                   WB_NET_LOG=str(self.log), PYTHONUNBUFFERED="1")
        self.env = env
        self.seconds: dict[str, float] = {}

    def python(self, code: str, *args: str, label: str) -> subprocess.CompletedProcess:
        t0 = time.perf_counter()
        r = subprocess.run([*self.prefix, sys.executable, "-c", code, *args], env=self.env, cwd=self.root,
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.seconds[label] = time.perf_counter() - t0
        assert r.returncode == 0, f"{label} exited {r.returncode} offline:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
        self.assert_no_network_attempts(label)
        return r

    def workbench(self, *args: str) -> subprocess.CompletedProcess:
        return self.python(CLI, *args, label=f"workbench {args[0]}")

    def assert_no_network_attempts(self, label: str) -> None:
        tried = self.log.read_text() if self.log.exists() else ""
        assert not tried, f"{label} tried to reach the network (and would, online):\n{tried}"
        phoned = [str(p.relative_to(self.home)) for p in self.home.rglob("*")
                  if "microsoft" in p.name.lower() or "telemetry" in p.name.lower()]
        assert not phoned, f"{label} left telemetry state under HOME: {phoned}"


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    off = Offline(_unshare(), tmp_path_factory.mktemp("offline"))
    yield off
    print("\noffline seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in off.seconds.items()))


@pytest.fixture(scope="module")
def index(offline):
    return offline.workbench("index")


def test_the_namespace_has_no_network(offline):
    probe = json.loads(offline.python(PROBE, label="probe").stdout)
    assert set(probe["interfaces"]) <= {"lo"}, probe
    assert probe["connect"] != "connected" and probe["dns"] != "resolved", probe


def test_index_builds_offline(offline, index):
    folder = offline.exports / "indexes" / "knowledge"
    assert index.stdout.strip().endswith(str(folder)) and folder.is_dir()
    assert "chunks" in index.stderr


def test_agent_answers_with_retrieval_and_writes_its_trace(offline, index):
    trace = offline.root / "ask.jsonl"
    r = offline.workbench("ask", "My client with panic disorder avoids supermarkets. How should I plan exposure?",
                          "--trace", str(trace))
    assert r.stdout.strip()  # the answer
    spans = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len({s["trace_id"] for s in spans}) == 1 and all(s["status"] == "ok" for s in spans)
    assert spans[0]["name"] == "agent" and spans[0]["outputs"]["answer"].strip()
    names = [s["name"] for s in spans]
    assert {"screen_input", "retrieve", "facts", "draft", "screen_output"} <= set(names), names
    retrieve = next(s for s in spans if s["name"] == "retrieve")
    assert retrieve["kind"] == "retriever" and retrieve["outputs"]["cards"]
    assert all(c["text"] and c["card"] in retrieve["outputs"]["cards"] for c in retrieve["attributes"]["chunks"])
    facts = next(s for s in spans if s["name"] == "facts")
    assert facts["kind"] == "retriever" and facts["outputs"]["facts"]


def test_profile_offline(offline):
    out = offline.root / "profile"
    offline.workbench("profile", "--inventory", "bigfive_short", "--variants", "2", "--out", str(out))
    p = json.loads((out / "profile.json").read_text())
    assert p["model"] == "tiny-llama" and p["n_variants"] == 2 and len(p["traits"]) == 5
    assert (out / "responses.jsonl").read_text().strip()


def test_evaluate_two_queries_offline(offline, index):
    out = offline.root / "evaluation"
    offline.workbench("evaluate", "--configs", "base,rag", "--limit", "2", "--max-new-tokens", "16",
                      "--out", str(out))
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "done" and s["done"] == s["total"] == 4
    assert {c: v["n"] for c, v in s["configs"].items()} == {"base": 2, "rag": 2}
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 4 and all(r["response"] for r in results)


def test_demo_stages_offline(offline, index):
    out = offline.root / "demo"
    r = offline.python(DEMO, str(out), label="demo (smallest)")
    assert r.stdout.strip().endswith("report.html")
    html = (out / "report.html").read_text()
    for stage in ("1 · The small model", "2 · The agent loop", "3 · Comparison: base vs rag",
                  "4 · Psychometric profile: base vs prompted"):
        assert stage in html, stage
    assert "<script src=\"http" not in html  # plotly.js inlined: the report opens offline too
    spans = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    screen = next(s for s in spans if s["name"] == "screen_input")
    assert screen["outputs"]["risk"] and "escalation resources placed first" in html
    assert (out / "comparison" / "summary.json").is_file()
    assert set(json.loads((out / "profiles" / "comparison.json").read_text())["configs"]) == {"base", "prompted"}
