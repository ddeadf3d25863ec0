"""A stand-in for the operator's web browser, launched by Python's `webbrowser` through $BROWSER.

`fake_browser.py URL` does what a browser does with Entra's authorize URL: GET it (trusting the
simulator's CA from $KODO_FAKE_BROWSER_CA), follow 302 redirects, submit a response_mode=form_post
page's auto-submitting form, and so deliver the code (or the error) to the CLI's http://localhost
listener. The product runs unchanged: azure-identity opens the URL with webbrowser.open().

It detaches first, like a real browser launcher: `webbrowser`'s GenericBrowser waits for the command
to exit, and azure-identity only serves the localhost redirect after that.
"""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser

import httpx


class _Form(HTMLParser):
    """The first form of a page: its action and hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")


def browse(url: str) -> None:
    verify = os.environ.get("KODO_FAKE_BROWSER_CA") or True
    with httpx.Client(verify=verify, follow_redirects=False, timeout=30, trust_env=False) as client:
        response = client.get(url)
        for _ in range(5):  # follow redirects (response_mode=query ends at http://localhost)
            if response.status_code not in (301, 302, 303, 307):
                break
            response = client.get(response.headers["location"])
        print(f"GET {url.split('?')[0]} -> {response.status_code}", flush=True)
        form = _Form()
        form.feed(response.text)
        if form.action:  # response_mode=form_post: the page's script would submit this form
            posted = client.post(form.action, data=form.fields)
            print(f"POST {form.action} -> {posted.status_code} {sorted(form.fields)}", flush=True)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--detached":
        browse(sys.argv[2])
        return 0
    # Detach and return at once (exit 0 = "browser opened"); what it did goes to $KODO_FAKE_BROWSER_LOG,
    # never to the CLI's stdout/stderr that the tests capture.
    log_path = os.environ.get("KODO_FAKE_BROWSER_LOG") or os.devnull
    with open(log_path, "a", encoding="utf-8") as log:
        subprocess.Popen([sys.executable, __file__, "--detached", sys.argv[1]],  # noqa: S603
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
