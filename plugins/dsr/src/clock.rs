//! The legal clock of a data-subject request: when it must be acknowledged and answered, per
//! regime, with extensions and reminders. Pure date arithmetic on civil dates (no time zones: a
//! request counts from the calendar day it was received, in the controller's time zone).
//!
//! - **GDPR** (Art. 12(3)): one month from receipt, extendable by two further months. A month
//!   runs to the same day of the next month, or to its last day when that day does not exist
//!   (31 January → 28/29 February); a period ending on a Saturday, Sunday or listed holiday ends
//!   on the next working day (Regulation 1182/71, Art. 3(4)).
//! - **CCPA** (Cal. Civ. Code 1798.130, CCPA Regulations § 7021): acknowledge within 10 business
//!   days, answer within 45 calendar days, extendable once by 45 more (90 in all).
//! - **PIPL** (Art. 50): the period is the controller's to set; by default 15 working days,
//!   extendable by 15 more.

use serde::{Deserialize, Serialize};

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    /// The year, e.g. 2026.
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

impl Date {
    /// A date, if it exists.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut it = s.split('-');
        let (y, m, d) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
        if it.next().is_some() {
            return None;
        }
        Date::new(y, m, d)
    }

    /// Days since 1970-01-01.
    pub fn to_days(self) -> i64 {
        capcrm_plugin_sdk::time::days_from_civil(i64::from(self.year), u32::from(self.month), u32::from(self.day))
    }

    /// The date `z` days after 1970-01-01.
    pub fn from_days(z: i64) -> Date {
        let (y, m, d) = capcrm_plugin_sdk::time::civil(z);
        Date { year: y as i32, month: m as u8, day: d as u8 }
    }

    /// The civil date of a moment, microseconds since the Unix epoch, at a UTC offset in minutes.
    pub fn from_micros(us: u64, utc_offset_minutes: i32) -> Date {
        let secs = (us / 1_000_000) as i64 + i64::from(utc_offset_minutes) * 60;
        Date::from_days(secs.div_euclid(86_400))
    }

    /// 0 = Monday ... 6 = Sunday.
    pub fn weekday(self) -> u8 {
        (self.to_days() + 3).rem_euclid(7) as u8
    }

    /// `n` calendar days later (or earlier, for a negative `n`).
    pub fn add_days(self, n: i64) -> Date {
        Date::from_days(self.to_days() + n)
    }

    /// The same day `n` months later, or the last day of that month when it has no such day.
    pub fn add_months(self, n: u32) -> Date {
        let total = self.year * 12 + i32::from(self.month) - 1 + n as i32;
        let (y, m) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
        Date { year: y, month: m, day: self.day.min(days_in_month(y, m)) }
    }

    /// Calendar days from this date to `other` (negative when `other` is earlier).
    pub fn days_until(self, other: Date) -> i64 {
        other.to_days() - self.to_days()
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The working calendar: weekends and listed holidays are not working days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    /// Public holidays of the controller's jurisdiction.
    pub holidays: Vec<Date>,
}

impl Calendar {
    /// Monday to Friday, and not a holiday.
    pub fn is_working_day(&self, d: Date) -> bool {
        d.weekday() < 5 && !self.holidays.contains(&d)
    }

    /// `d` itself if it is a working day, else the next one.
    pub fn roll_forward(&self, mut d: Date) -> Date {
        while !self.is_working_day(d) {
            d = d.add_days(1);
        }
        d
    }

    /// The `n`-th working day after `d` (the day of receipt does not count).
    pub fn add_working_days(&self, mut d: Date, n: u32) -> Date {
        let mut left = n;
        while left > 0 {
            d = d.add_days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }
}

/// The regimes capcrm knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// The EU's General Data Protection Regulation.
    Gdpr,
    /// The California Consumer Privacy Act.
    Ccpa,
    /// China's Personal Information Protection Law.
    Pipl,
}

impl Regime {
    /// `gdpr`, `ccpa` or `pipl`, in any case.
    pub fn parse(s: &str) -> Option<Regime> {
        match s.to_ascii_lowercase().as_str() {
            "gdpr" => Some(Regime::Gdpr),
            "ccpa" => Some(Regime::Ccpa),
            "pipl" => Some(Regime::Pipl),
            _ => None,
        }
    }

