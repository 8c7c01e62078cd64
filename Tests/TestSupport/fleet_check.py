#!/usr/bin/env python3
"""The fleet's page in a real browser (headless Chromium through selenium) against a live fleet.

    fleet_check.py BASE_URL TOKEN VIDEO NODE...

The fleet's nodes are NODE..., each serving version 2 of model `pedestrian` (version 1 the same
weights). Prints one line per check and exits 1 at the first failure.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_checks import check, chromium  # noqa: E402
from browser_checks import wait as wait_for  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

# Seconds a condition is waited for: only against a hang (timing is a benchmark's matter).
PATIENCE = 120


def wait(driver, condition, seconds=PATIENCE):
    return wait_for(driver, condition, seconds)


def row(driver, kind, name):
    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-{kind}="{name}"]')
    return rows[0] if rows else None


def cell(driver, kind, name, css):
    r = row(driver, kind, name)
    return r.find_element(By.CSS_SELECTOR, css).text if r else None


def main() -> int:
    base, token, video, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    driver = chromium()
    try:
        driver.get(base + "/")
        check(driver.title == "Batchline fleet", "the page loads")
        # The token as the page keeps it after asking once.
        driver.execute_script("sessionStorage.setItem('batchline-fleet-token', arguments[0])", token)
        driver.get(base + "/")
        up = wait(driver, lambda d: all(cell(d, "node", n, ".state") == "up" for n in names))
        check(bool(up), f"every node appears up ({names})")
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#nodes a")]
        check(len(links) == len(names) and all(h.startswith("http://127.0.0.1:") for h in links), f"each node links to its dashboard ({links})")

        # A camera added from the form, auto: it runs on a node.
        form = driver.find_element(By.ID, "add")
        form.find_element(By.NAME, "id").send_keys("gate")
        form.find_element(By.NAME, "source").send_keys(video)
        model = form.find_element(By.NAME, "model")
        model.clear()
        model.send_keys("pedestrian")
        fps = form.find_element(By.NAME, "fps")
        fps.clear()
        fps.send_keys("10")
        form.find_element(By.NAME, "loop").click()
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        said = wait(driver, lambda d: "gate added" in d.find_element(By.ID, "add-msg").text)
        check(bool(said), "the form says the camera was added")
        running = wait(driver, lambda d: cell(d, "camera", "gate", ".state") == "running" and cell(d, "camera", "gate", ".node"))
        check(bool(running), f"the camera runs on a node ({running})")
        where = running
        other = next(n for n in names if n != where)
        check(wait(driver, lambda d: "gate" in cell(d, "node", where, ".cams")) is not None, f"{where}'s row lists it")

        # Moved from the page: it runs on the other node.
        # The table is drawn again every 2 s: a control may be replaced under the click; try again.
        def move(d):
            Select(row(d, "camera", "gate").find_element(By.CSS_SELECTOR, "select.move")).select_by_visible_text(other)
            return True
        check(bool(wait(driver, move)), f"the camera's node is chosen from the page ({other})")
        moved = wait(driver, lambda d: cell(d, "camera", "gate", ".node") == other and cell(d, "camera", "gate", ".state") == "running")
        check(bool(moved), f"moved from the page, it runs on {other}")
        logged = wait(driver, lambda d: "asked for " + other in d.find_element(By.ID, "log").text)
        check(bool(logged), "the log says so")

        # A rollout from the page: version 1 (the node serves 2), its steps appearing as they happen.
        roll = driver.find_element(By.ID, "roll")
        model = roll.find_element(By.NAME, "model")
        model.clear()
        model.send_keys("pedestrian")
        roll.find_element(By.NAME, "version").send_keys("1")
        # The flow is checked here, not the timing: a loaded machine may slow the canary, so its lag may
        # grow (the gate itself is tested on values, FleetDecisionTests).
        for name, value in [("frames", "4"), ("observe_s", "15"), ("lag_margin", "20")]:
            field = roll.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        roll.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        started = wait(driver, lambda d: "started" in d.find_element(By.ID, "rollout-msg").text and d.find_elements(By.CSS_SELECTOR, "#rollouts tr"))
        check(bool(started), "a rollout starts from the page")

        def steps(d):
            return len(d.find_elements(By.CSS_SELECTOR, "#rollouts tr:first-child ol.steps li"))
        first = wait(driver, lambda d: steps(d) >= 1 and steps(d))
        check(bool(first), f"its steps appear ({first})")
        grown = wait(driver, lambda d: steps(d) > first and steps(d))
        check(bool(grown), f"and more follow, live ({first} then {grown})")

        def phase(d):
            return d.find_element(By.CSS_SELECTOR, "#rollouts tr:first-child .state").text
        finished = wait(driver, lambda d: phase(d) in ("done", "failed", "aborted") and phase(d))
        row_text = driver.find_element(By.CSS_SELECTOR, "#rollouts tr:first-child").text
        check(finished == "done", f"the rollout ends done on the page ({finished}: {row_text})")

        # A bad request is said on the page, in one line.
        form = driver.find_element(By.ID, "add")
        form.find_element(By.NAME, "id").send_keys("gate")
        form.find_element(By.NAME, "source").send_keys(video)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        refused = wait(driver, lambda d: "exists" in d.find_element(By.ID, "add-msg").text)
        check(bool(refused), "a duplicate id is refused on the page")

        # Removed from the page.
        def remove(d):
            row(d, "camera", "gate").find_element(By.CSS_SELECTOR, "button.remove").click()
            return True
        check(bool(wait(driver, remove)), "the camera's remove button is pressed")
        gone = wait(driver, lambda d: row(d, "camera", "gate") is None and "gate" not in cell(d, "node", other, ".cams"))
        check(bool(gone), "removed from the page, it leaves its node")

        # The duplicate refused above is a 409 the browser logs as a failed load: asked for, not an error.
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
                  and "409 (Conflict)" not in e["message"]]
        check(not errors, f"no console errors ({errors[:3]})")
        print("all checks passed")
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
