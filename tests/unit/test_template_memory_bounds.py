"""Security review: a campaign template can build no huge value. Every operation of the
sandbox that builds one — ``*``, ``+``, ``~``, ``%``, ``join``, ``sum``, ``string``, string
methods (``ljust``, ``replace``, ``format``…), the printing of a value — is bounded before
it runs, and a rendering may allocate at most a budget in all, so the save-time check
itself runs under a memory cap. Each bomb below is refused with ``TemplateProblem`` while
the peak memory traced stays small (the review's payload built 100 MB at save time).

A template that escaped the bounds would try to allocate gigabytes: each case runs in a
child process with a 1 GiB address-space limit, so a regression fails instead of taking the
machine down."""

from __future__ import annotations

import multiprocessing
import resource
from typing import Any

import pytest

from chalicelib.domain.campaign_content import TemplateProblem, check_template, render

K = "{% set a = 'x' * 1000 %}"  # a thousand characters, as any template can make
BOMBS = {
    # the review's payload over a 1,000 by 1,000 string, and deeper nestings
    "review": K + "{% set b = ([a] * 1000)|join %}{% set c = ([b] * 100)|join %}{{ c|length }}",
    "review deeper": K + "{% set b = ([a] * 1000)|join %}{% set c = ([b] * 100)|join %}"
    "{% set d = ([c] * 100)|join %}{{ d|length }}",
    "join of a literal list": K
    + "{% set b = [a,a,a,a,a,a,a,a,a,a]|join %}{% set c = [b,b,b,b,b,b,b,b,b,b]|join %}"
    "{% set d = [c,c,c,c,c,c,c,c,c,c]|join %}{% set e = [d,d,d,d,d,d,d,d,d,d]|join %}{{ e|length }}",
    "tilde doubling": K + "{% set a = a ~ a %}" * 14 + "{{ a|length }}",
    "plus doubling": K + "{% set a = a + a %}" * 14 + "{{ a|length }}",
    "list plus": K + "{% set l = [a] * 1000 %}{% set m = l + l %}{% set n = m + m %}{{ n|join|length }}",
    "list of lists": K + "{% set l = [[a] * 1000] * 1000 %}{{ l|length }}",
    "printing a nested list": K + "{% set l = [a] * 1000 %}{{ [l, l, l, l, l, l, l, l, l, l] }}",
    "string of a nested list": K + "{% set l = [a] * 1000 %}{{ [l, l, l, l, l]|string|length }}",
    "sum of lists": K + "{% set l = [a] * 1000 %}{{ ([l] * 1000)|sum(start=[])|length }}",
    "sum then join": K + "{% set l = [a] * 1000 %}{{ [l, l, l, l, l]|sum(start=[])|join|length }}",
    "percent width": "{{ '%999999999s' % 'x' }}",
    "percent star width": "{{ '%*s' % (999999999, 'x') }}",
    "format width": "{{ '{:>999999999}'.format('x') }}",
    "format nested width": "{{ '{0:{1}}'.format('x', 999999999) }}",
    "format_map width": "{{ '{x:>999999999}'.format_map({'x': 'y'}) }}",
    "ljust": "{{ 'x'.ljust(999999999) }}",
    "rjust": "{{ 'x'.rjust(999999999) }}",
    "center method": "{{ 'x'.center(999999999) }}",
    "zfill": "{{ '1'.zfill(999999999) }}",
    "expandtabs": "{{ ('\t' * 1000).expandtabs(999999) }}",
    "replace": K + "{{ a.replace('x', a)|length }}",
    "join method": K + "{{ a.join([a] * 1000)|length }}",
    "translate": K + "{{ a.translate({120: a})|length }}",
    "bytes repeat": "{{ ('x'.encode() * 999999999)|length }}",
    "bytes method": K + "{{ (a.encode() * 1000)|length }}",
    "integer squaring": "{% set n = 2 ** 128 %}" + "{% set n = n * n %}" * 24 + "{{ n > 0 }}",
    "many distinct values": K + "{% set b = ([a] * 500)|join %}"
    "{% set l = [b ~ 1, b ~ 2, b ~ 3, b ~ 4, b ~ 5, b ~ 6, b ~ 7, b ~ 8, b ~ 9, b ~ 10] %}{{ l|length }}",
    "namespace accumulation": K + "{% set ns = namespace(s='') %}{% for i in range(1000) %}"
    "{% set ns.s = ns.s ~ a %}{% endfor %}{{ ns.s|length }}",
    "escape growth": K
    + "{% set b = ('&' * 1000) %}{% set c = ([b] * 999)|join %}{{ (c|e ~ c|e ~ c|e)|length }}",
    "urlencode growth": "{% set b = ('é' * 1000) %}{% set c = ([b] * 999)|join %}{{ c|urlencode|length }}",
    "upper growth": "{% set b = ('ß' * 1000) %}{% set c = ([b] * 999)|join %}{{ (c|upper ~ c|upper)|length }}",
}


