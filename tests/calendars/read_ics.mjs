// Read an .ics file with ical.js (Mozilla's parser, the one Thunderbird uses) and print what it sees
// as JSON: one object per VEVENT. Usage: node read_ics.mjs file.ics
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2], "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));

// Thunderbird resolves TZIDs through the file's own VTIMEZONE blocks; do the same, so a wrong or
// missing VTIMEZONE shows up as a wrong UTC instant below.
const zones = calendar.getAllSubcomponents("vtimezone").map((vtimezone) => {
  const zone = new ICAL.Timezone(vtimezone);
  ICAL.TimezoneService.register(zone);
  return zone.tzid;
});

function moment(time) {
  if (time === null) return null;
  return {
    local: time.toString(),          // wall time as written: 2027-03-28T09:00:00 (or 2027-03-28 for a date)
    zone: time.isDate ? null : time.zone.tzid,
    is_date: time.isDate,
    utc: time.isDate ? null : time.toJSDate().toISOString(),
  };
}

const events = calendar.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  return {
    uid: event.uid,
    sequence: event.sequence,
    status: vevent.getFirstPropertyValue("status"),
    summary: event.summary,
    description: event.description,
    start: moment(event.startDate),
    end: moment(event.endDate),
    stamp: vevent.getFirstPropertyValue("dtstamp").toString(),
    alarms: vevent.getAllSubcomponents("valarm").map((valarm) => ({
      action: valarm.getFirstPropertyValue("action"),
      trigger: valarm.getFirstPropertyValue("trigger").toString(),
      description: valarm.getFirstPropertyValue("description"),
    })),
  };
});

process.stdout.write(JSON.stringify({
  method: calendar.getFirstPropertyValue("method"),
  timezones: zones,
  events,
}, null, 1));
