"""What the browser checks share (dashboard_check.py, fleet_check.py): a headless Chromium, a check
that prints one line and stops at the first failure, and a wait for a condition."""
import os
import sys
import time

os.environ["SE_OFFLINE"] = "true"
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402


def chromium(*extra):
    """Headless Chromium (Debian's), its console kept."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,960", *extra]:
        options.add_argument(a)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


def wait(driver, condition, seconds, every=0.25):
    """The condition's first true value within `seconds` (only against a hang), else None."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            value = condition(driver)
            if value:
                return value
        except Exception:
            pass
        time.sleep(every)
    return None
