//! The engine's database: appointments (with their Cal.com ids and sync state), the calls
//! they came from, and local optimistic reservations; two small traits, their in-memory
//! implementation (the simulation's) and an SQLite one ([`sqlite`], for a served engine
//! that must survive a crash).

pub mod sqlite;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
}

/// Where an appointment stands with Cal.com.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    Synced,
    Pending,
    Failed,
}

/// One segment of an appointment, placed in time, with its Cal.com booking when staffed
/// (one for a simple service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentSegment {
    pub segment: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `None` for a processing gap, which is not booked.
    pub calcom_uid: Option<String>,
    pub calcom_id: Option<u64>,
    pub host_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appointment {
    pub id: u64,
    pub service_id: u64,
    pub call_id: Option<String>,
    pub customer_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub sync: SyncStatus,
    /// Serialized as `phases`, as it always was.
    #[serde(rename = "phases")]
    pub segments: Vec<AppointmentSegment>,
    pub created_at: DateTime<Utc>,
}

impl Appointment {
    pub fn is_active(&self) -> bool {
        self.status == AppointmentStatus::Booked
    }

    /// Active, and `call_id`'s booking of `service_id` at `start` (a retry's answer).
    pub fn is_by_call(&self, call_id: &str, service_id: u64, start: DateTime<Utc>) -> bool {
        self.is_active()
            && self.call_id.as_deref() == Some(call_id)
            && self.service_id == service_id
            && self.start == start
    }

    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.start < end && start < self.end
    }

    /// The Cal.com hosts (staff) this appointment occupies.
    pub fn hosts(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments.iter().filter_map(|p| p.host_id)
    }
}

/// A slot held locally between `check_availability` and `start_booking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalReservation {
    pub token: String,
    pub call_id: String,
    pub service_id: u64,
    /// The stylist this hold counts on (one of the service's staff), so that holds claim
    /// capacity per stylist instead of the whole salon.
    pub stylist: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// `held`, `converted`, `expired` or `cancelled`.
    pub state: &'static str,
}

