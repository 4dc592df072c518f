"""The visible unsubscribe link of a marketing e-mail is found by parsing the rendered HTML
for an anchor to the recipient's real unsubscribe URL; otherwise a footer with one is put
inside ``<body>``. A marker attribute, a comment, a hidden or empty anchor, or an anchor to
another URL never counts."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from chalicelib.domain.unsubscribe_link import shows_link, with_footer

URL = "https://permesso.test/p/unsubscribe/k1.abc.def"
FOOTER = f'<p>Salon <a href="{URL}" data-cta="unsubscribe">Unsubscribe</a></p>'


@pytest.mark.parametrize(
    "html",
    [
        f'<p><a href="{URL}" data-cta="unsubscribe">Unsubscribe</a></p>',
        f'<p><A HREF="{URL}">Odhlásit</A></p>',
        f"<p><a href='{URL}'><b>stop</b> these mails</a></p>",
        f'<p><a href="{URL.replace("/", "&#47;")}">Unsubscribe</a></p>',  # character references
        f'<div style="color:#666"><a href="{URL}" style="color:#666">Unsubscribe</a></div>',
        f'<html><head><title>x</title></head><body><a href="{URL}">Unsubscribe</a></body></html>',
    ],
)
def test_a_visible_anchor_to_the_real_url_counts(html: str) -> None:
    assert shows_link(html, URL)


@pytest.mark.parametrize(
    "html",
    [
        "<p>Hi</p>",
        '<p>Hi</p><span data-cta="unsubscribe"></span>',  # the review's: a marker, no link
        '<a data-cta="unsubscribe" href="https://evil.example/">Unsubscribe</a>',
        f'<a data-cta="unsubscribe" href="{URL}x">Unsubscribe</a>',  # another URL
        f'<a data-cta="unsubscribe" href="{URL[:-1]}">Unsubscribe</a>',
        f'<!-- <a href="{URL}">Unsubscribe</a> -->',  # a comment
        f"<p title='<a href=\"{URL}\">Unsubscribe</a>'>Hi</p>",  # text inside an attribute
        f'<a href="{URL}"></a>',  # nothing to click
        f'<a href="{URL}">   </a>',
        f'<a href="{URL}" style="display: none">Unsubscribe</a>',
        f'<a href="{URL}" style="DISPLAY:NONE !important">Unsubscribe</a>',
        f'<a href="{URL}" style="visibility:hidden">Unsubscribe</a>',
        f'<a href="{URL}" style="font-size:0">Unsubscribe</a>',
        f'<a href="{URL}" style="opacity: 0">Unsubscribe</a>',
        f'<a href="{URL}" hidden>Unsubscribe</a>',
        f'<div style="display:none"><p><a href="{URL}">Unsubscribe</a></p></div>',  # hidden parent
        f'<div hidden><a href="{URL}">Unsubscribe</a></div>',
        f'<head><a href="{URL}">Unsubscribe</a></head><body>Hi</body>',
        f'<style>a::after {{ content: "<a href=\\"{URL}\\">x</a>" }}</style>',
        f'<template><a href="{URL}">Unsubscribe</a></template>',
        f'<a href="{URL}" style="color:#fff;font-size:0px">Unsubscribe</a>',
    ],
)
def test_anything_else_does_not(html: str) -> None:
    assert not shows_link(html, URL)


def test_a_hidden_element_that_closed_does_not_hide_what_follows() -> None:
    assert shows_link(f'<div style="display:none">x</div><p><a href="{URL}">Unsubscribe</a></p>', URL)
    assert shows_link(f'<p>Hi<br><img src="x"><a href="{URL}">Unsubscribe</a></p>', URL)


class _Tree(HTMLParser):
    """Where each anchor sits: its enclosing open elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.anchors: list[tuple[str | None, tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append((dict(attrs).get("href"), tuple(self.open)))
        if tag not in ("br", "img", "meta", "link", "hr", "input"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open.pop() != tag:
                pass


def anchors(html: str) -> list[tuple[str | None, tuple[str, ...]]]:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree.anchors


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>x</title></head><body><p>Hi</p></body></html>",
        "<HTML><BODY><p>Hi</p></BODY></HTML>\n",
        "<!doctype html><html><body><p>Hi</p></body>\n</html>\n<!-- trailing -->",
        "<html><body><p>Hi</p><!-- </body> --></body></html>",  # a comment is not the end tag
        "<html><body><script>var s = '</body>';</script><p>Hi</p></body></html>",
    ],
)
def test_the_footer_goes_inside_body(html: str) -> None:
    result = with_footer(html, FOOTER)
    [(href, where)] = anchors(result)
    assert href == URL and "body" in where
    assert result.lower().rstrip().endswith(("</html>", "-->"))
    assert shows_link(result, URL)


def test_without_body_the_footer_goes_before_html_or_at_the_end() -> None:
    assert with_footer("<p>Hi</p>", FOOTER) == f"<p>Hi</p>\n{FOOTER}\n"
    result = with_footer("<html><p>Hi</p></html>", FOOTER)
    assert result.endswith("</html>") and anchors(result)[0][1][0] == "html"
