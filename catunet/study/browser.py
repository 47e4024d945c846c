"""The web page driven as a person would use it, in a real headless
browser: Debian's ``chromium`` through Playwright (its own browser
downloads are not needed; ``executable_path`` points at the system one).

Used by the browser test and by ``catunet.study.serve_report`` (the
README's screenshot).
"""

import contextlib
import os
import shutil
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_MS = 60_000


def find_chromium():
    """The browser's executable: $CATUNET_CHROMIUM, else the first on PATH;
    None when there is none."""
    if os.environ.get("CATUNET_CHROMIUM"):
        return os.environ["CATUNET_CHROMIUM"]
    for name in CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


@contextlib.contextmanager
def open_page(url, width=1100, height=900):
    """A Playwright page on ``url`` in headless chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=find_chromium(), headless=True,
            args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.wait_for_selector("#model:not(:has-text('Loading'))")
            yield page
        finally:
            browser.close()


def upload(page, paths):
    """Chooses ``paths`` in the page's file input and waits until each has
    its result card, done or failed; returns the cards, newest first."""
    before = page.locator(".result").count()
    page.set_input_files("#file-input", [str(p) for p in paths])
    expected = before + len(paths)
    page.wait_for_function(
        "n => document.querySelectorAll('.result[data-status=done], "
        ".result[data-status=error]').length >= n", arg=expected)
    return page.locator(".result")


def download(page, link, folder):
    """Clicks a download link; returns the saved file's path."""
    with page.expect_download() as info:
        link.click()
    target = Path(folder) / info.value.suggested_filename
    info.value.save_as(target)
    return target
