"""Read an .ics file with libical (the parser Evolution uses) and print what it sees as JSON.

Runs under the system interpreter, which has PyGObject and ICalGLib (Debian gir1.2-ical-3.0,
python3-gi): ``/usr/bin/python3 read_ics_libical.py file.ics``.
"""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402


def moment(time):
    if time is None or time.is_null_time():
        return None
    if time.is_date():
        return {
            "local": f"{time.get_year():04d}-{time.get_month():02d}-{time.get_day():02d}",
            "is_date": True,
        }
    zone = time.get_timezone()
    utc = time.convert_to_zone(ICalGLib.Timezone.get_utc_timezone()) if zone is not None else None
    return {
        "local": time.as_ical_string(),
        "zone": zone.get_tzid() if zone is not None else None,
        "is_date": False,
        "utc": utc.as_ical_string() if utc is not None else None,
    }


def main(path):
    with open(path, encoding="utf-8") as handle:
        calendar = ICalGLib.Component.new_from_string(handle.read())
    events = []
    event = calendar.get_first_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
    while event is not None:
        status = event.get_first_property(ICalGLib.PropertyKind.STATUS_PROPERTY)
        events.append(
            {
                "uid": event.get_uid(),
                "sequence": event.get_sequence(),
                "status": status.get_value_as_string() if status is not None else None,
                "summary": event.get_summary(),
                "start": moment(event.get_dtstart()),
                "end": moment(event.get_dtend()),
            }
        )
        event = calendar.get_next_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
    json.dump({"errors": calendar.count_errors(), "events": events}, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
