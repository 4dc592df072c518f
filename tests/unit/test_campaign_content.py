from __future__ import annotations

import pytest

from chalicelib.domain.campaign_content import (
    TemplateProblem,
    check_template,
    html_to_text,
    render_message,
)


def test_html_is_escaped_and_text_is_not() -> None:
    msg = render_message(
        "Hi {{ first_name }}",
        "<p>Hello {{ first_name }}</p>",
        "Hello {{ first_name }}",
        {"first_name": "<script>x</script>"},
    )
    assert "<script>" not in msg.html and "&lt;script&gt;" in msg.html
    assert msg.text == "Hello <script>x</script>"


def test_subject_is_one_line() -> None:
    msg = render_message(
        "Hi {{ first_name }}", "<p>x</p>", None, {"first_name": "A\r\nBcc: evil@example.com"}
    )
    assert "\n" not in msg.subject and "\r" not in msg.subject


def test_text_is_derived_from_html() -> None:
    msg = render_message(
        "s",
        "<html><head><style>p{}</style></head><body><h1>Sale</h1><p>Up to <b>50%</b> off.</p>"
        '<p><a href="https://shop.example/sale">See offers</a></p><ul><li>one</li><li>two</li></ul></body></html>',
        None,
        {},
    )
    assert msg.text == "Sale\n\nUp to 50% off.\n\nSee offers (https://shop.example/sale)\n\n- one\n\n- two\n"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ first_name ", "syntax error"),
        ("{{ password }}", r"unknown variable\(s\): password"),
        ("{% for x in fields %}{{ secret }}{% endfor %}", "secret"),
    ],
)
def test_bad_templates_are_refused(source: str, fragment: str) -> None:
    with pytest.raises(TemplateProblem, match=fragment):
        check_template(source, html=True)


def test_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(TemplateProblem):
        render_message("s", "{{ fields.__class__.__mro__ }}", None, {"fields": {}})


def test_custom_fields_and_missing_values() -> None:
    check_template("{{ fields.birthday }} {{ first_name }}", html=True)
    msg = render_message("s", "<p>{{ fields.birthday }}|{{ first_name }}</p>", None, {"fields": {}})
    assert msg.html == "<p>|</p>"


def test_plain_html_to_text() -> None:
    assert html_to_text("plain") == "plain\n"
