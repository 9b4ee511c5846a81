//! Both tables in an SQLite file (`booking-engine serve --data DIR`): what the engine
//! answered survives a crash, so a Retell retry after a restart finds its booking instead of
//! booking twice. Every write is committed (WAL, `synchronous = FULL`) before the call that
//! made it returns, so before the caller hears the answer.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Appointment, AppointmentSegment, AppointmentStatus, AppointmentStore, LocalReservation,
    ReservationStore, SyncStatus,
};

/// The engine's database in one SQLite file.
/// The second mutex makes a look-up and the write after it one step (the "not booked"
/// bookkeeping), as a transaction would.
pub struct SqliteStore(Mutex<Connection>, Mutex<()>);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS appointments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id INTEGER NOT NULL,
    call_id TEXT,
    customer_name TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    sync TEXT NOT NULL,
    phases TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS appointments_start ON appointments (start_ms);
CREATE INDEX IF NOT EXISTS appointments_call ON appointments (call_id);
CREATE TABLE IF NOT EXISTS reservations (
    token TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    service_id INTEGER NOT NULL,
    stylist INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS boots (n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answered (
    call_id TEXT NOT NULL,
    service_id INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    asked INTEGER NOT NULL DEFAULT 0,
    arrived_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (call_id, service_id, start_ms, asked)
);
";

const APPOINTMENT: &str = "SELECT id, service_id, call_id, customer_name, start_ms, end_ms, \
                           status, sync, phases, created_ms FROM appointments";
const RESERVATION: &str = "SELECT token, call_id, service_id, stylist, start_ms, end_ms, until_ms, state FROM reservations";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn status_name(s: AppointmentStatus) -> &'static str {
    match s {
        AppointmentStatus::Booked => "booked",
        AppointmentStatus::Cancelled => "cancelled",
    }
}

fn sync_name(s: SyncStatus) -> &'static str {
    match s {
        SyncStatus::Synced => "synced",
        SyncStatus::Pending => "pending",
        SyncStatus::Failed => "failed",
    }
}

/// A reservation state as the `'static` name the engine uses.
fn state_name(s: &str) -> &'static str {
    ["held", "converted", "expired", "cancelled"]
        .into_iter()
        .find(|k| *k == s)
        .unwrap_or("expired")
}

fn appointment(row: &Row<'_>) -> rusqlite::Result<Appointment> {
    let segments: String = row.get(8)?;
    Ok(Appointment {
        id: row.get(0)?,
        service_id: row.get(1)?,
        call_id: row.get(2)?,
        customer_name: row.get(3)?,
        start: instant(row.get(4)?),
        end: instant(row.get(5)?),
        status: match row.get::<_, String>(6)?.as_str() {
            "cancelled" => AppointmentStatus::Cancelled,
            _ => AppointmentStatus::Booked,
        },
        sync: match row.get::<_, String>(7)?.as_str() {
            "synced" => SyncStatus::Synced,
            "failed" => SyncStatus::Failed,
            _ => SyncStatus::Pending,
        },
        segments: serde_json::from_str::<Vec<AppointmentSegment>>(&segments).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, e.into())
        })?,
        created_at: instant(row.get(9)?),
    })
}

fn reservation(row: &Row<'_>) -> rusqlite::Result<LocalReservation> {
    Ok(LocalReservation {
        token: row.get(0)?,
        call_id: row.get(1)?,
        service_id: row.get(2)?,
        stylist: row.get(3)?,
        start: instant(row.get(4)?),
        end: instant(row.get(5)?),
        until: instant(row.get(6)?),
        state: state_name(&row.get::<_, String>(7)?),
    })
}

