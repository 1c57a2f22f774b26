"""A real Label Studio round trip with eqn as its ML backend (issue 27).

    python benchmarks/label_studio_roundtrip.py --ls-venv /path/to/venv-with-label-studio \
        [--out benchmarks/results/label_studio_roundtrip.md]

Starts Label Studio (its own virtual environment, SQLite, 127.0.0.1) and
``eqn serve --allow-training`` with the shipped model, then as Label Studio's users
would: signs up an owner and invites a second annotator, creates a personal access
token for eqn, creates a project with ``eqn label-studio-config``, connects eqn through
``POST /api/ml``, imports 60 tasks, has Label Studio fetch and store eqn's predictions,
posts annotations as both users, starts training (``POST /api/ml/ID/train``: Label
Studio's webhook to eqn, which fetches the annotations with the token), and checks that
the next predictions carry a new ``model_version``. Prints each step; exits 1 on the
first that fails.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SENTENCES = [
    ("Thank you so much for the flowers, they are lovely.", ["gratitude"]),
    ("I can't believe they cancelled the show again.", ["disappointment"]),
    ("What a fantastic goal, I'm jumping around the room!", ["excitement", "joy"]),
    ("I'm so nervous about my exam tomorrow.", ["nervousness"]),
    ("That is the dumbest thing I have read all week.", ["annoyance"]),
    ("I miss my grandmother every single day.", ["sadness"]),
    ("Wow, I did not see that twist coming!", ["surprise"]),
    ("Could you explain how this works?", ["curiosity"]),
    ("I'm proud of how far you have come.", ["pride", "admiration"]),
    ("Sorry, that was my mistake, I feel terrible.", ["remorse"]),
]
LOG: list[str] = []


def step(message: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {message}"
    LOG.append(line)
    print(line, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Session:
    """A browser-like session (cookies, CSRF) or a token client of Label Studio."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.auth: str | None = None

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def form(self, path: str, fields: dict[str, str]) -> str:
        self.opener.open(self.base + path, timeout=60).read()  # sets the CSRF cookie
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.csrf()}).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=60) as answer:
            return str(answer.geturl())

    def api(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json", "Referer": self.base}
        if self.auth:
            headers["Authorization"] = self.auth
        else:
            headers["X-CSRFToken"] = self.csrf()
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with self.opener.open(request, timeout=300) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None
        return json.loads(text) if text else None


def wait_for(url: str, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except (OSError, urllib.error.URLError):
            time.sleep(2)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s")


def roundtrip(args: argparse.Namespace, folder: Path) -> None:
    ls_port, eqn_port = free_port(), free_port()
    ls_base, eqn_base = f"http://127.0.0.1:{ls_port}", f"http://127.0.0.1:{eqn_port}"
    env = {**os.environ, "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "false"}
    env |= {"DJANGO_DB": "sqlite", "LABEL_STUDIO_BASE_DATA_DIR": str(folder / "ls")}
    # eqn runs on the same host: Label Studio refuses loopback ML backends unless told.
    env["SSRF_PROTECTION_ENABLED"] = env["USE_DEFAULT_BANNED_SUBNETS"] = "false"
    command = [str(args.ls_venv / "bin" / "label-studio"), "start", "--no-browser"]
    command += ["--port", str(ls_port), "--internal-host", "127.0.0.1"]
    command += ["--data-dir", str(folder / "ls")]
    label_studio = subprocess.Popen(
        command, env=env, stdout=(folder / "ls.log").open("w"), stderr=subprocess.STDOUT
    )
    servers = [label_studio]
    try:
        wait_for(ls_base + "/health", 600)
        step(f"Label Studio answered at {ls_base}")
        owner = Session(ls_base)
        owner.form("/user/signup", {"email": "owner@example.org", "password": "eqn-owner-pass1"})
        token = owner.api("POST", "/api/token/")
        key = token.get("token") or token.get("refresh")
        step("signed up the owner and created a personal access token for eqn")
        invite = owner.api("GET", "/api/invite")
        second = Session(ls_base)
        second.form(
            invite["invite_url"], {"email": "second@example.org", "password": "eqn-second-pass1"}
        )
        second_token = second.api("POST", "/api/token/")
        step("invited and signed up a second annotator")
        for session, pat in ((owner, key), (second, second_token.get("token"))):
            access = Session(ls_base).api("POST", "/api/token/refresh", {"refresh": pat})
            session.auth = f"Bearer {access['access']}"
        eqn_env = {**os.environ, "LABEL_STUDIO_URL": ls_base, "LABEL_STUDIO_API_KEY": key}
        eqn_serve = subprocess.Popen(
            [sys.executable, "-m", "eqn", "serve", "--port", str(eqn_port), "--allow-training",
             "--versions-dir", str(folder / "versions")],
            env=eqn_env, stdout=(folder / "eqn.log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        servers.append(eqn_serve)
        wait_for(eqn_base + "/health", 300)
        config = subprocess.run(
            [sys.executable, "-m", "eqn", "label-studio-config"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        project = owner.api(
            "POST", "/api/projects", {"title": "eqn round trip", "label_config": config}
        )
        step(f"created project {project['id']} with eqn label-studio-config")
        backend = owner.api(
            "POST", "/api/ml", {"url": eqn_base, "project": project["id"], "title": "eqn"}
        )
        step(f"connected eqn as ML backend {backend['id']} (Label Studio called /health, /setup)")
        tasks = [{"text": f"{text} ({i})"} for i in range(60) for text, _ in [SENTENCES[i % 10]]]
        owner.api("POST", f"/api/projects/{project['id']}/import", tasks)
        listed = owner.api("GET", f"/api/tasks?project={project['id']}&page_size=100")
        ids = [t["id"] for t in (listed["tasks"] if isinstance(listed, dict) else listed)]
        step(f"imported {len(ids)} tasks")
        first_version = fetch_predictions(owner, project["id"], ids)
        step(f"Label Studio stored eqn's predictions for {len(ids)} tasks: {first_version}")
        for number, task in enumerate(ids):
            text_labels = SENTENCES[number % 10][1]
            for session, chosen in ((owner, text_labels), (second, text_labels[:1])):
                result = [{"from_name": "emotion", "to_name": "text", "type": "choices",
                           "value": {"choices": chosen}}]  # fmt: skip
                session.api("POST", f"/api/tasks/{task}/annotations", {"result": result})
        step(f"posted {2 * len(ids)} annotations as two users")
        owner.api("POST", f"/api/ml/{backend['id']}/train", {})
        step("started training (POST /api/ml/ID/train)")
        deadline = time.time() + 1800
        time.sleep(5)
        while time.time() < deadline:
            busy = json.loads(urllib.request.urlopen(f"{eqn_base}/is_training", timeout=30).read())
            if not busy["is_training"]:
                break
            time.sleep(5)
        routes = re.findall(r'"(POST /(?:train|webhook)) ', (folder / "eqn.log").read_text())
        step(f"Label Studio called eqn's {', '.join(sorted(set(routes))) or 'no training route'}")
        versions = (folder / "versions" / "versions.jsonl").read_text().splitlines()
        step(f"training finished: {versions[-1][:300]}")
        second_version = fetch_predictions(owner, project["id"], ids[:5])
        if second_version == first_version:
            raise RuntimeError(f"the next predictions still carry {first_version}")
        step(f"the next predictions carry a new model_version: {second_version}")
    finally:
        for server in reversed(servers):
            server.terminate()
            server.wait(timeout=60)


def fetch_predictions(owner: Session, project: int, ids: list[int]) -> str:
    """Ask Label Studio to retrieve eqn's predictions for ``ids``; the stored version."""
    selected = {"all": False, "included": ids}
    owner.api(
        "POST",
        f"/api/dm/actions?id=retrieve_tasks_predictions&project={project}",
        {"selectedItems": selected},
    )
    task = owner.api("GET", f"/api/tasks/{ids[0]}")
    predictions = task.get("predictions") or []
    if not predictions:
        raise RuntimeError(f"task {ids[0]} has no stored prediction: {str(task)[:300]}")
    newest = max(predictions, key=lambda p: p.get("id", 0))
    return str(newest.get("model_version"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ls-venv", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    failed = None
    with tempfile.TemporaryDirectory(prefix="eqn-ls-") as tmp:
        try:
            roundtrip(args, Path(tmp))
        except Exception as error:  # reported as the failed step, with the servers' logs
            failed = f"{type(error).__name__}: {error}"
            step(f"FAILED: {failed}")
            for log in ("ls.log", "eqn.log"):
                path = Path(tmp) / log
                if path.is_file():
                    print(f"--- {log} (tail)\n" + path.read_text(errors="replace")[-3000:])
    if args.out:
        probe = "import importlib.metadata as m; print(m.version('label-studio'))"
        version = subprocess.run(
            [str(args.ls_venv / "bin" / "python"), "-c", probe],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        args.out.write_text(
            "# Label Studio round trip\n\nCommand: `python benchmarks/label_studio_roundtrip.py "
            f"--ls-venv VENV`; Label Studio {version} (SQLite); machine: {platform.machine()}, "
            f"{os.cpu_count()} CPU cores; the shipped model on the default runtime.\n\n```\n"
            + "\n".join(LOG)
            + "\n```\n"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