def _run(source: str, context: dict[str, Any], queue: Any) -> None:
    import tracemalloc

    with open("/proc/self/statm") as statm:  # pages of address space in use now
        in_use = int(statm.read().split()[0]) * resource.getpagesize()
    limit = in_use + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # in the child only
    tracemalloc.start()
    try:
        check_template(source, html=True) if not context else render(source, context, html=True)
        outcome = "accepted"
    except TemplateProblem as exc:
        # refused by a bound, not because the allocation failed on the way
        outcome = "memory exhausted" if isinstance(exc.__context__, MemoryError) else f"refused: {exc}"
    except MemoryError:
        outcome = "memory exhausted"
    _, peak = tracemalloc.get_traced_memory()
    queue.put((outcome, peak))


def attempt(source: str, context: dict[str, Any] | None = None) -> tuple[str, int]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_run, args=(source, context or {}, queue))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        return "timed out", 0
    if queue.empty():
        return f"died ({child.exitcode})", 0
    return queue.get()


@pytest.mark.parametrize("name", list(BOMBS))
def test_templates_cannot_build_huge_values(name: str) -> None:
    outcome, peak = attempt(BOMBS[name])
    assert outcome.startswith("refused"), (name, outcome)
    assert peak < 24 * 1024 * 1024, (name, peak)


def test_the_reviews_payload_over_a_million_character_value_is_refused_at_once() -> None:
    big = {"first_name": "x" * 1_000_000, "fields": {}}
    for source in (
        "{% set c = ([first_name] * 100)|join %}{{ c|length }}",
        "{% set c = ([first_name] * 100)|join %}{% set d = ([c] * 100)|join %}{{ d|length }}",
        "{{ first_name ~ first_name ~ first_name ~ first_name ~ first_name }}",
    ):
        outcome, peak = attempt(source, big)
        assert outcome.startswith("refused"), (source, outcome)
        assert peak < 24 * 1024 * 1024, (source, peak)


def test_ordinary_templates_still_render() -> None:
    source = (
        "{% set parts = ['Hi', first_name] %}{{ parts|join(' ') }}! {{ 'a' ~ 'b' }} {{ 1 + 2 }} "
        "{{ '%s-%05d' % ('x', 42) }} {{ '{}:{:>4}'.format('n', 7) }} {{ 'x'.ljust(3, '.') }} "
        "{{ first_name.replace('A', 'a') }} {{ [[1], [2]]|sum(start=[]) }} {{ (['-'] * 3)|join }} "
        "{{ fields|dictsort|length }} {{ first_name|upper }} {{ 'a&b'|e }} {{ [1, 2] + [3] }}"
    )
    check_template(source, html=False)
    assert (
        render(source, {"first_name": "Ann", "fields": {"k": 1}}, html=False)
        == "Hi Ann! ab 3 x-00042 n:   7 x.. ann [1, 2] --- 1 ANN a&amp;b [1, 2, 3]"
    )