/// A database made before the answered request's arrival was kept gets its column (0: an
/// answer of then undoes by its time only, as it did).
fn add_arrived(db: &Connection) -> rusqlite::Result<()> {
    let has = db
        .prepare("SELECT 1 FROM pragma_table_info('answered') WHERE name = 'arrived_ms'")?
        .exists([])?;
    if !has {
        db.execute_batch("ALTER TABLE answered ADD COLUMN arrived_ms INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) `dir/engine.sqlite3`.
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = dir.join("engine.sqlite3");
        let db = Connection::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        db.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| db.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| db.execute_batch(SCHEMA))
            .and_then(|()| add_arrived(&db))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(Self(Mutex::new(db), Mutex::default()))
    }

    /// [`SqliteStore::open`], emptied: no appointment, reservation or past start is kept,
    /// so the engine starts as on a new folder (a run after a run, against a freshly
    /// loaded Cal.com).
    pub fn open_empty(dir: &Path) -> Result<Self, String> {
        let store = Self::open(dir)?;
        store
            .db()
            .execute_batch(
                "DELETE FROM appointments; DELETE FROM reservations; DELETE FROM boots; \
                 DELETE FROM answered; DELETE FROM sqlite_sequence;",
            )
            .map_err(|e| format!("{}: {e}", dir.join("engine.sqlite3").display()))?;
        Ok(store)
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rows of `sql`; a database that fails a read is a bug the engine cannot answer around.
    fn rows<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        read: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Vec<T> {
        let db = self.db();
        let mut statement = db.prepare_cached(sql).expect("valid SQL");
        statement
            .query_map(args, read)
            .and_then(Iterator::collect)
            .unwrap_or_else(|e| panic!("reading the engine's database: {e}"))
    }

    /// The "not booked" bookkeeping's turn (see the struct).
    fn answering(&self) -> MutexGuard<'_, ()> {
        self.1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, sql: &str, args: impl rusqlite::Params) -> usize {
        self.db()
            .execute(sql, args)
            .unwrap_or_else(|e| panic!("writing the engine's database: {e}"))
    }
}

impl AppointmentStore for SqliteStore {
    fn appointments(&self) -> Vec<Appointment> {
        self.rows(&format!("{APPOINTMENT} ORDER BY id"), [], appointment)
    }

    fn appointment(&self, id: u64) -> Option<Appointment> {
        self.rows(&format!("{APPOINTMENT} WHERE id = ?1"), [id], appointment)
            .pop()
    }

    fn booked_by_call(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
    ) -> Option<Appointment> {
        self.rows(
            &format!(
                "{APPOINTMENT} WHERE status = 'booked' AND call_id = ?1 AND start_ms = ?2 AND service_id = ?3 ORDER BY id LIMIT 1"
            ),
            params![call_id, ms(start), service_id],
            appointment,
        )
        .pop()
    }

    fn answer_unbooked(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
        at: super::Told,
    ) -> Option<Appointment> {
        // One connection behind the mutex: the look-up and the write are one transaction.
        let _whole = self.answering();
        if let Some(done) = self.booked_by_call(call_id, service_id, start) {
            return Some(done);
        }
        self.write(
            "INSERT INTO answered (call_id, service_id, start_ms, at_ms, asked, arrived_ms) VALUES (?1, ?2, ?3, ?4, 0, ?5) \
             ON CONFLICT (call_id, service_id, start_ms, asked) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms), \
             arrived_ms = max(arrived_ms, excluded.arrived_ms)",
            params![call_id, service_id, ms(start), ms(at.at), ms(at.arrived)],
        );
        None
    }

    fn ask(&self, call_id: &str, service_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) {
        let _whole = self.answering();
        self.write(
            "INSERT INTO answered (call_id, service_id, start_ms, at_ms, asked) VALUES (?1, ?2, ?3, ?4, 1) \
             ON CONFLICT (call_id, service_id, start_ms, asked) DO UPDATE SET at_ms = max(at_ms, excluded.at_ms)",
            params![call_id, service_id, ms(start), ms(at)],
        );
    }

