//! RFC 3339 times as the event contract reads them (`ts` with an offset).
//!
//! The accepted forms are those the decoder has always taken: `YYYY-MM-DD`, `T`, `t` or a
//! space, `HH:MM:SS`, an optional fraction (any number of digits, rounded half up to the
//! microsecond), then `Z`, `z` or an offset `±HH:MM` / `±HHMM` below 24 hours. Years 0001-9999,
//! no leap second, no hour 24. The epoch milliseconds are computed as Python's
//! `int(datetime.timestamp() * 1000)` does, float rounding included, so a time decodes to the
//! same millisecond as before.

/// Why a text is not a time with an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum TimeError {
    /// Not an RFC 3339 date-time at all.
    Invalid,
    /// A date-time without an offset: which zone it is in cannot be known.
    NoOffset,
}

/// A date-time with its offset, to the microsecond.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micro: u32,
    /// Seconds east of UTC.
    pub offset: i32,
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn month_days(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if leap(year) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
pub fn days_from_epoch(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse one date-time.
pub fn parse(text: &str) -> Result<DateTime, TimeError> {
    let b = text.as_bytes();
    let bad = Err(TimeError::Invalid);
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return bad;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return bad;
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(b, 0, 4),
        digits(b, 5, 2),
        digits(b, 8, 2),
        digits(b, 11, 2),
        digits(b, 14, 2),
        digits(b, 17, 2),
    ) else {
        return bad;
    };
    let year = i64::from(year);
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > month_days(year, month) {
        return bad;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return bad;
    }
    let mut at = 19;
    let mut micro = 0u32;
    let mut round_up = false;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            let d = u32::from(b[at] - b'0');
            let place = at - start;
            if place < 6 {
                micro = micro * 10 + d;
            } else if place == 6 {
                round_up = d >= 5;
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return bad;
        }
        for _ in n..6 {
            micro *= 10;
        }
    }
    let offset = match b.get(at) {
        None => return Err(TimeError::NoOffset),
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hh = digits(b, at + 1, 2).ok_or(TimeError::Invalid)?;
            let (mm, end) = if b.get(at + 3) == Some(&b':') {
                (digits(b, at + 4, 2).ok_or(TimeError::Invalid)?, at + 6)
            } else {
                (digits(b, at + 3, 2).ok_or(TimeError::Invalid)?, at + 5)
            };
            if hh > 23 || mm > 59 {
                return bad;
            }
            at = end;
            let secs = (hh * 3600 + mm * 60) as i32;
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        Some(_) => return bad,
    };
    if at != b.len() {
        return bad;
    }
    let mut dt = DateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micro,
        offset,
    };
    if round_up {
        dt = dt.plus_micro().ok_or(TimeError::Invalid)?;
    }
    Ok(dt)
}

impl DateTime {
    /// One microsecond later (the fraction's rounding); None past 9999-12-31.
    fn plus_micro(mut self) -> Option<Self> {
        self.micro += 1;
        if self.micro < 1_000_000 {
            return Some(self);
        }
        self.micro = 0;
        self.second += 1;
        if self.second < 60 {
            return Some(self);
        }
        self.second = 0;
        self.minute += 1;
        if self.minute < 60 {
            return Some(self);
        }
        self.minute = 0;
        self.hour += 1;
        if self.hour < 24 {
            return Some(self);
        }
        self.hour = 0;
        self.day += 1;
        if self.day <= month_days(self.year, self.month) {
            return Some(self);
        }
        self.day = 1;
        self.month += 1;
        if self.month <= 12 {
            return Some(self);
        }
        self.month = 1;
        self.year += 1;
        (self.year <= 9999).then_some(self)
    }

    /// Microseconds since the epoch, exactly.
    pub fn epoch_micros(&self) -> i128 {
        let days = i128::from(days_from_epoch(self.year, self.month, self.day));
        let secs = days * 86_400 + i128::from(self.hour * 3600 + self.minute * 60 + self.second)
            - i128::from(self.offset);
        secs * 1_000_000 + i128::from(self.micro)
    }

    /// Epoch milliseconds as Python's `int(datetime.timestamp() * 1000)` gives them.
    pub fn epoch_millis(&self) -> i64 {
        // timestamp() divides the exact microseconds by 10**6 (one rounding: exact below
        // 2**53 microseconds, i.e. before the year 2255), then * 1000 and truncation
        let seconds = self.epoch_micros() as f64 / 1e6;
        (seconds * 1000.0).trunc() as i64
    }

    /// The text Python's `datetime.isoformat()` gives (for messages).
    pub fn isoformat(&self) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.micro != 0 {
            out.push_str(&format!(".{:06}", self.micro));
        }
        let sign = if self.offset < 0 { '-' } else { '+' };
        let off = self.offset.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", off / 3600, off % 3600 / 60));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        parse(text).unwrap().epoch_millis()
    }

    #[test]
    fn offsets_and_separators() {
        assert_eq!(ms("2026-11-11T10:00:00+08:00"), 1_794_362_400_000);
        assert_eq!(ms("2026-11-11t02:00:00z"), 1_794_362_400_000);
        assert_eq!(ms("2026-11-11 02:00:00Z"), 1_794_362_400_000);
        assert_eq!(ms("2026-11-11T10:00:00+0800"), 1_794_362_400_000);
        assert_eq!(ms("2026-11-11T02:00:00-00:00"), 1_794_362_400_000);
        assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
    }

    #[test]
    fn fractions_round_half_up_to_the_microsecond() {
        assert_eq!(
            parse("2026-11-11T10:00:00.1234565Z").unwrap().micro,
            123_457
        );
        assert_eq!(parse("2026-11-11T10:00:00.00000049999Z").unwrap().micro, 0);
        let carried = parse("2026-11-11T23:59:59.9999999Z").unwrap();
        assert_eq!((carried.day, carried.hour, carried.micro), (12, 0, 0));
        assert_eq!(
            parse("9999-12-31T23:59:59.9999999Z"),
            Err(TimeError::Invalid)
        );
        assert_eq!(ms("2026-11-11T02:00:00.123Z"), 1_794_362_400_123);
    }

    #[test]
    fn what_is_refused() {
        for bad in [
            "2026-11-11T10:00Z",
            "2026-11-11T10:00:00+08",
            "2026-11-11T24:00:00Z",
            "2026-11-11T10:00:60Z",
            "2026-02-30T10:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-11-11T10:00:00.Z",
            "2026-11-11T10:00:00+24:00",
            "2026-11-11",
            "2026-11-11T10:00:00,5Z",
            "2026-11-11T10:00:00Z ",
            " 2026-11-11T10:00:00Z",
            "2026-11-11T10:00:00+08:00:00",
            "+2026-11-11T10:00:00Z",
            "2026-1-11T10:00:00Z",
        ] {
            assert_eq!(parse(bad), Err(TimeError::Invalid), "{bad}");
        }
        assert_eq!(parse("2026-11-11T10:00:00"), Err(TimeError::NoOffset));
        assert_eq!(parse("2026-11-11T10:00:00.5"), Err(TimeError::NoOffset));
    }

    #[test]
    fn isoformat_as_python_writes_it() {
        assert_eq!(
            parse("2026-11-11T10:00:00.5+08:30").unwrap().isoformat(),
            "2026-11-11T10:00:00.500000+08:30"
        );
        assert_eq!(
            parse("1969-12-31T23:59:59Z").unwrap().isoformat(),
            "1969-12-31T23:59:59+00:00"
        );
    }
}
