"""A real Totara page's weight (docs/totara-protocol.md, "Page weight"): the standard theme's
login page loads 17 scripts, 5 stylesheets, 2 images and a web font; the dashboard 22 scripts
(one a large JavaScript bundle that does real parse-and-run work), 5 stylesheets, images, a font,
and makes its own ajax.php call. The bundled site carries the same by default, so browser logins
are measured against the weight they meet in the world; `light` pages carry none of it.

Nothing here changes a protocol answer: the assets are extra requests a page makes.
"""

from __future__ import annotations

import base64
import functools
from html import escape

REV = "1764190000"
STYLESHEETS = ["all", "core", "theme_ventura", "tui_bundle", "editor"]
LOGIN_SCRIPTS = [
    "polyfill", "yui-moodlesimple", "jquery", "require", "first", "core/log", "core/str",
    "core/ajax", "core/templates", "core/notification", "core/event", "core/pubsub",
    "core/config", "core/url", "totara_core/login", "theme_ventura/loader", "tui/vendors",
]  # fmt: skip
LANDING_EXTRA = ["block_totara_dashboard", "core/drawer", "core/popover", "totara_core/nav"]
BUNDLE = "tui/tui_bundle"  # the large one
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
ASSET_PREFIXES = (
    "/theme/styles.php/",
    "/lib/javascript.php/",
    "/theme/image.php/",
    "/theme/font.php/",
)
CACHE = ("Cache-Control", "public, max-age=31536000, immutable")


def head_tags(wwwroot: str, *, landing: bool) -> str:
    """The stylesheet, font and script tags of a page's head (and the bundle on the landing)."""
    root = escape(wwwroot)
    tags = [
        f'<link rel="stylesheet" type="text/css" href="{root}/theme/styles.php/ventura/{REV}_1/{sheet}" />'
        for sheet in STYLESHEETS
    ]
    tags.append(
        f'<link rel="preload" as="font" type="font/woff2" crossorigin="anonymous" '
        f'href="{root}/theme/font.php/ventura/core/{REV}/roboto-regular.woff2" />'
    )
    scripts = LOGIN_SCRIPTS + ([*LANDING_EXTRA, BUNDLE] if landing else [])
    tags += [
        f'<script src="{root}/lib/javascript.php/{REV}/{name}.min.js"></script>' for name in scripts
    ]
    return "\n".join(tags)


def body_tags(wwwroot: str, *, landing: bool) -> str:
    """Images, and on the landing page the page's own ajax.php call (a _nosession string fetch,
    as Totara's front end makes)."""
    root = escape(wwwroot)
    tags = [
        f'<img class="logo" alt="Totara" src="{root}/theme/image.php/ventura/core/{REV}/logo" />',
        f'<img class="icon" alt="" src="{root}/theme/image.php/ventura/core/{REV}/i/loading" />',
    ]
    if landing:
        tags.append(
            "<script>\n"
            "fetch(M.cfg.wwwroot + '/totara/webapi/ajax.php', {method: 'POST', "
            "headers: {'Content-Type': 'application/json'}, body: JSON.stringify("
            "{operationName: 'core_lang_strings_nosession', "
            "variables: {lang: 'en', ids: ['edit, core']}})});\n"
            "</script>"
        )
    return "\n".join(tags)


def is_asset(path: str) -> bool:
    return path.startswith(ASSET_PREFIXES)


def asset(path: str) -> tuple[bytes, str] | None:
    """(body, content type) of an asset path, or None when there is no such asset."""
    if path.startswith("/theme/styles.php/"):
        return stylesheet(path.rsplit("/", 1)[-1]), "text/css"
    if path.startswith("/theme/image.php/"):
        return PNG, "image/png"
    if path.startswith("/theme/font.php/"):
        return font(), "font/woff2"
    if path.startswith("/lib/javascript.php/") and path.endswith(".min.js"):
        name = path.split("/", 4)[-1].removesuffix(".min.js")
        if name == BUNDLE:
            return bundle(), "application/javascript"
        return script(name), "application/javascript"
    return None


@functools.lru_cache(maxsize=16)
def stylesheet(name: str) -> bytes:
    rules = [
        f".{name}-rule-{i} {{ margin: {i % 7}px; padding: {i % 5}px; color: #{i * 7919 % 0xFFFFFF:06x}; }}"
        for i in range(400)
    ]
    face = (
        "@font-face { font-family: Roboto; src: url(../../../font.php/ventura/core/"
        f"{REV}/roboto-regular.woff2) format('woff2'); }}\nbody {{ font-family: Roboto; }}\n"
    )
    return (face + "\n".join(rules)).encode()


@functools.lru_cache(maxsize=1)
def font() -> bytes:
    return b"wOF2" + bytes(range(256)) * 80  # a font-sized body; the browser tries to use it


@functools.lru_cache(maxsize=64)
def script(name: str) -> bytes:
    module = name.replace("/", "_").replace("-", "_")
    body = "\n".join(
        f"function {module}_{i}(x) {{ var s = 0; for (var j = 0; j < 50; j++) {{ s += (x * j) % 7; }} return s; }}"
        for i in range(60)
    )
    return f"/* {name} */\n{body}\nwindow.{module}_loaded = {module}_1(3);\n".encode()


@functools.lru_cache(maxsize=1)
def bundle() -> bytes:
    """About 700 KB of JavaScript that the browser must parse, and that runs at load."""
    functions = "\n".join(
        f"function tui_component_{i}(props) {{ var out = []; for (var k = 0; k < 12; k++) "
        f"{{ out.push({{ key: 'c{i}_' + k, value: (props.seed * {i % 97 + 1} + k) % 1009 }}); }} "
        f"return out.reduce(function (a, b) {{ return a + b.value; }}, 0); }}"
        for i in range(3000)
    )
    run = (
        "var tui_total = 0;\n"
        "for (var n = 0; n < 3000; n++) { tui_total += window['tui_component_' + n]({seed: n}); }\n"
        "window.tui_ready = tui_total;\n"
    )
    return f"/* tui bundle */\n{functions}\n{run}".encode()