/// The appointments table.
pub trait AppointmentStore: Send + Sync {
    fn appointments(&self) -> Vec<Appointment>;
    fn appointment(&self, id: u64) -> Option<Appointment>;
    /// An active appointment this call already booked of service `service_id` at `start`
    /// (Retell retries a call). Another service at the same start is another booking.
    fn booked_by_call(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
    ) -> Option<Appointment>;
    /// Records that a call's attempt at `(service_id, start)`, whose request arrived at
    /// `arrived`, was answered "not booked" at `at`, unless an appointment of it is already
    /// saved: then that appointment, the answer to give instead. An attempt of the call still at work learns at its save that its
    /// caller was told no ([`Self::insert_unless_answered`]): on another worker (each
    /// worker's attempt guard is its own memory), stalled past Retell's timeout, or an
    /// attempt at another slot whose answer Retell gave up on before the caller asked for
    /// this one. By default nothing is recorded.
    fn answer_unbooked(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
        at: Told,
    ) -> Option<Appointment> {
        let _ = at;
        self.booked_by_call(call_id, service_id, start)
    }
    /// Records that `call_id` asked for `(service_id, start)` at `at` (its request's
    /// arrival): the caller moved on from its other slots, whose attempts still at work
    /// (their answers lost) must not save ([`told_unbooked_since`]). By default nothing is
    /// recorded.
    fn ask(&self, call_id: &str, service_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) {
        let _ = (call_id, service_id, start, at);
    }
    /// Stores `appointment` unless its call was told "not booked" since its attempt
    /// (see [`told_unbooked_since`]; `arrived` and `locked` as there).
    fn insert_unless_answered(
        &self,
        appointment: Appointment,
        arrived: DateTime<Utc>,
        locked: DateTime<Utc>,
    ) -> Option<Appointment> {
        let _ = (arrived, locked);
        Some(self.insert(appointment))
    }
    /// The seeds' pre-sync check: an active appointment starting at exactly `start`.
    fn conflict_at_start(&self, start: DateTime<Utc>) -> Option<Appointment>;
    /// The fix: active appointments overlapping `[start, end)`.
    fn overlapping(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Appointment>;
    /// Stores a new appointment under the next id.
    fn insert(&self, appointment: Appointment) -> Appointment;
    fn cancel(&self, id: u64) -> Option<Appointment>;
    /// Records the outcome of a sync; `segments` replaces the segments when given.
    fn set_sync(&self, id: u64, sync: SyncStatus, segments: Option<Vec<AppointmentSegment>>);
    /// Records an engine start; returns how many starts came before it (0: a fresh store),
    /// so that an engine knows it restarts after a crash.
    fn boot(&self) -> u64;
    /// [`Self::boot`] of one of several workers sharing the store, by its name: how many
    /// starts of THAT worker came before (another worker's first start is no crash of
    /// this one). By default the store counts every start alike (one engine process).
    fn boot_worker(&self, worker: &str) -> u64 {
        let _ = worker;
        self.boot()
    }
}

/// The local reservations table.
pub trait ReservationStore: Send + Sync {
    fn reservations(&self) -> Vec<LocalReservation>;
    fn hold(&self, reservation: LocalReservation);
    /// Marks reservations past their time as expired; returns how many.
    fn expire_reservations(&self, now: DateTime<Utc>) -> usize;
    /// The held reservations of other calls overlapping `[start, end)`.
    fn held_by_others(
        &self,
        call_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<LocalReservation>;
    /// This call's held reservation for `start`, if any.
    /// The hold `call_id` has for `service_id` at `start`, still held at `now`.
    fn reservation_of(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<LocalReservation>;
    fn set_reservation_state(&self, token: &str, state: &'static str) -> Option<LocalReservation>;
}

/// Both tables in the engine's memory.
#[derive(Debug, Default)]
pub struct InMemoryStore(Mutex<Tables>);

#[derive(Debug, Default)]
struct Tables {
    appointments: BTreeMap<u64, Appointment>,
    next_id: u64,
    reservations: BTreeMap<String, LocalReservation>,
    boots: u64,
    /// Starts per named worker (several workers on one store).
    worker_boots: std::collections::BTreeMap<String, u64>,
    /// When each (call, service, start) was last answered "not booked".
    answered: Answers,
    /// When each (call, service, start) was last asked for.
    asked: Answered,
}

/// When each (call, service, start) was last asked for.
pub type Answered = BTreeMap<(String, u64, DateTime<Utc>), DateTime<Utc>>;

/// A "not booked" answer: when it went out, and when the request it answered arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    pub at: DateTime<Utc>,
    pub arrived: DateTime<Utc>,
}

/// The "not booked" answers per (call, service, start): the latest answer and the latest
/// answered request's arrival (kept apart: each is asked "any since?").
pub type Answers = BTreeMap<(String, u64, DateTime<Utc>), Told>;

/// Records in `answers` that `call_id` was told "not booked" for `(service_id, start)`.
pub fn record_answer(
    answers: &mut Answers,
    call_id: &str,
    service_id: u64,
    start: DateTime<Utc>,
    told: Told,
) {
    let kept = answers
        .entry((call_id.to_owned(), service_id, start))
        .or_insert(told);
    kept.at = kept.at.max(told.at);
    kept.arrived = kept.arrived.max(told.arrived);
}

/// Records in `asked` that `call_id` asked for `(service_id, start)` at `at` (the latest
/// per slot is kept).
pub fn record_unbooked(
    answered: &mut Answered,
    call_id: &str,
    service_id: u64,
    start: DateTime<Utc>,
    at: DateTime<Utc>,
) {
    let told = answered
        .entry((call_id.to_owned(), service_id, start))
        .or_insert(at);
    *told = (*told).max(at);
}

/// Whether an attempt of `call_id` at `(service_id, start)`, whose request arrived at
/// `arrived` and which began its work at `locked`, must not save what it made: its call
/// asked for another slot since (`asked`: the caller heard no answer to this one, or it
/// would not have asked again; explore seed 1202447, the answer to the other slot, refused
/// for this attempt's own booking saved just before, came after it), or was told "not
/// booked" since (`answered`). Per call, not per slot (explore seeds 1200688, 1202447): told
/// no for ANOTHER slot at or after the request arrived, the caller moved on from this one
/// (Retell gave up on its answer, and on its retries, before asking for the other), so
/// neither the attempt nor a retry of it waiting behind it may book. Told no for the SAME
/// slot, an attempt that began its work before the answer is undone, and so is one whose
/// request arrived before the answered request (Retell gave up on it, or the caller asked
/// again, before the answered request was sent: the caller heard that answer; explore seeds
/// 2101213, 2300785, 2312972, 2209240: such an attempt waited behind the attempt guard of the
/// answered request and took it the instant the "no" went out). A Retell retry waiting
/// behind an attempt whose refusal nobody heard (it arrived after that attempt's request and
/// takes its guard the instant it answers) may still book, or adopt the attempt's booking.
pub fn told_unbooked_since(
    answered: &Answers,
    asked: &Answered,
    call_id: &str,
    service_id: u64,
    start: DateTime<Utc>,
    arrived: DateTime<Utc>,
    locked: DateTime<Utc>,
) -> bool {
    fn of_call<'a, T: Copy>(
        records: &'a BTreeMap<(String, u64, DateTime<Utc>), T>,
        call_id: &'a str,
        slot: (u64, DateTime<Utc>),
    ) -> impl Iterator<Item = (bool, T)> + 'a {
        records
            .range((call_id.to_owned(), 0, DateTime::<Utc>::MIN_UTC)..)
            .take_while(move |((call, _, _), _)| call == call_id)
            .map(move |((_, service, at_start), at)| ((*service, *at_start) == slot, *at))
    }
    let slot = (service_id, start);
    of_call(answered, call_id, slot).any(|(same, told)| {
        if same {
            told.at > locked || told.arrived > arrived
        } else {
            told.at >= arrived
        }
    }) || of_call(asked, call_id, slot).any(|(same, at)| !same && at >= arrived)
}

impl Tables {
    /// Stores a new appointment under the next id.
    fn insert(&mut self, mut appointment: Appointment) -> Appointment {
        self.next_id += 1;
        appointment.id = self.next_id;
        self.appointments
            .insert(appointment.id, appointment.clone());
        appointment
    }
}

impl InMemoryStore {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl AppointmentStore for InMemoryStore {
    fn appointments(&self) -> Vec<Appointment> {
        self.tables().appointments.values().cloned().collect()
    }

