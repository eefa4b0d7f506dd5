//! The store's clock. Every rule that reads time (leases, backoff, token expiry, timestamps the
//! store assigns) reads it here, so that a manual clock makes those rules testable without sleeping.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of the current time, in microseconds since the Unix epoch.
///
/// Cloning a manual clock shares it: advancing one clone advances every store opened with it.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that stands still at `start` until advanced or set.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock { manual: Some(Arc::new(AtomicI64::new(start.timestamp_micros()))) }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    pub fn now(&self) -> DateTime<Utc> {
        from_micros(self.now_micros())
    }

    pub(crate) fn now_micros(&self) -> i64 {
        match &self.manual {
            Some(micros) => micros.load(Ordering::SeqCst),
            None => Utc::now().timestamp_micros(),
        }
    }

    /// Moves a manual clock forward. On the system clock: an error, since it cannot be moved.
    pub fn advance(&self, by: Duration) -> crate::Result<()> {
        let micros = self.manual_cell()?;
        let by = i64::try_from(by.as_micros()).map_err(|_| crate::Error::invalid("clock advance is too large"))?;
        micros.fetch_add(by, Ordering::SeqCst);
        Ok(())
    }

    /// Sets a manual clock to `at` (backwards too). On the system clock: an error.
    pub fn set(&self, at: DateTime<Utc>) -> crate::Result<()> {
        self.manual_cell()?.store(at.timestamp_micros(), Ordering::SeqCst);
        Ok(())
    }

    fn manual_cell(&self) -> crate::Result<&AtomicI64> {
        self.manual.as_deref().ok_or_else(|| {
            crate::Error::invalid("the store runs on the system clock; open it with a manual clock to move time")
        })
    }
}

/// The system time at the precision the store keeps (microseconds), for records made outside a
/// store (`WorkflowExecution::new`, ...): such a record reads back equal to itself.
pub fn system_now() -> DateTime<Utc> {
    from_micros(Utc::now().timestamp_micros())
}

/// Converts a stored time back to a `DateTime`. Every stored time went in through
/// `timestamp_micros`, so it is in range; a value that is not (a file edited by hand) saturates
/// instead of panicking.
pub(crate) fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(if micros < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

pub(crate) fn to_micros(at: &DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A record's time, serialized as the RFC 3339 text chrono's own `Serialize` prints (seconds
/// with as many fraction digits as they need, `Z`), for `#[serde(serialize_with)]` on every
/// record's time fields. Why not chrono's: it prints through `collect_str`, and serde_json
/// escapes what that writes a character at a time; printed into a string first, the text is
/// the same at a fraction of the cost (a quarter of the time of serializing an execution went
/// to its times).
pub(crate) fn serialize_time<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// [`serialize_time`] for a time that may be absent.
pub(crate) fn serialize_optional_time<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_some(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        None => serializer.serialize_none(),
    }
}

/// A duration as microseconds, saturating (a lease of a thousand years is still a number).
pub(crate) fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_serialize_as_chrono_prints_them() {
        #[derive(serde::Serialize)]
        struct Ours {
            #[serde(serialize_with = "serialize_time")]
            at: DateTime<Utc>,
            #[serde(serialize_with = "serialize_optional_time")]
            maybe: Option<DateTime<Utc>>,
        }
        #[derive(serde::Serialize)]
        struct Chronos {
            at: DateTime<Utc>,
            maybe: Option<DateTime<Utc>>,
        }
        let times = [
            0,
            1_700_000_000_000_000,
            1_700_000_000_123_000,
            1_700_000_000_123_456,
            1_700_000_000_000_001,
            -62_135_596_800_000_000,
            253_402_300_799_999_999,
            -1,
        ]
        .map(from_micros)
        .into_iter()
        .chain([DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC]);
        for at in times {
            for maybe in [None, Some(at)] {
                let ours = serde_json::to_string(&Ours { at, maybe }).expect("serializes");
                let chronos = serde_json::to_string(&Chronos { at, maybe }).expect("serializes");
                assert_eq!(ours, chronos);
            }
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).expect("valid time");
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(30)).expect("manual clock advances");
        assert_eq!(clock.now(), start + chrono::Duration::seconds(30));
        let shared = clock.clone();
        shared.advance(Duration::from_millis(1)).expect("clone shares the clock");
        assert_eq!(clock.now(), start + chrono::Duration::milliseconds(30_001));
    }

    #[test]
    fn system_clock_refuses_to_move() {
        let err = Clock::system().advance(Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
    }

    #[test]
    fn system_now_is_whole_microseconds() {
        assert_eq!(system_now().timestamp_subsec_nanos() % 1_000, 0);
    }

    #[test]
    fn out_of_range_micros_saturate() {
        assert_eq!(from_micros(i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(from_micros(i64::MIN), DateTime::<Utc>::MIN_UTC);
    }
}