    fn insert_unless_answered(
        &self,
        appointment: Appointment,
        arrived: DateTime<Utc>,
        locked: DateTime<Utc>,
    ) -> Option<Appointment> {
        let _whole = self.answering();
        if let Some(call) = &appointment.call_id {
            let (mut answered, mut asked) = (super::Answers::new(), super::Answered::new());
            for (service, start, at, was_asked, came) in self.rows(
                "SELECT service_id, start_ms, at_ms, asked, arrived_ms FROM answered WHERE call_id = ?1",
                [call],
                |r| {
                    Ok((
                        r.get::<_, u64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            ) {
                let (start, at) = (instant(start), instant(at));
                if was_asked {
                    super::record_unbooked(&mut asked, call, service, start, at);
                } else {
                    let told = super::Told {
                        at,
                        arrived: instant(came),
                    };
                    super::record_answer(&mut answered, call, service, start, told);
                }
            }
            if super::told_unbooked_since(
                &answered,
                &asked,
                call,
                appointment.service_id,
                appointment.start,
                arrived,
                locked,
            ) {
                return None;
            }
        }
        Some(self.insert(appointment))
    }

    fn conflict_at_start(&self, start: DateTime<Utc>) -> Option<Appointment> {
        self.rows(
            &format!("{APPOINTMENT} WHERE status = 'booked' AND start_ms = ?1 ORDER BY id LIMIT 1"),
            [ms(start)],
            appointment,
        )
        .pop()
    }

    fn overlapping(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Appointment> {
        self.rows(
            &format!(
                "{APPOINTMENT} WHERE status = 'booked' AND start_ms < ?2 AND ?1 < end_ms ORDER BY id"
            ),
            [ms(start), ms(end)],
            appointment,
        )
    }

    fn insert(&self, mut appointment: Appointment) -> Appointment {
        let db = self.db();
        db.execute(
            "INSERT INTO appointments (service_id, call_id, customer_name, start_ms, end_ms, \
             status, sync, phases, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                appointment.service_id,
                appointment.call_id,
                appointment.customer_name,
                ms(appointment.start),
                ms(appointment.end),
                status_name(appointment.status),
                sync_name(appointment.sync),
                serde_json::to_string(&appointment.segments).expect("phases serialize"),
                ms(appointment.created_at),
            ],
        )
        .unwrap_or_else(|e| panic!("writing the engine's database: {e}"));
        appointment.id = u64::try_from(db.last_insert_rowid()).unwrap_or_default();
        appointment
    }

    fn cancel(&self, id: u64) -> Option<Appointment> {
        self.write(
            "UPDATE appointments SET status = 'cancelled' WHERE id = ?1",
            [id],
        );
        self.appointment(id)
    }

    fn set_sync(&self, id: u64, sync: SyncStatus, segments: Option<Vec<AppointmentSegment>>) {
        match segments {
            Some(segments) => self.write(
                "UPDATE appointments SET sync = ?2, phases = ?3 WHERE id = ?1",
                params![
                    id,
                    sync_name(sync),
                    serde_json::to_string(&segments).expect("phases serialize")
                ],
            ),
            None => self.write(
                "UPDATE appointments SET sync = ?2 WHERE id = ?1",
                params![id, sync_name(sync)],
            ),
        };
    }

    fn boot(&self) -> u64 {
        let db = self.db();
        let before: Option<u64> = db
            .query_row("SELECT n FROM boots", [], |r| r.get(0))
            .optional()
            .unwrap_or_else(|e| panic!("reading the engine's database: {e}"));
        let result = match before {
            Some(n) => db.execute("UPDATE boots SET n = ?1", [n + 1]),
            None => db.execute("INSERT INTO boots (n) VALUES (1)", []),
        };
        result.unwrap_or_else(|e| panic!("writing the engine's database: {e}"));
        before.unwrap_or(0)
    }
}

impl ReservationStore for SqliteStore {
    fn reservations(&self) -> Vec<LocalReservation> {
        self.rows(&format!("{RESERVATION} ORDER BY token"), [], reservation)
    }

    fn hold(&self, r: LocalReservation) {
        self.write(
            "INSERT OR REPLACE INTO reservations (token, call_id, service_id, stylist, start_ms, \
             end_ms, until_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.token,
                r.call_id,
                r.service_id,
                r.stylist,
                ms(r.start),
                ms(r.end),
                ms(r.until),
                r.state
            ],
        );
    }

    fn expire_reservations(&self, now: DateTime<Utc>) -> usize {
        self.write(
            "UPDATE reservations SET state = 'expired' WHERE state = 'held' AND until_ms <= ?1",
            [ms(now)],
        )
    }

    fn held_by_others(
        &self,
        call_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<LocalReservation> {
        self.rows(
            &format!(
                "{RESERVATION} WHERE state = 'held' AND until_ms > ?4 AND call_id != ?1 \
                 AND start_ms < ?3 AND ?2 < end_ms ORDER BY token"
            ),
            params![call_id, ms(start), ms(end), ms(now)],
            reservation,
        )
    }

    fn reservation_of(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<LocalReservation> {
        self.rows(
            &format!(
                "{RESERVATION} WHERE state = 'held' AND until_ms > ?3 AND call_id = ?1 \
                 AND start_ms = ?2 AND service_id = ?4 ORDER BY token LIMIT 1"
            ),
            params![call_id, ms(start), ms(now), service_id],
            reservation,
        )
        .pop()
    }

    fn set_reservation_state(&self, token: &str, state: &'static str) -> Option<LocalReservation> {
        self.write(
            "UPDATE reservations SET state = ?2 WHERE token = ?1",
            params![token, state],
        );
        self.rows(
            &format!("{RESERVATION} WHERE token = ?1"),
            [token],
            reservation,
        )
        .pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::InMemoryStore;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    fn t(quarter: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-25T09:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::minutes(15 * quarter)
    }

    const CALLS: [&str; 3] = ["call_a", "call_b", "call_c"];
    const STATES: [&str; 4] = ["held", "converted", "expired", "cancelled"];

    #[derive(Debug, Clone)]
    enum Op {
        Insert {
            call: usize,
            start: i64,
            quarters: i64,
        },
        Cancel(u64),
        Sync {
            id: u64,
            sync: u8,
            segments: bool,
        },
        Hold {
            token: u8,
            call: usize,
            start: i64,
            until: i64,
        },
        Expire(i64),
        State {
            token: u8,
            state: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 0..8i64, 1..5i64).prop_map(|(call, start, quarters)| Op::Insert {
                call,
                start,
                quarters
            }),
            (1..8u64).prop_map(Op::Cancel),
            (1..8u64, 0..3u8, any::<bool>()).prop_map(|(id, sync, segments)| Op::Sync {
                id,
                sync,
                segments
            }),
            (0..5u8, 0..3usize, 0..8i64, 0..10i64).prop_map(|(token, call, start, until)| {
                Op::Hold {
                    token,
                    call,
                    start,
                    until,
                }
            }),
            (0..10i64).prop_map(Op::Expire),
            (0..5u8, 0..4usize).prop_map(|(token, state)| Op::State { token, state }),
        ]
    }

    fn apply<S: AppointmentStore + ReservationStore>(s: &S, op: &Op) -> String {
        match op.clone() {
            Op::Insert {
                call,
                start,
                quarters,
            } => format!(
                "{:?}",
                s.insert(Appointment {
                    id: 0,
                    service_id: 1,
                    call_id: Some(CALLS[call].into()),
                    customer_name: "Kundin".into(),
                    start: t(start),
                    end: t(start + quarters),
                    status: AppointmentStatus::Booked,
                    sync: SyncStatus::Pending,
                    segments: vec![],
                    created_at: t(-4),
                })
            ),
            Op::Cancel(id) => format!("{:?}", s.cancel(id)),
            Op::Sync { id, sync, segments } => {
                let sync = [SyncStatus::Synced, SyncStatus::Pending, SyncStatus::Failed]
                    [usize::from(sync)];
                let segments = segments.then(|| {
                    vec![AppointmentSegment {
                        segment: "Haarschnitt".into(),
                        start: t(0),
                        end: t(2),
                        calcom_uid: Some("uid".into()),
                        calcom_id: Some(7),
                        host_id: Some(1),
                    }]
                });
                s.set_sync(id, sync, segments);
                String::new()
            }
            Op::Hold {
                token,
                call,
                start,
                until,
            } => {
                s.hold(LocalReservation {
                    token: format!("r{token}"),
                    call_id: CALLS[call].into(),
                    service_id: 1,
                    stylist: 1,
                    start: t(start),
                    end: t(start + 2),
                    until: t(until),
                    state: "held",
                });
                String::new()
            }
            Op::Expire(now) => format!("{}", s.expire_reservations(t(now))),
            Op::State { token, state } => {
                format!(
                    "{:?}",
                    s.set_reservation_state(&format!("r{token}"), STATES[state])
                )
            }
        }
    }

    /// Everything the engine can ask, at a few instants.
    fn read<S: AppointmentStore + ReservationStore>(s: &S) -> String {
        let mut out = format!("{:?}{:?}", s.appointments(), s.reservations());
        for q in 0..8 {
            for call in CALLS {
                out += &format!(
                    "{:?}{:?}{:?}",
                    s.booked_by_call(call, 1, t(q)),
                    s.held_by_others(call, t(q), t(q + 2), t(q)),
                    s.reservation_of(call, 1, t(q), t(q)),
                );
            }
            out += &format!(
                "{:?}{:?}{:?}",
                s.conflict_at_start(t(q)),
                s.overlapping(t(q), t(q + 1)),
                s.appointment(q as u64)
            );
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The SQLite store answers every question as the in-memory one does, after any
        /// sequence of writes, and after being closed and opened again.
        #[test]
        fn sqlite_answers_as_the_in_memory_store_does(ops in proptest::collection::vec(op(), 1..30)) {
            let dir = tempfile::tempdir().unwrap();
            let memory = InMemoryStore::default();
            let sqlite = SqliteStore::open(dir.path()).unwrap();
            for op in &ops {
                prop_assert_eq!(apply(&memory, op), apply(&sqlite, op), "{:?}", op);
                prop_assert_eq!(read(&memory), read(&sqlite), "after {:?}", op);
            }
            drop(sqlite);
            let reopened = SqliteStore::open(dir.path()).unwrap();
            prop_assert_eq!(read(&memory), read(&reopened));
        }
    }

    #[test]
    fn boots_are_counted_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SqliteStore::open(dir.path()).unwrap().boot(), 0);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.boot(), 1);
        assert_eq!(store.boot(), 2);
    }

    #[test]
    fn an_unwritable_place_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let err = SqliteStore::open(&file).err().unwrap();
        assert!(err.contains("a-file"), "{err}");
    }
}