    fn appointment(&self, id: u64) -> Option<Appointment> {
        self.tables().appointments.get(&id).cloned()
    }

    fn booked_by_call(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
    ) -> Option<Appointment> {
        self.tables()
            .appointments
            .values()
            .find(|a| a.is_by_call(call_id, service_id, start))
            .cloned()
    }

    fn conflict_at_start(&self, start: DateTime<Utc>) -> Option<Appointment> {
        self.tables()
            .appointments
            .values()
            .find(|a| a.is_active() && a.start == start)
            .cloned()
    }

    fn overlapping(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Appointment> {
        self.tables()
            .appointments
            .values()
            .filter(|a| a.is_active() && a.overlaps(start, end))
            .cloned()
            .collect()
    }

    fn insert(&self, appointment: Appointment) -> Appointment {
        self.tables().insert(appointment)
    }

    fn cancel(&self, id: u64) -> Option<Appointment> {
        let mut t = self.tables();
        let a = t.appointments.get_mut(&id)?;
        a.status = AppointmentStatus::Cancelled;
        Some(a.clone())
    }

    fn set_sync(&self, id: u64, sync: SyncStatus, segments: Option<Vec<AppointmentSegment>>) {
        if let Some(a) = self.tables().appointments.get_mut(&id) {
            a.sync = sync;
            if let Some(segments) = segments {
                a.segments = segments;
            }
        }
    }

    fn answer_unbooked(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
        at: Told,
    ) -> Option<Appointment> {
        let mut t = self.tables();
        if let Some(a) = t
            .appointments
            .values()
            .find(|a| a.is_by_call(call_id, service_id, start))
        {
            return Some(a.clone());
        }
        record_answer(&mut t.answered, call_id, service_id, start, at);
        None
    }

    fn ask(&self, call_id: &str, service_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) {
        record_unbooked(&mut self.tables().asked, call_id, service_id, start, at);
    }

    fn insert_unless_answered(
        &self,
        appointment: Appointment,
        arrived: DateTime<Utc>,
        locked: DateTime<Utc>,
    ) -> Option<Appointment> {
        let mut t = self.tables();
        if let Some(call) = &appointment.call_id
            && told_unbooked_since(
                &t.answered,
                &t.asked,
                call,
                appointment.service_id,
                appointment.start,
                arrived,
                locked,
            )
        {
            return None;
        }
        Some(t.insert(appointment))
    }

    fn boot(&self) -> u64 {
        let mut t = self.tables();
        t.boots += 1;
        t.boots - 1
    }

    fn boot_worker(&self, worker: &str) -> u64 {
        let mut t = self.tables();
        t.boots += 1;
        let n = t.worker_boots.entry(worker.to_owned()).or_default();
        *n += 1;
        *n - 1
    }
}

impl ReservationStore for InMemoryStore {
    fn reservations(&self) -> Vec<LocalReservation> {
        self.tables().reservations.values().cloned().collect()
    }

