"""A person's path through the site in headless Chromium: sign in, generate, watch it finish.

Runs the whole platform (daphne, the django-q2 worker, two simulated nodes)
like `make run`, and drives Debian's chromium through chromedriver.
"""

import shutil

import pytest

from tests.e2e.live import LivePlatform

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver); .ci/run installs them",
)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def test_a_user_signs_in_generates_and_sees_progress_then_images(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    with LivePlatform(tmp_path) as site:
        site.create_user("dora", "browser-pass-1")
        browser.get(f"{site.base}/accounts/login/")
        browser.find_element(By.NAME, "login").send_keys("dora")
        browser.find_element(By.NAME, "password").send_keys("browser-pass-1")
        browser.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
        wait.until(ec.url_contains("/generate/"))

        prompt = wait.until(ec.presence_of_element_located((By.NAME, "prompt")))
        prompt.send_keys("a lighthouse in a storm")
        for name, value in (("steps", "30"), ("width", "64"), ("height", "64"), ("seed", "4242")):
            field = browser.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        browser.find_element(By.CSS_SELECTOR, "[data-submit]").click()

        card = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.job-card[data-job]")))
        # Live progress arrives over the websocket while the node works (30 steps take 3 s).
        wait.until(lambda d: card.get_attribute("data-status") == "running")
        percent = card.find_element(By.CSS_SELECTOR, '[data-v="percent"]')
        wait.until(lambda d: percent.text.rstrip("%").isdigit() and 0 < int(percent.text.rstrip("%")) < 100)
        wait.until(lambda d: card.get_attribute("data-status") == "succeeded")
        thumbnail = wait.until(lambda d: card.find_element(By.CSS_SELECTOR, ".job-images img"))
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", thumbnail))
        assert "a lighthouse in a storm" in card.text
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(tmp_path / "generate.png"))

        # The image page shows the real seed and offers the original PNG.
        card.find_element(By.CSS_SELECTOR, ".job-images a").click()
        wait.until(ec.url_contains("/images/"))
        assert "4242" in browser.find_element(By.TAG_NAME, "main").text
