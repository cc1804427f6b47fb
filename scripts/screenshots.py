"""Screenshots of zhisuan's main pages at 1440×900 for docs/screenshots/ (a script, not a test).

It loads the demo province into a fresh data directory (``zhisuan demo --no-serve``), starts
``zhisuan serve`` on a free local port, logs in as each role with Debian's chromium driven by Playwright
and writes one PNG per page. Chinese text needs a CJK font: ``apt-get install fonts-noto-cjk`` (.ci/run
installs it beside chromium). Nothing is fetched from outside the machine.

    python scripts/screenshots.py            # all pages, into docs/screenshots/
    python scripts/screenshots.py --lang en  # the English pages (file names end in -en)
    python scripts/screenshots.py --base http://127.0.0.1:8000  # an already running demo server
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/e2e/browser.py starts the server and knows chromium's flags

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, running_server  # noqa: E402

DEMO_PASSWORD = "zhisuan-demo"  # noqa: S105  (the demo's published password) every demo account's but the administrator's (see zhisuan demo)
PASSWORDS: dict[str, str] = {"admin": os.environ.get("ZHISUAN_ADMIN_PASSWORD", "")}

#: (file name, login or None, path) — the main page of each role, then the public pages
PAGES: tuple[tuple[str, str | None, str], ...] = (
    ("home-public", None, "/"),
    ("centers", None, "/centers"),
    ("policy", None, "/policy"),
    ("home-user", "xinghe", "/"),
    ("jobs", "xinghe", "/jobs"),
    ("vouchers", "xinghe", "/billing/vouchers"),
    ("home-operator", "op-hf-chaohu", "/"),
    ("home-city", "hefei", "/"),
    ("applications-city", "hefei", "/awards/applications"),
    ("home-province", "province", "/"),
    ("dashboard", "province", "/dashboard"),
    ("home-finance", "finance", "/"),
    ("burn", "finance", "/billing/burn"),
    ("home-data-bureau", "databureau", "/"),
    ("home-admin", "admin", "/"),
    ("audit", "admin", "/audit"),
    ("opendata", None, "/opendata"),
    ("opendata-bulletins", None, "/opendata/bulletins"),
    ("registries", None, "/registries"),
    ("scenario-bulletins", None, "/bulletins"),
)


@contextlib.contextmanager
def demo_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="zhisuan-shots-") as tmp:
        data = Path(tmp)
        env = os.environ | {"ZHISUAN_DATA_DIR": str(data), "ZHISUAN_ADMIN_PASSWORD": DEMO_PASSWORD}
        env.pop("ZHISUAN_DATABASE_URL", None)
        done = subprocess.run(
            [sys.executable, "-m", "zhisuan", "demo", "--no-serve"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        found = re.search(r"admin login: admin / (\S+)", done.stdout)
        if found:
            PASSWORDS["admin"] = found.group(1)
        with running_server(data) as base:
            yield base


def shoot(base: str, out: Path, lang: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        sessions: dict[str | None, object] = {}
        for name, login, path in PAGES:
            context = sessions.get(login)
            if context is None:
                context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
                page = context.new_page()
                page.goto(f"{base}/?lang={lang}")
                if login is not None:
                    page.goto(f"{base}/login")
                    page.fill("input[name=username]", login)
                    page.fill("input[name=password]", PASSWORDS.get(login) or DEMO_PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_load_state("networkidle")
                page.close()
                sessions[login] = context
            page = context.new_page()  # type: ignore[attr-defined]
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(800)  # let ECharts finish its entry animation
            target = out / f"{name}{'' if lang == 'zh' else '-' + lang}.png"
            page.screenshot(path=str(target))
            page.close()
            written.append(target)
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--lang", choices=("zh", "en"), default="zh")
    parser.add_argument("--base", help="a running demo server's URL (default: load the demo and start one)")
    args = parser.parse_args()
    if args.base:
        written = shoot(args.base.rstrip("/"), args.out, args.lang)
    else:
        with demo_server() as base:
            written = shoot(base, args.out, args.lang)
    for path in written:
        sys.stdout.write(f"{path}\n")


if __name__ == "__main__":
    main()