    fn hold(&self, reservation: LocalReservation) {
        self.tables()
            .reservations
            .insert(reservation.token.clone(), reservation);
    }

    fn expire_reservations(&self, now: DateTime<Utc>) -> usize {
        let mut n = 0;
        for r in self.tables().reservations.values_mut() {
            if r.state == "held" && r.until <= now {
                r.state = "expired";
                n += 1;
            }
        }
        n
    }

    fn held_by_others(
        &self,
        call_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<LocalReservation> {
        self.tables()
            .reservations
            .values()
            .filter(|r| {
                r.state == "held"
                    && r.until > now
                    && r.call_id != call_id
                    && r.start < end
                    && start < r.end
            })
            .cloned()
            .collect()
    }

    fn reservation_of(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<LocalReservation> {
        self.tables()
            .reservations
            .values()
            .find(|r| {
                r.state == "held"
                    && r.until > now
                    && r.call_id == call_id
                    && r.service_id == service_id
                    && r.start == start
            })
            .cloned()
    }

    fn set_reservation_state(&self, token: &str, state: &'static str) -> Option<LocalReservation> {
        let mut t = self.tables();
        let r = t.reservations.get_mut(token)?;
        r.state = state;
        Some(r.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-25T11:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::minutes(min)
    }

    fn told(at: i64, arrived: i64) -> Told {
        Told {
            at: t(at),
            arrived: t(arrived),
        }
    }

    fn appointment(call: &str, start: i64, minutes: i64) -> Appointment {
        Appointment {
            id: 0,
            service_id: 1,
            call_id: Some(call.into()),
            customer_name: "X".into(),
            start: t(start),
            end: t(start + minutes),
            status: AppointmentStatus::Booked,
            sync: SyncStatus::Synced,
            segments: vec![],
            created_at: t(-60),
        }
    }

    /// Every store keeps the "not booked" bookkeeping alike: an attempt is refused its save
    /// when its call asked for another slot or was told no for another slot since it
    /// arrived, or told no for its own slot since it began work or in answer to a request
    /// that arrived after it; never otherwise.
    fn superseded_attempts_do_not_save(store: &dyn AppointmentStore) {
        let (service, slot, other) = (1, t(0), t(60));
        // Told no for another slot after the attempt arrived: refused.
        assert_eq!(
            store.answer_unbooked("a", service, other, told(-10, -30)),
            None
        );
        assert!(
            store
                .insert_unless_answered(appointment("a", 0, 30), t(-20), t(-15))
                .is_none()
        );
        // ... before it arrived: saved.
        assert!(
            store
                .insert_unless_answered(appointment("a", 0, 30), t(-5), t(-5))
                .is_some()
        );
        // Told no for its own slot after it arrived but before it began work (a retry
        // behind an attempt whose refusal nobody heard): saved; after it began: refused.
        assert_eq!(
            store.answer_unbooked("b", service, slot, told(-10, -30)),
            None
        );
        assert!(
            store
                .insert_unless_answered(appointment("b", 0, 30), t(-20), t(-9))
                .is_some()
        );
        assert!(
            store
                .answer_unbooked("b", service, slot, told(-8, -30))
                .is_some()
        );
        assert_eq!(
            store.answer_unbooked("c", service, slot, told(-10, -30)),
            None
        );
        assert!(
            store
                .insert_unless_answered(appointment("c", 0, 30), t(-20), t(-12))
                .is_none()
        );
        // Asked for another slot after it arrived: refused; its own slot asked again (a
        // retry): saved. Another call's records never count.
        store.ask("d", service, other, t(-10));
        store.ask("e", service, slot, t(-10));
        assert!(
            store
                .insert_unless_answered(appointment("d", 0, 30), t(-20), t(-20))
                .is_none()
        );
        assert!(
            store
                .insert_unless_answered(appointment("e", 0, 30), t(-20), t(-20))
                .is_some()
        );
        assert!(
            store
                .insert_unless_answered(appointment("f", 0, 30), t(-20), t(-20))
                .is_some()
        );
        // Told no for its own slot in answer to a request that arrived after it (Retell
        // gave up on it; it waited behind the answered request's guard): refused, even
        // having begun work after the answer; a request after the answered one: saved.
        assert_eq!(
            store.answer_unbooked("g", service, slot, told(-10, -15)),
            None
        );
        assert!(
            store
                .insert_unless_answered(appointment("g", 0, 30), t(-20), t(-9))
                .is_none()
        );
        assert!(
            store
                .insert_unless_answered(appointment("g", 0, 30), t(-12), t(-9))
                .is_some()
        );
    }

    #[test]
    fn superseded_attempts_do_not_save_in_memory_or_in_sqlite() {
        superseded_attempts_do_not_save(&InMemoryStore::default());
        let dir = tempfile::tempdir().unwrap();
        superseded_attempts_do_not_save(&sqlite::SqliteStore::open(dir.path()).unwrap());
    }

    #[test]
    fn exact_start_misses_overlaps_that_the_overlap_check_finds() {
        let store = InMemoryStore::default();
        let a = store.insert(appointment("call_a", 0, 30));
        assert!(store.conflict_at_start(t(0)).is_some());
        assert!(
            store.conflict_at_start(t(15)).is_none(),
            "the seeds' check keys on the exact start"
        );
        assert_eq!(store.overlapping(t(15), t(45)).len(), 1);
        assert_eq!(
            store.booked_by_call("call_a", 1, t(0)).map(|a| a.id),
            Some(a.id)
        );
        // The same call asking for another service at that start has not booked it.
        assert!(store.booked_by_call("call_a", 2, t(0)).is_none());
        store.cancel(a.id);
        assert_eq!(store.overlapping(t(15), t(45)).len(), 0);
        assert!(store.booked_by_call("call_a", 1, t(0)).is_none());
    }

    #[test]
    fn reservations_hold_expire_and_ignore_their_own_call() {
        let store = InMemoryStore::default();
        store.hold(LocalReservation {
            token: "r1".into(),
            call_id: "call_a".into(),
            service_id: 1,
            stylist: 1,
            start: t(0),
            end: t(30),
            until: t(2),
            state: "held",
        });
        assert_eq!(store.held_by_others("call_b", t(15), t(45), t(1)).len(), 1);
        assert!(store.held_by_others("call_a", t(0), t(30), t(1)).is_empty());
        assert!(
            store
                .held_by_others("call_b", t(30), t(45), t(1))
                .is_empty()
        );
        assert!(store.reservation_of("call_a", 1, t(0), t(1)).is_some());
        assert!(
            store.reservation_of("call_a", 2, t(0), t(1)).is_none(),
            "a hold is for its service only"
        );
        assert_eq!(store.expire_reservations(t(2)), 1);
        assert!(
            store
                .held_by_others("call_b", t(15), t(45), t(2))
                .is_empty()
        );
    }
}
