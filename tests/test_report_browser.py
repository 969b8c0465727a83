"""The report in a real browser: headless Chromium draws every figure, logs no errors, fetches nothing.

Needs Debian's `chromium` + `chromium-driver` and selenium. Skipped when Chromium is absent,
unless ARCHBENCH_REQUIRE_BROWSER is set (CI sets it, so a missing browser fails there).
A screenshot is saved to test-artifacts/report.png.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from test_report import write_results

from suite.report import html as report

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"


def _binary() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM) if p), None)


def _require() -> None:
    missing = [name for name, found in (("chromium", _binary()), (DRIVER, shutil.which(DRIVER))) if not found]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if not missing:
        return
    message = f"headless browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("ARCHBENCH_REQUIRE_BROWSER"):
        pytest.fail(message + "; ARCHBENCH_REQUIRE_BROWSER is set")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _require()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _binary()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1440,2200",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which(DRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    """The synthetic report opened from file://, once all figures are drawn."""
    folder = write_results(tmp_path_factory.mktemp("results") / "run")
    out = report.write_report([folder], folder / "report.html")
    browser.get(out.resolve().as_uri())
    _wait_for_figures(browser)
    return browser


def _wait_for_figures(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script(
            "var divs = document.querySelectorAll('div[data-figure]');"
            "return divs.length > 0 && Array.prototype.every.call(divs, function (d) {"
            "  return d.querySelector('.main-svg') !== null; });"
        )
    )


def test_every_figure_renders(page):
    total, drawn, traces = page.execute_script(
        "var divs = Array.prototype.slice.call(document.querySelectorAll('div[data-figure]'));"
        "return [divs.length, divs.filter(function (d) { return d.querySelector('.main-svg'); }).length,"
        "        divs.map(function (d) { return (d.data || []).length; })];"
    )
    assert total >= 6
    assert drawn == total
    assert all(n > 0 for n in traces), traces


def test_console_has_no_errors(page):
    logs = page.get_log("browser")
    severe = [entry for entry in logs if entry["level"] == "SEVERE"]
    assert not severe, severe


def test_no_network_requests(page):
    urls = []
    for entry in page.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    # chrome:// is the browser's own start page; anything that leaves the machine is a failure
    remote = [u for u in urls if u.split(":", 1)[0].lower() in ("http", "https", "ws", "wss", "ftp")]
    assert any(u.startswith("file:") and u.endswith("report.html") for u in urls), "the log saw the page load"
    assert not remote, remote


def test_names_render_as_text_and_nothing_ran(page):
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.text  # noqa: B018 - an injected <script>alert(1)</script> would have opened one
    names = page.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#board .vname'), "
        "function (e) { return e.textContent; });"
    )
    assert "<script>alert(1)</script>" in names
    alerts = page.execute_script("return document.querySelectorAll('body script:not([type])').length")
    assert alerts == 2, "plotly.js and the report's own script, nothing injected"


def test_leaderboard_sorts_and_filters(page):
    from selenium.webdriver.common.by import By

    header = page.find_element(By.CSS_SELECTOR, "#board thead th[title^='bits_per_byte']")
    header.click()
    values = page.execute_script(
        "var i = Array.prototype.indexOf.call(arguments[0].parentNode.children, arguments[0]);"
        "return Array.prototype.map.call(document.querySelectorAll('#board tbody tr'), function (r) {"
        "  return r.children[i].getAttribute('data-sort'); });",
        header,
    )
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers) and values[-1] == "", "ascending, missing/failed last"
    box = page.find_element(By.ID, "board-filter")
    box.send_keys("ladder/")
    visible = page.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('table.board.sortable tbody tr'),"
        " function (r) { return !r.hidden; }).map(function (r) { return r.getAttribute('data-variant'); });"
    )
    assert len(visible) == 5 and all(v.startswith("ladder/") for v in visible), "the filter acts on every board"
    box.clear()
    page.execute_script("document.getElementById('board-filter').dispatchEvent(new Event('input'))")


def test_variant_card_opens_on_a_diff(page):
    from selenium.webdriver.common.by import By

    card = page.find_element(By.CSS_SELECTOR, "details.vcard[data-variant='ladder/02-rope']")
    summary = card.find_element(By.TAG_NAME, "summary")
    page.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", summary
    )  # clear of the sticky bar
    summary.click()
    rows = card.find_elements(By.CSS_SELECTOR, "table.diff tbody tr")
    assert rows and rows[0].is_displayed()
    assert "position" in card.text and "rope" in card.text


def test_screenshot(page):
    """The whole page, fresh (unsorted, unscrolled) with two cards open, as a CI artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.refresh()
    _wait_for_figures(page)
    page.execute_script(
        "document.querySelectorAll('details.vcard').forEach(function (d, i) { d.open = i === 2 || i === 5; });"
    )
    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1440, min(height + 200, 16000))
    time.sleep(1)  # plotly redraws its responsive figures after the resize
    page.execute_script("window.scrollTo(0, 0)")
    path = ARTIFACTS / "report.png"
    assert page.save_screenshot(str(path))
    assert path.stat().st_size > 50_000
