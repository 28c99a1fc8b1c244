"""Browser logins with Playwright, which is imported lazily, inside these modules' functions.

- launch.py: which browser, and starting or connecting to it;
- processes.py: the private temporary folder a launched browser lives in, and its cleanup;
- runner.py: the event loop a login (or a refresh round) runs in, with one lazily started
  browser and a watchdog for a browser that dies under us;
- login_pages.py: driving Totara's pages: the login form, configured identity-provider steps,
  a person logging in by hand (--headed), and what the landing page means.
"""
