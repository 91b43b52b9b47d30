import xml.etree.ElementTree as ET

from reports.consort import ArmFlow, ConsortFlow, Count, consort_svg

SVG = "{http://www.w3.org/2000/svg}"


def flow(arm_names):
    arms = tuple(
        ArmFlow(name, Count("Allocated", 10, f"{name}:allocated"), (Count("1 group, 1 facilitator", None),),
                (Count("Lost to follow-up", 1, f"{name}:lost"),), (Count("Analysed", 10, f"{name}:itt"),))
        for name in arm_names
    )
    return ConsortFlow(Count("Assessed", 40, "assessed"), Count("Excluded", 40 - 10 * len(arm_names), "excluded"),
                       (Count("Below cutoff", 40 - 10 * len(arm_names), "below"),), Count("Randomized", 10 * len(arm_names), "randomized"), arms)


def test_every_count_links_to_its_participants_and_plain_lines_do_not():
    svg = consort_svg(flow(["a", "b"]), link=lambda key: f"/list?key={key}")
    root = ET.fromstring(svg)
    links = {a.get("href") for a in root.iter(f"{SVG}a")}
    assert links == {f"/list?key={k}" for k in ("assessed", "excluded", "below", "randomized", "a:allocated", "b:allocated",
                                                 "a:lost", "b:lost", "a:itt", "b:itt")}
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "1 group, 1 facilitator" in texts and "Randomized (n = 20)" in texts


def test_the_diagram_widens_with_the_arms_and_fits_one_arm():
    widths = [float(ET.fromstring(consort_svg(flow(names))).get("width")) for names in (["a"], ["a", "b", "c", "d", "e"])]
    assert widths[0] < widths[1]
    one_arm = ET.fromstring(consort_svg(flow(["only"])))
    assert sum(1 for t in one_arm.iter(f"{SVG}text") if (t.text or "").startswith("only ·")) == 3


def test_persian_diagram_runs_right_to_left_with_persian_digits():
    svg = consort_svg(flow(["a"]), rtl=True, digits=lambda n: str(n).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    root = ET.fromstring(svg)
    assert root.get("direction") == "rtl" and 'text-anchor="start"' in svg  # start = the right edge right-to-left
    assert "\u2066(n = " in svg  # the count stays one left-to-right unit
    assert "۴۰" in svg and ">40<" not in svg


def test_a_long_reason_wraps_inside_its_box_and_keeps_its_number():
    reason = "Moved to night shifts and could not come to the sessions; does not wish to go on"
    base = flow(["a"])
    arm = base.arms[0]
    long = ArmFlow(arm.name, arm.allocated, arm.allocation_details, (Count(reason, 1, "a:withdrawn:1"),), arm.analysed)
    root = ET.fromstring(consort_svg(ConsortFlow(base.assessed, base.excluded, base.exclusion_reasons, base.randomized, (long,))))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    parts = [t for t in texts if t and t.split(" (n")[0] in reason]
    assert len(parts) >= 2 and " ".join(parts) == reason + " (n = 1)"
    assert all(len(t) <= 52 for t in parts)
    follow_up_box = [r for r in root.iter(f"{SVG}rect")][-2]  # allocation, follow-up, analysis: the middle one of the arm
    assert float(follow_up_box.get("height")) >= 2 * 10 + 18 * 3  # title + two wrapped lines