    /// The lowercase name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Gdpr => "gdpr",
            Regime::Ccpa => "ccpa",
            Regime::Pipl => "pipl",
        }
    }
}

/// Settings of the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockSettings {
    /// Which days are working days.
    pub calendar: Calendar,
    /// PIPL's period, in working days.
    pub pipl_working_days: u32,
    /// PIPL's extension, in working days.
    pub pipl_extension_working_days: u32,
    /// Reminders this many days before the deadline.
    pub remind_days_before: Vec<u32>,
}

impl Default for ClockSettings {
    fn default() -> Self {
        ClockSettings { calendar: Calendar::default(), pipl_working_days: 15, pipl_extension_working_days: 15, remind_days_before: vec![7, 2] }
    }
}

/// A request's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// By when receipt must be acknowledged (CCPA only).
    pub acknowledge_by: Option<Date>,
    /// By when the request must be answered.
    pub respond_by: Date,
    /// The latest the answer may move to with the extension.
    pub extended_by: Date,
}

/// The deadlines of a request received on `received`, with or without its extension.
pub fn deadlines(regime: Regime, received: Date, s: &ClockSettings) -> Deadlines {
    let cal = &s.calendar;
    match regime {
        Regime::Gdpr => Deadlines {
            acknowledge_by: None,
            respond_by: cal.roll_forward(received.add_months(1)),
            extended_by: cal.roll_forward(received.add_months(3)),
        },
        Regime::Ccpa => Deadlines {
            acknowledge_by: Some(cal.add_working_days(received, 10)),
            respond_by: received.add_days(45),
            extended_by: received.add_days(90),
        },
        Regime::Pipl => {
            let respond_by = cal.add_working_days(received, s.pipl_working_days);
            Deadlines { acknowledge_by: None, respond_by, extended_by: cal.add_working_days(respond_by, s.pipl_extension_working_days) }
        }
    }
}

/// The deadline in force: the extended one once the request was extended.
pub fn due(d: &Deadlines, extended: bool) -> Date {
    if extended { d.extended_by } else { d.respond_by }
}

