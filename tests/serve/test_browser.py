"""The page in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven
by Selenium against the bundled coi-insect model. A user uploads a bad file (a message, the server
runs on), cancels a large upload, then uploads real barcodes with bad records among them and reads
the table, the rejected records, the nearest references, the map and the confidence chart, moves the
min-prob slider and downloads the TSV. The screenshot of the finished page is the README's
(``docs/serve_screenshot.png``: written when missing, or refreshed with BARCODEFM_UPDATE_SCREENSHOT=1,
so that a test run does not rewrite a tracked file).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from serve_helpers import BAD_RECORDS, all_sample_records, bundled_server, fasta, httpx, sample_records

from barcodefm.serve.results import cut_at

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "serve_screenshot.png"

if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
    pytest.skip(
        "needs a local headless browser: apt-get install -y chromium chromium-driver (no browser is downloaded)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (dev extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # the system's browser and driver: selenium-manager downloads nothing
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver, downloads
    driver.quit()


def _text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def _choose_and_submit(driver, path: Path) -> None:
    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "submit").click()


def test_the_page_end_to_end(browser, tmp_path):
    driver, downloads = browser
    served = bundled_server()
    wait = WebDriverWait(driver, 180, poll_frequency=0.1)
    driver.get(served.url + "/")
    wait.until(lambda d: "coi-insect" in _text(d, "model-line"))
    assert "Up to 20 MB" in _text(driver, "input")

    # A file that is not barcodes: a clear message, and the server answers the next upload.
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(bytes(range(256)) * 64)
    _choose_and_submit(driver, binary)
    wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "photo.jpg is not a text barcode file" in _text(driver, "error")

    # A large upload shows its progress and can be cancelled.
    large = tmp_path / "large.fasta"
    large.write_text(fasta(all_sample_records()[:1280]))
    _choose_and_submit(driver, large)
    wait.until(lambda d: "identifying:" in _text(d, "status"))
    assert (
        driver.find_element(By.ID, "progress").is_displayed() and not driver.find_element(By.ID, "error").is_displayed()
    )
    driver.find_element(By.ID, "cancel").click()
    wait.until(lambda d: _text(d, "status") == "cancelled")
    assert driver.find_element(By.ID, "submit").is_enabled()

    # Real barcodes with bad records among them.
    records = sample_records()
    queries = tmp_path / "queries.fasta"
    queries.write_text(fasta(records, BAD_RECORDS))
    _choose_and_submit(driver, queries)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#calls tbody tr")) == len(records))
    assert "done: 16 records" in _text(driver, "status")
    rows = driver.find_elements(By.CSS_SELECTOR, "#calls tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td").text for r in rows] == [r["id"] for r in records]
    header = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#calls thead th")]
    assert header == ["id", *served.identifier.ranks, "consistent", "novelty", "nearest reference"]
    assert "likely novel" in driver.find_element(By.ID, "calls").text  # the species never seen in training
    rejects = {
        tuple(td.text for td in tr.find_elements(By.CSS_SELECTOR, "td")[1:3])
        for tr in driver.find_elements(By.CSS_SELECTOR, "#rejects tbody tr")
    }
    assert rejects == {(name, reason) for name, (_, reason) in BAD_RECORDS.items()}
    assert not driver.find_element(By.ID, "error").is_displayed()

    # The min-prob slider blanks ranks as `classify --min-prob` does (the API's rows, cut in Python).
    driver.execute_script(
        "const s = document.getElementById('minprob'); s.value = '0.9'; s.dispatchEvent(new Event('input'));"
    )
    href = driver.find_element(By.ID, "download").get_attribute("href")
    assert href.endswith("table.tsv?min_prob=0.9")
    job_id = href.split("/api/jobs/")[1].split("/")[0]
    job = httpx.get(f"{served.url}/api/jobs/{job_id}").json()
    blanks = sum(len(row["probs"]) - cut_at(row["probs"], 0.9) for row in job["rows"])
    assert len(driver.find_elements(By.CSS_SELECTOR, "#calls td.blank")) == blanks > 0

    # The download is the API's table at that cutoff.
    driver.find_element(By.ID, "download").click()
    saved = downloads / "queries_calls.tsv"
    deadline = time.monotonic() + 30
    while not saved.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert saved.read_text() == httpx.get(href).text
    header = saved.read_text().splitlines()[0]
    assert header.startswith("id\tstrand\tmarker_kmers\tstatus\torder\torder_prob\tfamily")
    assert header.endswith("\tconsistent\tnearest_reference\tnearest_identity\tnearest_by\tnovelty\tlikely_novel")

    # The nearest references of a clicked row; the map and the confidence chart are drawn.
    driver.find_elements(By.CSS_SELECTOR, "#calls tbody tr")[3].click()  # the slider redrew the rows
    wait.until(lambda d: _text(d, "neighbours-of") == f"of {records[3]['id']}")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#neighbours tbody tr")) == 5
    refs = [
        tr.find_elements(By.CSS_SELECTOR, "td")[1].text
        for tr in driver.find_elements(By.CSS_SELECTOR, "#neighbours tbody tr")
    ]
    assert all(re.fullmatch(r"[A-Z0-9]+-\d{2}", ref) for ref in refs)  # BOLD process ids, as BLAST would name them
    painted = driver.execute_script(
        "const c = document.getElementById('map'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;"
    )
    assert painted > 1000
    assert "PCA (scikit-learn)" in _text(driver, "map-method")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#confidence svg rect")) >= 5

    # The server still answers, and the page as a user sees it is kept for the README.
    assert httpx.get(f"{served.url}/api/info").status_code == 200
    driver.find_elements(By.CSS_SELECTOR, "#calls tbody tr")[0].click()
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script(
        "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight"
    )
    driver.set_window_size(1280, min(height + 10, 4000))  # the whole page in one picture
    shot = tmp_path / "serve_screenshot.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    if os.environ.get("BARCODEFM_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        from PIL import Image  # matplotlib's dependency

        SCREENSHOT.parent.mkdir(exist_ok=True)
        # 256 colours: a third of the bytes for the repository, no visible change for a page.
        Image.open(shot).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(SCREENSHOT, optimize=True)


ATTACKER_PAGE = """<!doctype html><html><body>
<form id="form" method="post" enctype="text/plain" action="{target}/api/jobs?name=form.fasta&source=paste">
<textarea name="&gt;from_a_form">x
{sequence}</textarea></form>
<script>
function sendByFetch(done) {{
  fetch("{target}/api/jobs?name=fetch.fasta&source=paste",
        {{method: "POST", mode: "no-cors", body: ">from_fetch\\n{sequence}\\n"}})
    .then(() => done("answered"), (e) => done("failed: " + e));
}}
</script></body></html>"""


def test_a_page_of_another_origin_cannot_start_a_job(browser, caplog):
    """Another local web server (another port: another origin, the same site) tries a form POST
    and a no-cors fetch, the two requests a browser sends cross-site without asking the server."""
    import http.server
    import threading

    from serve_helpers import SlowIdentifier, start_server

    from barcodefm.serve.app import create_app

    driver, _ = browser
    identifier = SlowIdentifier()
    identifier.open.set()
    served = start_server(create_app(identifier))
    page = ATTACKER_PAGE.format(target=served.url, sequence="ACGT" * 60).encode()

    class AttackerPage(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AttackerPage)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        with caplog.at_level("WARNING", logger="barcodefm.serve"):
            driver.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
            assert driver.execute_async_script("sendByFetch(arguments[0])") == "answered"
            driver.execute_script("document.getElementById('form').submit()")
            WebDriverWait(driver, 30).until(lambda d: d.current_url.startswith(served.url + "/api/jobs"))
            WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").text)
        queue = served.app.state.queue
        assert queue.jobs == {} and not queue._waiting and queue._reserved == 0
        assert "cross-site" in driver.find_element(By.TAG_NAME, "body").text  # the form's answer
        refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(refused) == 2, refused  # both requests reached the server, and were turned away
    finally:
        attacker.shutdown()
        attacker.server_close()
        served.stop()
