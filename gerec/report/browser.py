"""Open the report in headless Chromium: every figure must decode, and a screenshot proves the page.

Needs Chromium (Debian: ``apt-get install chromium``) and Playwright's Python driver
(``pip install playwright``; no browser download — the system Chromium is used).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gerec.artifacts import atomic_file
from gerec.errors import GerecError

# Flags for a sandboxed, offline machine: no first-run UI, no background connections to
# Google's services (refused here, and slow to time out), no GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def check_in_browser(html_path: Path, screenshot: Path, chromium: str | None = None) -> dict[str, Any]:
    """Load ``html_path`` in headless Chromium; report each image's rendered size; save a full-page PNG.

    Raises if any image failed to decode (``naturalWidth == 0``), so a broken figure fails loudly.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise GerecError("the browser check needs Playwright: pip install playwright") from None
    executable = chromium or find_chromium()
    if executable is None:
        raise GerecError("the browser check needs Chromium: apt-get install chromium (or pass its path)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({alt: e.alt, complete: e.complete, width: e.naturalWidth, "
                       "height: e.naturalHeight}))")
            with atomic_file(screenshot) as tmp:
                tmp.write_bytes(page.screenshot(full_page=True, type="png"))
            title = page.title()
        finally:
            browser.close()
    broken = [img["alt"] for img in images if not img["complete"] or img["width"] == 0]
    if broken:
        raise GerecError(f"{len(broken)} of {len(images)} figures did not render in Chromium: {', '.join(broken)}")
    return {"title": title, "images": images, "screenshot": str(screenshot), "chromium": executable}
