"""The Locust web UI as a person uses it: Debian's Chromium driven by Selenium (chromedriver).

Opens the page of `make loadtest-ui` (class picker on), unticks the digits_pipeline users, names
the models in the custom parameters, starts, waits for gRPC and HTTP rows without failures, opens
the Triton tab and reads Triton's queue and compute for the chosen models, stops, downloads the
requests CSV and the Triton CSV. A screenshot of the Triton tab goes to reports/ (the README's
picture). A second run with a wrong gRPC host must show "cannot reach the server at ...".

`make test` installs chromium and chromium-driver (`make browser`); without them this file fails
and says how to install them, it does not skip.
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from pathlib import Path

import pytest


pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
serverkit = sys.modules["_serverkit"]  # loaded by tests/loadtest/conftest.py
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = ROOT / "reports" / "locust" / "triton_tab.png"
WAIT_S = 90  # a state the UI must reach (rows, tab content): polled, never slept


@pytest.fixture(scope="module")
def browser_binaries():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `make browser` (as root: apt-get install -y chromium "
                    "chromium-driver)")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture
def driver(browser_binaries, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser_binaries[0]
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1500,1000",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(browser_binaries[1]), options=opts)
    d.downloads = tmp_path / "downloads"
    d.downloads.mkdir()
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(d.downloads)})
    try:
        yield d
    finally:
        d.quit()


# -- what a person does in the page ----------------------------------------------------------
def wait(d, what, fn, timeout=WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(d, timeout, poll_frequency=0.5).until(lambda _d: fn())
    except Exception as exc:
        shot = SCREENSHOT.with_name(f"failed-{int(time.time())}.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(shot))
        raise AssertionError(f"the UI did not show {what} within {timeout} s (screenshot: {shot})") from exc


def click(d, el):
    d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", el)


def pick_classes(d, keep: set[str]):
    from selenium.webdriver.common.by import By

    rows = wait(d, "the user class picker", lambda: d.find_elements(By.XPATH, "//tbody/tr"))
    names = set()
    for row in rows:
        name = row.text.strip()
        names.add(name)
        box = row.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
        if box.is_selected() != (name in keep):
            click(d, box)
    assert keep <= names, f"the picker lists {sorted(names)}"
    for row in d.find_elements(By.XPATH, "//tbody/tr"):
        assert row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").is_selected() == (row.text.strip() in keep)


def fill(d, name: str, value: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = d.find_element(By.NAME, name)
    if not field.is_displayed():  # inside a collapsed accordion (custom parameters)
        for b in d.find_elements(By.XPATH, "//form//button[normalize-space()='Custom parameters']"):
            click(d, b)
        wait(d, f"the {name} field", field.is_displayed, timeout=10)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(value)
    assert field.get_attribute("value") == value


def open_tab(d, title: str):
    from selenium.webdriver.common.by import By

    tab = wait(d, f"the {title} tab", lambda: next(
        (t for t in d.find_elements(By.CSS_SELECTOR, "[role=tab]") if t.text.strip().lower() == title.lower()), None))
    click(d, tab)


def table(d) -> list[dict]:
    """The visible table of the current tab as dicts by column title (read in one script: the UI
    re-renders its tables every poll, so element handles go stale between two calls)."""
    heads, rows = d.execute_script("""
        const t = document.querySelector('table');
        if (!t) return [[], []];
        const text = (el) => el.innerText.trim();
        return [[...t.querySelectorAll('thead th')].map(text),
                [...t.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(text))];
    """)
    return [dict(zip(heads, cells)) for cells in rows if len(cells) == len(heads)]


def number(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return float("nan")


def start(d):
    from selenium.webdriver.common.by import By

    click(d, d.find_element(By.XPATH, "//form//button[@type='submit']"))


def test_a_person_runs_a_load_test_and_reads_tritons_split_in_the_triton_tab(lt_server, tmp_path, driver, locust_ui):
    from selenium.webdriver.common.by import By

    d = driver
    with locust_ui("--metrics-url", lt_server.metrics_url, "--class-picker") as base:
        d.get(base)
        pick_classes(d, {"ModelGrpcUser", "ModelHttpUser"})
        fill(d, "userCount", "4")
        fill(d, "spawnRate", "4")
        fill(d, "models", "linear,digits")
        start(d)

        # the statistics tab: gRPC and HTTP rows for both models, no failures
        want = {(t, f"{m}/1") for t in ("grpc", "http") for m in ("linear", "digits")}

        def rows_with_requests():
            rows = {(r.get("Type"), r.get("Name")): r for r in table(d)}
            ok = all(k in rows and number(rows[k].get("# Requests", "0")) > 0 for k in want)
            return rows if ok else None

        rows = wait(d, "gRPC and HTTP rows for linear and digits", rows_with_requests)
        assert all(number(rows[k]["# Fails"]) == 0 for k in want), rows

        # the Triton tab: Triton's own split for the chosen models, live
        open_tab(d, "Triton")

        def triton_rows():
            got = {r.get("Model"): r for r in table(d) if "Queue ms/req" in r}
            ok = all(m in got and number(got[m]["Queue ms/req"]) > 0 and number(got[m]["Compute ms/req"]) > 0
                     for m in ("linear", "digits"))
            return got if ok else None

        triton = wait(d, "Triton's queue and compute for linear and digits", triton_rows)
        for m in ("linear", "digits"):
            r = triton[m]
            assert number(r["Requests (Triton)"]) > 0 and number(r["Failures"]) == 0, r
            assert number(r["Batch size"]) >= 1.0 and number(r["Queue/compute (metrics)"]) > 0, r
            assert number(r["Locust avg ms (gRPC)"]) > 0 and number(r["Locust avg ms (HTTP)"]) > 0, r
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(SCREENSHOT))

        # stop, then download the reports a person keeps
        stop = wait(d, "the STOP button", lambda: next(
            (b for b in d.find_elements(By.TAG_NAME, "button") if b.text.strip().upper() == "STOP"), None))
        click(d, stop)
        wait(d, "the STOPPED state", lambda: "STOPPED" in d.find_element(By.TAG_NAME, "body").text.upper())
        open_tab(d, "Download Data")
        for title in ("Download requests CSV", "Download Triton statistics CSV"):
            link = wait(d, f"the '{title}' link", lambda: next(
                (a for a in d.find_elements(By.TAG_NAME, "a") if a.text.strip() == title), None))
            click(d, link)

        def downloads():
            done = [p for p in d.downloads.glob("*.csv")]
            return done if len(done) == 2 and not list(d.downloads.glob("*.crdownload")) else None

        files = wait(d, "two downloaded CSV files", downloads, timeout=30)
        by_kind = {("triton" if "triton" in p.name else "requests"): list(csv.DictReader(open(p))) for p in files}
        names = {(r["Type"], r["Name"]) for r in by_kind["requests"]}
        assert want <= names, names
        assert {r["model"] for r in by_kind["triton"]} >= {"linear", "digits"}, by_kind["triton"]
        assert all(float(r["queue_ms"]) > 0 and float(r["compute_ms"]) > 0
                   for r in by_kind["triton"] if r["model"] in ("linear", "digits"))
        shutil.copy(SCREENSHOT, tmp_path / "triton_tab.png")  # kept with the test's files too


def test_a_wrong_grpc_host_is_shown_as_unreachable_in_the_failures_tab(lt_server, tmp_path, driver, locust_ui):
    from selenium.webdriver.common.by import By

    port = serverkit.free_port()  # nothing listens there
    d = driver
    with locust_ui("--metrics-url", lt_server.metrics_url, "--class-picker") as base:
        d.get(base)
        pick_classes(d, {"ModelGrpcUser"})
        fill(d, "grpcHost", f"localhost:{port}")
        start(d)
        open_tab(d, "Failures")
        body = wait(d, "the failure of the wrong gRPC host", lambda: next(
            (r for r in table(d) if f"cannot reach the server at localhost:{port}" in " ".join(r.values())), None))
        assert "ModelNotFound" not in " ".join(body.values()), body
        open_tab(d, "Triton")
        note = wait(d, "the Triton tab's note", lambda: next(
            (r for r in table(d) if "cannot reach the server at" in r.get("Note", "")), None))
        assert f"localhost:{port}" in note["Note"], note