/// The reminders due on `today` for a deadline: the configured days before it that fall today,
/// and every day once it has passed.
pub fn reminder_due(deadline: Date, today: Date, s: &ClockSettings) -> Option<i64> {
    let left = today.days_until(deadline);
    (left < 0 || s.remind_days_before.iter().any(|d| i64::from(*d) == left)).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn civil_dates_round_trip() {
        for s in ["1970-01-01", "2000-02-29", "2024-02-29", "2026-12-31", "2100-03-01", "1969-12-31"] {
            assert_eq!(Date::from_days(d(s).to_days()), d(s), "{s}");
        }
        assert_eq!(d("1970-01-01").to_days(), 0);
        assert_eq!(d("1970-01-01").weekday(), 3, "a Thursday");
        assert_eq!(d("2026-12-02").weekday(), 2, "a Wednesday");
        assert_eq!(Date::new(2026, 2, 29), None);
        assert_eq!(Date::parse("2026-13-01"), None);
        assert_eq!(Date::from_micros(1_796_254_200_000_000, 0), d("2026-12-02"));
        assert_eq!(Date::from_micros(1_796_254_200_000_000, 480), d("2026-12-03"), "23:30 UTC is tomorrow in Beijing");
    }

    #[test]
    fn gdpr_month_ends_and_weekends() {
        let s = ClockSettings::default();
        // Same day next month, on a working day.
        assert_eq!(deadlines(Regime::Gdpr, d("2026-03-10"), &s).respond_by, d("2026-04-10"));
        // 31 January: the month ends on the last day of February (2026 is not a leap year)...
        assert_eq!(d("2026-01-31").add_months(1), d("2026-02-28"));
        // ...which is a Saturday, so the period ends on Monday 2 March.
        assert_eq!(deadlines(Regime::Gdpr, d("2026-01-31"), &s).respond_by, d("2026-03-02"));
        // In a leap year, 29 February.
        assert_eq!(d("2028-01-31").add_months(1), d("2028-02-29"));
        assert_eq!(deadlines(Regime::Gdpr, d("2028-01-31"), &s).respond_by, d("2028-02-29"), "a Tuesday");
        // Across the year end; 30 January would be a Saturday: Monday 1 February.
        assert_eq!(deadlines(Regime::Gdpr, d("2026-12-30"), &s).respond_by, d("2027-02-01"));
        // The extension adds two more months to the original date.
        let dl = deadlines(Regime::Gdpr, d("2026-10-31"), &s);
        assert_eq!(dl.respond_by, d("2026-11-30"));
        assert_eq!(dl.extended_by, d("2027-02-01"), "31 January 2027 is a Sunday");
        assert_eq!(due(&dl, true), dl.extended_by);
        // A holiday on the deadline moves it too.
        let with_holiday = ClockSettings { calendar: Calendar { holidays: vec![d("2026-04-10")] }, ..ClockSettings::default() };
        assert_eq!(deadlines(Regime::Gdpr, d("2026-03-10"), &with_holiday).respond_by, d("2026-04-13"));
    }

    #[test]
    fn ccpa_business_days_and_calendar_days() {
        let s = ClockSettings::default();
        // Received Friday 27 November 2026: 10 business days skip two weekends.
        let dl = deadlines(Regime::Ccpa, d("2026-11-27"), &s);
        assert_eq!(dl.acknowledge_by, Some(d("2026-12-11")));
        // 45 calendar days, weekends included, across the month end.
        assert_eq!(dl.respond_by, d("2027-01-11"));
        assert_eq!(dl.extended_by, d("2027-02-25"), "90 days in all");
        // A holiday inside the ten business days pushes the acknowledgement.
        let thanksgiving = ClockSettings { calendar: Calendar { holidays: vec![d("2026-11-26")] }, ..ClockSettings::default() };
        assert_eq!(deadlines(Regime::Ccpa, d("2026-11-20"), &thanksgiving).acknowledge_by, Some(d("2026-12-07")));
    }

    #[test]
    fn pipl_working_days_configurable() {
        let s = ClockSettings::default();
        // Received Wednesday 2 December 2026: 15 working days = three weeks.
        let dl = deadlines(Regime::Pipl, d("2026-12-02"), &s);
        assert_eq!(dl.respond_by, d("2026-12-23"));
        assert_eq!(dl.extended_by, d("2027-01-13"));
        // Received on a Saturday: counting starts with Monday.
        assert_eq!(deadlines(Regime::Pipl, d("2026-12-05"), &s).respond_by, d("2026-12-25"));
        let short = ClockSettings { pipl_working_days: 10, ..ClockSettings::default() };
        assert_eq!(deadlines(Regime::Pipl, d("2026-12-02"), &short).respond_by, d("2026-12-16"));
        // Holidays (the Spring Festival, say) do not count.
        let festival = ClockSettings {
            calendar: Calendar { holidays: (0..7).map(|i| d("2027-02-08").add_days(i)).collect() },
            ..ClockSettings::default()
        };
        assert_eq!(deadlines(Regime::Pipl, d("2027-02-01"), &festival).respond_by, d("2027-03-01"));
    }

    #[test]
    fn reminders_before_and_after_the_deadline() {
        let s = ClockSettings::default();
        let deadline = d("2026-12-23");
        assert_eq!(reminder_due(deadline, d("2026-12-16"), &s), Some(7));
        assert_eq!(reminder_due(deadline, d("2026-12-17"), &s), None);
        assert_eq!(reminder_due(deadline, d("2026-12-21"), &s), Some(2));
        assert_eq!(reminder_due(deadline, d("2026-12-23"), &s), None, "due today: no reminder configured for 0");
        assert_eq!(reminder_due(deadline, d("2026-12-24"), &s), Some(-1), "overdue: every day");
        assert_eq!(Regime::parse("GDPR"), Some(Regime::Gdpr));
        assert_eq!(Regime::parse("lgpd"), None);
    }
}
