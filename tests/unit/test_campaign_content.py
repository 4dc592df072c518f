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


@pytest.mark.parametrize(
    "source",
    [
        "{{ first_name.__class__ }}",  # unsafe attributes fail at once, never print as empty
        "{{ fields.__class__.__init__.__globals__ }}",
        "{% for c in first_name.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ fields.update({}) }}",
        "{{ self.__init__.__globals__ }}",
        "{{ first_name|attr('__class__') }}",
        "{{ first_name|safe }}",  # client data must stay escaped
        "{{ 1 / 0 }}",  # any error of the template's own making
        "{{ range(10**9)|list }}",
        "{{ 'x' * 10**9 }}",  # sizes: no template builds a huge string or number
        "{{ [0] * 10**9 }}",
        "{{ 10**10 * 'x' }}",
        "{{ 9**10**9 }}",
        "{{ 'x'|center(10**9) }}",
        "{{ 'x'|indent(10**9, true) }}",
        "{{ '%1000000000s'|format('x') }}",
        "{{ lipsum(10**6) }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}"
        "{% endfor %}{% endfor %}",  # prints nothing, but would loop a billion times
        "{% for a in [0] * 10**5 %}{% endfor %}",
    ],
)
def test_templates_that_escape_the_sandbox_or_exhaust_the_worker_are_refused(source: str) -> None:
    with pytest.raises(TemplateProblem):
        check_template(source, html=True)
    with pytest.raises(TemplateProblem):
        render_message("s", source, None, {"first_name": "Ann", "fields": {}})


def test_ordinary_arithmetic_and_filters_still_work() -> None:
    source = (
        "{{ 7*7 }} {{ 2**10 }} {{ '-' * 3 }} {{ first_name|upper }} {{ fields.n|default('x') }}"
        "{% for i in range(2) %}{% for k, v in fields.items() %}{% endfor %}{{ i }}{% endfor %}"
    )
    check_template(source, html=True)
    assert (
        render_message("s", source, None, {"first_name": "Ann", "fields": {}}).html == "49 1024 --- ANN x01"
    )
