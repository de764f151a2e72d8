"""``/docs`` in headless Chromium: Swagger UI renders the OpenAPI 3.1 document, and its
Authorize dialog logs in with the password flow by clicking, as a person would.

Swagger UI 4 cannot read OpenAPI 3.1 and shows "Unable to render this definition"; an
HTML check for "swagger-ui" does not notice.
"""

from __future__ import annotations

from typing import Any

from tests.apps_serve.browser import provider_server
from tests.test_login_page_browser import chromium, wait_for  # chromium: the fixture

__all__ = ["chromium"]


def _click(driver: Any, element: Any) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def test_docs_render_and_authorize_logs_in_with_the_password_flow(chromium, store_path):
    from selenium.webdriver.common.by import By

    with provider_server(store_path) as op:
        chromium.get(f"{op.url}/docs")
        blocks = wait_for(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
        page = chromium.find_element(By.ID, "swagger-ui").text
        assert "Unable to render this definition" not in page
        paths = {
            b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path")
            for b in blocks
        }
        assert {"/token", "/users/me", "/authorize", "/revoke"} <= paths

        # Authorize: the password flow's username and password, scope "me".
        _click(chromium, chromium.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize"))
        dialog = wait_for(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, ".modal-ux"))[0]
        dialog.find_element(By.ID, "oauth_username").send_keys("alice")
        dialog.find_element(By.ID, "oauth_password").send_keys("secret")
        password_flow = dialog.find_element(By.ID, "oauth_username").find_element(
            By.XPATH, "ancestor::div[contains(@class, 'auth-container')]"
        )
        scope = password_flow.find_element(By.CSS_SELECTOR, "label[for^='me-password-checkbox']")
        _click(chromium, scope)
        _click(chromium, password_flow.find_element(By.CSS_SELECTOR, "button.authorize"))
        wait_for(
            chromium,
            lambda d: any(
                "Logout" in b.text for b in password_flow.find_elements(By.TAG_NAME, "button")
            ),
        )
        assert "alice" in password_flow.text
        _click(chromium, password_flow.find_element(By.CSS_SELECTOR, "button.btn-done"))

        # Try it out on GET /users/me: 200 with alice's profile.
        me = next(
            b
            for b in chromium.find_elements(By.CSS_SELECTOR, ".opblock-get")
            if b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path")
            == "/users/me"
        )
        _click(chromium, me.find_element(By.CSS_SELECTOR, ".opblock-summary"))
        _click(
            chromium,
            wait_for(chromium, lambda d: me.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0],
        )
        _click(
            chromium, wait_for(chromium, lambda d: me.find_elements(By.CSS_SELECTOR, ".execute"))[0]
        )
        status = wait_for(
            chromium,
            lambda d: me.find_elements(
                By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"
            ),
        )
        assert status[0].text.split()[0] == "200"
        body = me.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .microlight").text
        assert '"username": "alice"' in body
