"""The browser sees mailer's pages, styled from the app's own assets."""


def test_home_page_is_styled_with_the_locally_served_bootstrap(page):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/")
    assert page.locator("nav.navbar").is_visible()
    # Bootstrap's navbar is a flex container: the stylesheet was loaded and applied.
    assert page.locator("nav.navbar").evaluate("e => getComputedStyle(e).display") == "flex"
    base = page.evaluate("location.origin")
    assert requested, "the page made no requests"
    assert all(url.startswith(base) for url in requested), requested
