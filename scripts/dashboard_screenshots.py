#!/usr/bin/env python3
"""Screenshots of each dashboard view (docs/dashboard-*.png), from a running `batchline serve`.

    .deps/venv/bin/python scripts/dashboard_screenshots.py http://127.0.0.1:8080 [SECONDS]
"""
import os
import sys
import time

os.environ["SE_OFFLINE"] = "true"
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

base = sys.argv[1]
settle = float(sys.argv[2]) if len(sys.argv) > 2 else 40
out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--hide-scrollbars"]:
    options.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(base + "/")
    time.sleep(settle)  # history for the charts
    for view in ["overview", "stream", "batcher", "models", "resources"]:
        driver.find_element(By.ID, "tab-" + view).click()
        time.sleep(3)
        driver.save_screenshot(os.path.join(out, f"dashboard-{view}.png"))
        print("wrote", f"docs/dashboard-{view}.png")
finally:
    driver.quit()
