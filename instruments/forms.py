"""Forms shape and check input; the services do the writing."""
import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from instruments.library import get_instrument, shipped_codes

MAX_CSV_BYTES = 1024 * 1024


class KeyCorrectionForm(forms.Form):
    variant = forms.ChoiceField(label=_("Use a documented key variant"), required=False)
    reverse = forms.CharField(label=_("Reverse-keyed items (comma-separated item ids)"), required=False)
    reason = forms.CharField(label=_("Reason for the correction (kept in the audit trail)"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, definition, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.definition = definition
        variants = definition.get("key_variants", {})
        self.fields["variant"].choices = [("", _("— keep the current key —"))] + [
            (name, f"{name}: {v.get('description', '')}") for name, v in variants.items()
        ]
        self.fields["reverse"].initial = ", ".join(definition.get("reverse", []))

    def clean_reverse(self):
        raw = self.cleaned_data["reverse"]
        ids = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
        known = {item["id"] for item in self.definition["items"]}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise forms.ValidationError(
                _("Unknown item ids: %(ids)s. Items are %(first)s to %(last)s.")
                % {"ids": ", ".join(unknown), "first": self.definition["items"][0]["id"],
                   "last": self.definition["items"][-1]["id"]}
            )
        return sorted(set(ids), key=int)

    def clean(self):
        cleaned = super().clean()
        current = sorted(self.definition.get("reverse", []), key=int)
        if not cleaned.get("variant") and cleaned.get("reverse") == current:
            raise forms.ValidationError(_("Nothing changes: choose a variant or edit the reverse-keyed items."))
        return cleaned

    def changes(self) -> dict:
        if self.cleaned_data["variant"]:
            return {"variant": self.cleaned_data["variant"]}
        return {"reverse": self.cleaned_data["reverse"]}


class WordingImportForm(forms.Form):
    instrument = forms.ChoiceField(label=_("Questionnaire"))
    file = forms.FileField(label=_("CSV file (columns item_id, language, text; UTF-8)"))

    def __init__(self, trial, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trial = trial
        self.fields["instrument"].choices = [(code, code.upper()) for code in shipped_codes()]

    def clean_instrument(self):
        return get_instrument(self.cleaned_data["instrument"])

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(_("The file is larger than 1 MB; import one questionnaire at a time."))
        try:
            self._text = upload.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 text; save it as 'CSV UTF-8'.")) from exc
        return upload

    def csv_text(self) -> str:
        return self._text


class OpenTimePointForm(forms.Form):
    opens_on = forms.DateField(label=_("Opens on"), widget=forms.DateInput(attrs={"type": "date"}))
    opens_time = forms.TimeField(label=_("at"), required=False, initial=datetime.time(8, 0),
                                 widget=forms.TimeInput(attrs={"type": "time"}))

    def opens_at(self) -> datetime.datetime:
        at = self.cleaned_data.get("opens_time") or datetime.time(8, 0)
        return timezone.make_aware(datetime.datetime.combine(self.cleaned_data["opens_on"], at))


class PaperForm(forms.Form):
    form_date = forms.DateField(label=_("Date written on the form"), widget=forms.DateInput(attrs={"type": "date"}))
    double_entry = forms.BooleanField(label=_("This form will be typed twice (double entry)"), required=False)

    def __init__(self, instruments, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instruments = instruments
        self.groups = []
        for instrument in instruments:
            scale = instrument.definition["scale"]
            choices = [("", "—")] + [(str(v), str(v)) for v in range(scale["min"], scale["max"] + 1)]
            if instrument.definition.get("prefer_not_to_answer"):
                choices.append(("declined", _("declined")))
            names = []
            for item in instrument.definition["items"]:
                name = f"{instrument.code}:{item['id']}"
                self.fields[name] = forms.ChoiceField(label=item["id"], choices=choices, required=False)
                names.append(name)
            self.groups.append((instrument, names))

    def item_groups(self):
        return [(instrument, [self[name] for name in names]) for instrument, names in self.groups]

    def answers(self) -> dict:
        result = {}
        for instrument, names in self.groups:
            result[instrument.code] = {}
            for name in names:
                raw = self.cleaned_data.get(name) or ""
                value = None if raw == "" else ("declined" if raw == "declined" else int(raw))
                result[instrument.code][name.split(":", 1)[1]] = value
        return result


class AdjudicationForm(forms.Form):
    def __init__(self, mismatches, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mismatches = mismatches
        for code, item, first, second in mismatches:
            name = f"{code}:{item}"
            choices = [(str(v), str(v) if v is not None else _("blank")) for v in dict.fromkeys([first, second])]
            self.fields[name] = forms.ChoiceField(label=f"{code.upper()} {item}", choices=choices,
                                                  widget=forms.RadioSelect)

    def resolved(self) -> dict:
        result: dict = {}
        for code, item, _first, _second in self.mismatches:
            if code == "form":
                continue
            raw = self.cleaned_data[f"{code}:{item}"]
            value = None if raw == "None" else ("declined" if raw == "declined" else int(raw))
            result.setdefault(code, {})[item] = value
        return result

    def form_date(self):
        raw = self.cleaned_data.get("form:date")
        return datetime.date.fromisoformat(raw) if raw else None
