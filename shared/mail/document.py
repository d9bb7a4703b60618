"""The one HTML document a mail carries.

Step outputs (`body_html` of `kusto.visualize` and `kusto.command`) and the bodies
flows write are HTML *fragments*: a heading, a chart, a table, some text. Several of
them may be joined in one body (`{{ steps.a.body_html }}{{ steps.b.body_html }}`), so
none of them may carry `<!DOCTYPE>`, `<html>`, `<head>` or `<body>` of its own.
`email.send` hands its body to `mail_document`, which puts it in exactly one
e-mail-safe document: a UTF-8 declaration, a viewport for phones, the subject as
title, and a white body with inline styles only (mail clients drop `<style>`).

A body the flow's author wrote as a whole document (it starts with `<!DOCTYPE` or
`<html`) is theirs: it is sent as written, given the HTML5 doctype when it has
none, never wrapped a second time.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = ["MAIL_FONT", "is_document", "mail_document"]

#: The font stack of every block the product writes into a mail.
MAIL_FONT = "font-family:Segoe UI,Helvetica,Arial,sans-serif"

_DOCTYPE = re.compile(r"^\s*<!doctype\b", re.IGNORECASE)
_DOCUMENT = re.compile(r"^\s*(?:<!doctype\b|<html\b)", re.IGNORECASE)


def is_document(html: str) -> bool:
    """True when *html* is a whole document (starts with a doctype or `<html>`)."""
    return _DOCUMENT.match(html) is not None


def mail_document(body: str, title: str = "") -> Markup:
    """*body*, trusted HTML, as one e-mail-safe HTML5 document titled *title* (plain
    text, escaped). A fragment is wrapped; a whole document is kept (see the module
    docstring)."""
    if is_document(body):
        return Markup(body if _DOCTYPE.match(body) else "<!DOCTYPE html>" + body.lstrip())
    return Markup(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="margin:0;padding:16px;background:#ffffff;{MAIL_FONT};'
        f'color:#1b1b1b">{body}</body></html>')
