//! Cal.com's endpoints as the mock names them, and the latency of each.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use simkit::Distribution;
use std::time::Duration;

/// The API operations the mock distinguishes for latency, faults and statistics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET /v2/slots` and legacy `GET /v2/slots/available`.
    Slots,
    /// `POST /v2/bookings`.
    CreateBooking,
    /// `GET /v2/bookings/{uid}`.
    GetBooking,
    /// `POST /v2/bookings/{uid}/cancel`.
    CancelBooking,
    /// `POST /v2/bookings/{uid}/reschedule`.
    RescheduleBooking,
    /// `POST /v2/slots/reservations` and legacy `POST /v2/slots/reserve`.
    ReserveSlot,
    /// `GET|PATCH|DELETE /v2/slots/reservations/{uid}` and legacy `DELETE /v2/slots/selected-slot`.
    Reservation,
    /// `/v2/webhooks`.
    Webhooks,
    /// `GET /v2/event-types`.
    EventTypes,
}

impl Endpoint {
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Slots,
        Endpoint::CreateBooking,
        Endpoint::GetBooking,
        Endpoint::CancelBooking,
        Endpoint::RescheduleBooking,
        Endpoint::ReserveSlot,
        Endpoint::Reservation,
        Endpoint::Webhooks,
        Endpoint::EventTypes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Slots => "slots",
            Endpoint::CreateBooking => "create_booking",
            Endpoint::GetBooking => "get_booking",
            Endpoint::CancelBooking => "cancel_booking",
            Endpoint::RescheduleBooking => "reschedule_booking",
            Endpoint::ReserveSlot => "reserve_slot",
            Endpoint::Reservation => "reservation",
            Endpoint::Webhooks => "webhooks",
            Endpoint::EventTypes => "event_types",
        }
    }
}

/// Per-endpoint answer latency. Without a `[latency]` table the seeds' measurements apply
/// (see `Default`); a `[latency]` table replaces them: endpoints it does not name take its
/// `default` (itself p50 150 / p90 300 / p99 600 ms unless given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    #[serde(default = "small_operation")]
    pub default: Distribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule_booking: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_slot: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Distribution>,
}

impl Default for LatencyConfig {
    /// The seeds' measurements of real Cal.com: slots p50 500 / p90 1200 / p99 2000 ms,
    /// create p50 400 / p90 1000 / p99 1500 ms; cancel and reschedule as create; the rest
    /// (small reads and writes) p50 150 / p90 300 / p99 600 ms.
    fn default() -> Self {
        let ms = Duration::from_millis;
        let create = Distribution::percentiles(ms(400), ms(1000), ms(1500));
        Self {
            default: small_operation(),
            slots: Some(Distribution::percentiles(ms(500), ms(1200), ms(2000))),
            create_booking: Some(create.clone()),
            get_booking: None,
            cancel_booking: Some(create.clone()),
            reschedule_booking: Some(create),
            reserve_slot: None,
            reservation: None,
            webhooks: None,
            event_types: None,
        }
    }
}

/// Small reads and writes of Cal.com: p50 150 / p90 300 / p99 600 ms.
fn small_operation() -> Distribution {
    let ms = Duration::from_millis;
    Distribution::percentiles(ms(150), ms(300), ms(600))
}

impl LatencyConfig {
    /// Every endpoint answers at once: for tests of logic rather than timing.
    pub fn instant() -> Self {
        Self {
            default: Distribution::ZERO,
            slots: None,
            create_booking: None,
            get_booking: None,
            cancel_booking: None,
            reschedule_booking: None,
            reserve_slot: None,
            reservation: None,
            webhooks: None,
            event_types: None,
        }
    }

    pub fn of(&self, endpoint: Endpoint) -> &Distribution {
        let specific = match endpoint {
            Endpoint::Slots => &self.slots,
            Endpoint::CreateBooking => &self.create_booking,
            Endpoint::GetBooking => &self.get_booking,
            Endpoint::CancelBooking => &self.cancel_booking,
            Endpoint::RescheduleBooking => &self.reschedule_booking,
            Endpoint::ReserveSlot => &self.reserve_slot,
            Endpoint::Reservation => &self.reservation,
            Endpoint::Webhooks => &self.webhooks,
            Endpoint::EventTypes => &self.event_types,
        };
        specific.as_ref().unwrap_or(&self.default)
    }
}
