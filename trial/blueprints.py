"""The two ready trial templates, as data (PRODUCT.md, "the model trial" and "a second kind").

A template only fills rows and settings of a new trial; everything stays editable until data
exists. Slugs are stable: exports and the API use them.
"""
from django.utils.translation import gettext_lazy as _

CONSENT_EN = """You are invited to take part in a study of group programmes for stress and burnout at work.

What taking part means: you fill in short questionnaires before the programme, at its end and some weeks later. You may be asked to join a weekly group led by a psychologist, or to wait and join later. Which group you join is decided by chance.

Your answers are kept confidential. Reports only show group figures; your name is replaced by a code in every analysis. Your employer does not see your answers.

Taking part is voluntary. You may stop at any time without giving a reason and without any consequence for your work. What you have already answered is kept unless you ask otherwise.

Questions: ask the research team (contact on your invitation)."""

CONSENT_FA = """از شما دعوت می‌شود در پژوهشی دربارهٔ برنامه‌های گروهی برای استرس و فرسودگی شغلی شرکت کنید.

شرکت در پژوهش یعنی: پیش از برنامه، در پایان آن و چند هفته پس از آن پرسشنامه‌های کوتاهی را پر می‌کنید. ممکن است از شما خواسته شود در گروهی هفتگی با هدایت یک روان‌شناس شرکت کنید یا منتظر بمانید و بعداً بپیوندید. گروه شما به‌صورت تصادفی تعیین می‌شود.

پاسخ‌های شما محرمانه است. گزارش‌ها فقط ارقام گروهی را نشان می‌دهند و در همهٔ تحلیل‌ها نام شما با یک کد جایگزین می‌شود. کارفرمای شما پاسخ‌هایتان را نمی‌بیند.

شرکت داوطلبانه است. هر زمان بخواهید می‌توانید بدون ذکر دلیل و بدون هیچ پیامدی برای کارتان کنار بروید. پاسخ‌هایی که داده‌اید نگه داشته می‌شود مگر آن‌که خلاف آن را بخواهید.

پرسش‌ها: از گروه پژوهش بپرسید (نشانی تماس روی دعوت‌نامهٔ شما)."""

OUTCOMES = ["cdrisc", "wssi", "pss", "ryff", "mbi"]

TEMPLATES = {
    "burnout-three-arm": {
        "title": _("Burnout in factory workers: compassion, mentalization, waitlist"),
        "description": _(
            "The model trial: MBI screening of workers with at least 5 years of service; "
            "compassion-based and mentalization-based groups (12 weekly 90-minute sessions) "
            "against a waitlist, 1:1:1; pretest, posttest and follow-up 8 weeks after posttest."
        ),
        "trial": {
            "screening_rule": "either",
            "screening_cutoff": 60,
            "screening_comparison": "ge",
            "screening_sd_k": 1,
            "min_years_of_service": 5,
            "min_education_grade": 9,
            "required_sex": "",
            "requires_attendance": True,
            "absence_threshold": 2,
            "absence_comparison": "gt",
        },
        "arms": [
            {"slug": "compassion", "name": _("Compassion-based"), "kind": "active", "allocation_weight": 1,
             "session_count": 12, "session_minutes": 90, "session_interval_days": 7, "mode": "in_person"},
            {"slug": "mentalization", "name": _("Mentalization-based"), "kind": "active", "allocation_weight": 1,
             "session_count": 12, "session_minutes": 90, "session_interval_days": 7, "mode": "in_person"},
            {"slug": "waitlist", "name": _("Waitlist"), "kind": "waitlist", "allocation_weight": 1,
             "session_count": 0, "session_minutes": 0, "session_interval_days": 7, "mode": "in_person"},
        ],
        "time_points": [
            {"slug": "screening", "name": _("Screening"), "anchor": "screening_opens", "offset_days": 0,
             "is_screening": True, "instruments": ["mbi"]},
            {"slug": "pretest", "name": _("Pretest"), "anchor": "before_first_session", "offset_days": -7,
             "instruments": OUTCOMES},
            {"slug": "posttest", "name": _("Posttest"), "anchor": "after_last_session", "offset_days": 0,
             "instruments": OUTCOMES},
            {"slug": "followup", "name": _("Follow-up"), "anchor": "after_time_point", "anchor_time_point": "posttest",
             "offset_days": 56, "instruments": OUTCOMES},
        ],
        # 60 eligible workers randomized at once, 20 per arm (the studies' cohort design).
        "randomization": {"method": "cohort", "block_sizes": [3, 6], "strata": []},
        "consent": {"en": ("Consent to take part", CONSENT_EN), "fa": ("رضایت آگاهانه برای شرکت در پژوهش", CONSENT_FA)},
    },
    "helping-the-helper": {
        "title": _("Helping the Helper: online programme for mental health professionals"),
        "description": _(
            "One arm, six weekly online sessions (modified Functional Analytic Psychotherapy), "
            "measured before and after; no control group, no screening."
        ),
        "trial": {
            "screening_rule": "fixed",
            "screening_cutoff": None,
            "screening_comparison": "ge",
            "screening_sd_k": 1,
            "min_years_of_service": None,
            "min_education_grade": None,
            "required_sex": "",
            "requires_attendance": True,
            "absence_threshold": None,
            "absence_comparison": "gt",
        },
        "arms": [
            {"slug": "helping-the-helper", "name": _("Helping the Helper"), "kind": "active", "allocation_weight": 1,
             "session_count": 6, "session_minutes": 90, "session_interval_days": 7, "mode": "online"},
        ],
        "time_points": [
            {"slug": "pretest", "name": _("Pretest"), "anchor": "before_first_session", "offset_days": -7,
             "instruments": ["wssi"]},
            {"slug": "posttest", "name": _("Posttest"), "anchor": "after_last_session", "offset_days": 0,
             "instruments": ["wssi"]},
        ],
        "randomization": {"method": "cohort", "block_sizes": [1], "strata": []},
        "consent": {"en": ("Consent to take part", CONSENT_EN), "fa": ("رضایت آگاهانه برای شرکت در پژوهش", CONSENT_FA)},
    },
}


def template_choices():
    return [(name, data["title"]) for name, data in TEMPLATES.items()]
