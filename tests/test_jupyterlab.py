"""A chapter in a real JupyterLab: run all cells, answer a multiple-choice question, move a widget.

JupyterLab is started on 127.0.0.1 (a free port, a random token, a copy of the chapter in a
temporary folder, its stored outputs and execution counts cleared so that every prompt number
seen comes from this run) and driven in the same headless Chromium as the book's browser test.
The chapter is 4.2 (the quickest one with both a question and a live explorer). Checks:

* every cell runs: each code cell gets an execution count and no cell shows an error;
* clicking an option of a multiple-choice question shows its feedback (✓ or ✗);
* moving the live slider of the explorer redraws its figure (another image).
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_book import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, REPO_ROOT, SCREENSHOTS

CHAPTER = "04_2_matching_networks.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, token) of a JupyterLab server on 127.0.0.1 serving a copy of the chapter."""
    folder = tmp_path_factory.mktemp("lab")
    notebook = json.loads((REPO_ROOT / "chapters" / CHAPTER).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    (folder / CHAPTER).write_text(json.dumps(notebook), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    log = open(folder / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )
    try:
        for _ in range(300):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(folder / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def driver():
    if os.environ.get("METALEARN_LITE_SKIP_BROWSER") == "1":
        pytest.skip("METALEARN_LITE_SKIP_BROWSER=1")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_script_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()


DIALOG = "(() => { const d = document.querySelector('.jp-Dialog'); return d && d.innerText.trim(); })()"


def fail_with_screenshot(driver, message: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "jupyterlab-failure.png"))
    pytest.fail(f"JupyterLab: {message} (screenshot in _build/screenshots/jupyterlab-failure.png)")


def wait_for(driver, script: str, timeout: float, what: str, dialogs_allowed: bool = False):
    """Poll a JavaScript expression until it is truthy; fail saying what did not happen.

    A JupyterLab dialog that opens meanwhile (a dead kernel, a kernel to select, a file changed on
    disk) fails at once with the dialog's text, unless `dialogs_allowed`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        if not dialogs_allowed and (dialog := driver.execute_script(f"return {DIALOG};")):
            fail_with_screenshot(driver, f"while waiting ({what}) a dialog opened: {dialog!r}")
        time.sleep(0.25)
    fail_with_screenshot(driver, f"{what} (within {timeout:.0f} s)")


IDLE = "document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')"


def kernel_ready(driver, timeout: float):
    """Wait until the notebook's kernel has started and is idle.

    On a slow machine JupyterLab can open the notebook before it has the list of kernels, and then
    asks "Select Kernel" with the notebook's own kernel preselected: answer it as a reader would
    (Select). Any other dialog fails with its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = driver.execute_script(f"return {DIALOG};")
        if dialog and dialog.startswith("Select Kernel"):
            driver.execute_script("document.querySelector('.jp-Dialog .jp-mod-accept').click()")
        elif dialog:
            fail_with_screenshot(driver, f"while the kernel started a dialog opened: {dialog!r}")
        elif driver.execute_script(f"return !!{IDLE};"):
            return
        time.sleep(0.25)
    fail_with_screenshot(driver, f"the kernel was not idle within {timeout:.0f} s")


def test_chapter_runs_and_reacts_in_jupyterlab(lab, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, token = lab
    driver.get(f"{base}/lab/tree/{CHAPTER}?token={token}")
    wait_for(driver, "document.querySelector('.jp-Notebook .jp-Cell') && "
             "document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-KernelStatus')", 90,
             "the notebook did not open", dialogs_allowed=True)
    kernel_ready(driver, timeout=180)
    expected = len([c for c in json.loads((REPO_ROOT / "chapters" / CHAPTER).read_text(encoding="utf-8"))["cells"]
                    if c["cell_type"] == "code"])
    wait_for(driver, f"document.querySelectorAll('.jp-CodeCell').length === {expected}", 60,
             f"the notebook did not show its {expected} code cells")
    # Run > Run All Cells, through the menu a reader would use
    driver.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')]//div[text()='Run']").click()
    run_all = "//li[contains(@class,'lm-Menu-item')]//div[contains(@class,'lm-Menu-itemLabel')][text()='Run All Cells']"
    wait_for(driver, f"document.evaluate(\"{run_all}\", document, null, 9, null).singleNodeValue", 10,
             "the Run menu did not open")
    driver.find_element(By.XPATH, run_all).click()
    cells = driver.execute_script("return document.querySelectorAll('.jp-CodeCell').length")
    wait_for(driver, "Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))"
             ".every(p => /\\[\\d+\\]/.test(p.textContent))", 240, f"not all {cells} code cells ran")
    errors = driver.execute_script("return document.querySelectorAll('.jp-OutputArea-output[data-mime-type="
                                   "\"application/vnd.jupyter.stderr\"] .ansi-red-fg, .jp-RenderedText[data-mime-type="
                                   "\"application/vnd.jupyter.error\"]').length")
    assert errors == 0, "a cell raised an error in JupyterLab"
    if dialog := driver.execute_script(f"return {DIALOG};"):
        fail_with_screenshot(driver, f"after running all cells a dialog is open: {dialog!r}")

    # a multiple-choice question: click an option, its feedback appears
    label = wait_for(driver, "document.querySelector('.ml-mcq label')", 30, "no multiple-choice question rendered")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
    label.click()
    feedback = driver.execute_script(
        "const fb = arguments[0].nextElementSibling; return getComputedStyle(fb).display !== 'none' && fb.textContent",
        label)
    assert feedback and feedback.strip()[0] in "✓✗", f"clicking an option showed {feedback!r}"

    # the live explorer: move its slider with the keyboard, the figure is redrawn
    handle = wait_for(driver, "document.querySelector('.widget-slider .noUi-handle, .widget-slider input')", 60,
                      "the explorer's live slider did not render")
    image = "(() => { const i = document.querySelector('.widget-output img, .jp-OutputArea-child .widget-output img');" \
            " return i && i.src.slice(-200); })()"
    before = wait_for(driver, image, 60, "the explorer drew no figure")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
    ActionChains(driver).click(handle).send_keys(Keys.ARROW_RIGHT * 5).perform()
    wait_for(driver, f"{image} && {image} !== {before!r}", 60, "moving the slider did not redraw the figure")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "jupyterlab-04_2.png"))
