"""The CONSORT 2025 flow diagram as SVG, drawn from counts (no Django: the counts come from
reports.selectors). Every number can link to the list of participants behind it.

Layout: enrolment boxes across the top, then one column per arm for allocation, follow-up and
analysis; boxes grow with their lines, so any number of arms (one or more) fits.
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

BOX_WIDTH = 360
GAP = 40
LINE_HEIGHT = 18
PADDING = 10
STAGE_GAP = 36
# Characters of a 13 px label that fit in a box beside its "(n = …)"; longer labels wrap.
CHARS_PER_LINE = 44


@dataclass(frozen=True)
class Count:
    """One number of the diagram: what it counts, how many, and the key of its participant list.

    n = None makes a plain line (e.g. "2 groups, 1 facilitator", which CONSORT 2025 asks for).
    """

    label: str
    n: int | None
    key: str = ""


@dataclass(frozen=True)
class ArmFlow:
    name: str
    allocated: Count
    allocation_details: tuple[Count, ...] = ()  # received / did not receive, groups, facilitators
    follow_up: tuple[Count, ...] = ()  # lost to follow-up, discontinued (with reasons)
    analysed: tuple[Count, ...] = ()  # analysed ITT / PP, excluded from analysis


@dataclass(frozen=True)
class ConsortFlow:
    assessed: Count
    excluded: Count
    exclusion_reasons: tuple[Count, ...]
    randomized: Count
    arms: tuple[ArmFlow, ...]
    stage_names: tuple[str, str, str, str] = ("Enrollment", "Allocation", "Follow-up", "Analysis")
    notes: dict = field(default_factory=dict)


def _lines(counts, *, indent_after_first=False):
    return [(count, indent_after_first and index > 0) for index, count in enumerate(counts)]


class _Canvas:
    def __init__(self, link: Callable[[str], str | None], rtl: bool, digits: Callable[[int], str]):
        self.parts: list[str] = []
        self.link, self.rtl, self.digits = link, rtl, digits

    def box(self, x: float, y: float, lines: list[tuple[Count, bool]], *, title: str = "") -> float:
        """Draw a box at (x, y) with a bold title and one line per count; returns its height.

        A long label (a withdrawal reason in the participant's words) wraps; its number goes on
        the label's last line."""
        rows: list[tuple[str, str, Count | None, int]] = [("title", title, None, 0)] if title else []
        for count, indented in lines:
            indent = 14 if indented else 0
            wrapped = textwrap.wrap(count.label, CHARS_PER_LINE - indent // 7) or [""]
            rows += [("text", part, None, indent) for part in wrapped[:-1]]
            rows.append(("count", wrapped[-1], count, indent))
        height = 2 * PADDING + LINE_HEIGHT * len(rows)
        self.parts.append(f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{height}" rx="4" class="box"/>')
        anchor_x = x + BOX_WIDTH - PADDING if self.rtl else x + PADDING
        # Right-to-left, "start" is the right edge (SVG 2, as Chromium draws it); as an attribute
        # because WeasyPrint (the PDF) ignores text-anchor in the style sheet.
        anchor = ' text-anchor="start"'
        for row, (kind, text, count, indent) in enumerate(rows):
            baseline = y + PADDING + LINE_HEIGHT * (row + 1) - 5
            text_x = anchor_x - indent if self.rtl else anchor_x + indent
            if kind == "title":
                self.parts.append(f'<text x="{anchor_x}" y="{baseline}"{anchor} class="title">{escape(text)}</text>')
            elif count is None or count.n is None:
                self.parts.append(f'<text x="{text_x}" y="{baseline}"{anchor}>{escape(text)}</text>')
            else:
                number = escape(self.digits(count.n))
                href = self.link(count.key) if count.key else None
                shown = f'<a href="{escape(href)}" class="n">{number}</a>' if href else f'<tspan class="n">{number}</tspan>'
                self.parts.append(
                    f'<text x="{text_x}" y="{baseline}"{anchor} data-key="{escape(count.key)}">{escape(text)} {self.isolate("(n = ")}{shown}{self.isolate(")", end=True)}</text>'
                )
        return height

    def isolate(self, text: str, *, end: bool = False) -> str:
        """Keep "(n = 8)" one left-to-right unit inside a right-to-left line (LRI … PDI), so its
        brackets are neither mirrored nor moved to the wrong side."""
        if not self.rtl:
            return text
        return f"{text}\u2069" if end else f"\u2066{text}"

    def arrow(self, x1, y1, x2, y2):
        self.parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" class="arrow" marker-end="url(#head)"/>')


def consort_svg(
    flow: ConsortFlow,
    *,
    link: Callable[[str], str | None] = lambda key: None,
    rtl: bool = False,
    digits: Callable[[int], str] = str,
) -> str:
    """The diagram as an inline SVG element."""
    arms = len(flow.arms)
    width = max(arms * BOX_WIDTH + (arms - 1) * GAP, 2 * BOX_WIDTH + GAP) + 2 * GAP
    canvas = _Canvas(link, rtl, digits)
    centre = width / 2

    # Enrollment: assessed -> randomized in the middle, the exclusions to the side.
    top = GAP
    assessed_x = centre - BOX_WIDTH / 2
    assessed_h = canvas.box(assessed_x, top, _lines([flow.assessed]), title=flow.stage_names[0])
    excluded_y = top + assessed_h + STAGE_GAP / 2
    side_x = min(width - GAP - BOX_WIDTH, assessed_x + BOX_WIDTH + GAP / 2) if not rtl else max(GAP, assessed_x - BOX_WIDTH - GAP / 2)
    excluded_h = canvas.box(side_x, excluded_y, _lines([flow.excluded, *flow.exclusion_reasons], indent_after_first=True))
    branch_y = excluded_y + excluded_h / 2
    canvas.arrow(centre, branch_y, side_x if not rtl else side_x + BOX_WIDTH, branch_y)
    randomized_y = excluded_y + excluded_h + STAGE_GAP / 2
    canvas.arrow(centre, top + assessed_h, centre, randomized_y)
    randomized_h = canvas.box(assessed_x, randomized_y, _lines([flow.randomized]))

    # One column per arm through allocation, follow-up and analysis; rows aligned across arms.
    stage_top = randomized_y + randomized_h + STAGE_GAP
    columns_width = arms * BOX_WIDTH + (arms - 1) * GAP
    first_x = centre - columns_width / 2
    xs = [first_x + i * (BOX_WIDTH + GAP) for i in range(arms)]
    if rtl:
        xs = xs[::-1]
    stages = (
        (flow.stage_names[1], [[arm.allocated, *arm.allocation_details] for arm in flow.arms]),
        (flow.stage_names[2], [list(arm.follow_up) for arm in flow.arms]),
        (flow.stage_names[3], [list(arm.analysed) for arm in flow.arms]),
    )
    previous_bottom = [randomized_y + randomized_h] * arms
    y = stage_top
    for stage_name, per_arm in stages:
        heights = []
        for index, counts in enumerate(per_arm):
            title = f"{flow.arms[index].name} · {stage_name}"
            canvas.arrow(
                centre if stage_name == flow.stage_names[1] else xs[index] + BOX_WIDTH / 2, previous_bottom[index],
                xs[index] + BOX_WIDTH / 2, y,
            )
            heights.append(canvas.box(xs[index], y, _lines(counts, indent_after_first=stage_name == flow.stage_names[1]), title=title))
        previous_bottom = [y + h for h in heights]
        y += max(heights) + STAGE_GAP
    height = y
    direction = ' direction="rtl"' if rtl else ""
    style = (
        ".box{fill:#fff;stroke:#1d2433;stroke-width:1} text{font-family:Vazirmatn,system-ui,sans-serif;font-size:13px;fill:#1d2433;text-anchor:start}"
        " .title{font-weight:700} .n{font-weight:700;fill:#1f6f8b} a .n, a{text-decoration:underline}"
        " .arrow{stroke:#1d2433;stroke-width:1.2}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="CONSORT flow diagram"{direction}>'
        f'<defs><marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
        f'<path d="M0,0 L8,4 L0,8 z" fill="#1d2433"/></marker></defs><style>{style}</style>'
        + "".join(canvas.parts) + "</svg>"
    )
