//! Injected faults: which endpoint misbehaves how, when and how often.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::*;

/// Which requests a fault rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointSelector {
    Any,
    #[serde(untagged)]
    One(Endpoint),
}

impl EndpointSelector {
    pub fn matches(self, endpoint: Endpoint) -> bool {
        match self {
            EndpointSelector::Any => true,
            EndpointSelector::One(e) => e == endpoint,
        }
    }
}

/// One injected failure: for requests to `endpoint` arriving between `from` and `until`
/// (offsets from the mock's start), with `probability`, do `kind`.
///
/// ```toml
/// [[faults]]
/// endpoint = "create_booking"   # or "any"
/// from = "10m"
/// until = "12m"
/// probability = 0.5
/// kind = "status"               # "status", "hang", "reset", "replay" or "replay_key"
/// status = 503                  # 400 (with `message`), 429, 500, 502, 503, 504
/// ```
///
/// `replay` (create_booking only) answers 201 with the newest booking of the requested event
/// type instead of creating one: the idempotency collision the seeds feared ("a retry returns
/// an existing booking"), which post-sync validation exists to catch. Real Cal.com answers
/// such a collision with 409 (see the reference); this fault is there to test the guard.
///
/// `replay_key` (create_booking only) answers a create with the newest existing booking of
/// the same event type and start, whatever its status, and creates as usual when there is
/// none: Cal.com's idempotency key (event type, start, end, host) matching a booking it
/// should have nulled on cancel (PR #13865, #21058), so a caller who booked, cancelled and
/// books the same slot again is handed the cancelled booking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "FaultRuleSpec", into = "FaultRuleSpec")]
pub struct FaultRule {
    pub endpoint: EndpointSelector,
    pub from: Duration,
    pub until: Option<Duration>,
    pub probability: f64,
    pub action: FaultAction,
}

/// What a fault does to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status (after the endpoint's usual latency): 400 carries `message`
    /// in Cal.com's envelope, 429 the throttler's, 500 Cal.com's internal error, 502-504 the
    /// plain-text page a gateway in front of Cal.com sends.
    Status {
        status: u16,
        message: Option<String>,
    },
    /// Answer nothing for this long (then 504), so the client's timeout fires first.
    Hang(Duration),
    /// Drop the connection without an answer.
    Reset,
    /// Answer a create with an existing booking of the same event type (see [`FaultRule`]).
    Replay,
    /// Answer a create with an existing booking of the same event type and start, cancelled
    /// ones too (see [`FaultRule`]).
    ReplayKey,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FaultRuleSpec {
    /// The endpoint whose requests fail, or `"any"`.
    endpoint: EndpointSelector,
    /// From this offset from the mock's start (default: its start).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    from: Duration,
    /// Up to this offset (default: for ever).
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<simkit::schema::HumanDuration>")]
    until: Option<Duration>,
    /// Chance that a matching request fails (default: 1).
    #[serde(default = "one")]
    probability: f64,
    /// `"status"` (answer `status`), `"hang"` (answer nothing for `hang_for`, then 504),
    /// `"reset"` (drop the connection) or `"replay"` (create_booking only: answer with an
    /// existing booking).
    kind: FaultKind,
    /// With kind = "status": 400 (with `message`), 429, 500, 502, 503 or 504.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// With status 400: the error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// With kind = "hang": how long (default: 10 min).
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<simkit::schema::HumanDuration>")]
    hang_for: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    Status,
    Hang,
    Reset,
    Replay,
    ReplayKey,
}

fn one() -> f64 {
    1.0
}

/// How long a hang lasts when `hang_for` is not given: longer than any sane client timeout.
pub const DEFAULT_HANG: Duration = Duration::from_secs(600);

impl TryFrom<FaultRuleSpec> for FaultRule {
    type Error = String;

    fn try_from(s: FaultRuleSpec) -> Result<Self, String> {
        if !matches!(s.kind, FaultKind::Status) && (s.status.is_some() || s.message.is_some()) {
            return Err("`status` and `message` are only used with kind = \"status\"".into());
        }
        let action = match s.kind {
            FaultKind::Status => {
                let status = s
                    .status
                    .ok_or("kind = \"status\" needs `status` (e.g. 503)")?;
                if !matches!(status, 400 | 429 | 500 | 502 | 503 | 504) {
                    return Err(format!(
                        "status {status}: expected one of 400, 429, 500, 502, 503, 504"
                    ));
                }
                if s.message.is_some() && status != 400 {
                    return Err("`message` is only used with status 400".into());
                }
                FaultAction::Status {
                    status,
                    message: s.message,
                }
            }
            FaultKind::Hang => FaultAction::Hang(s.hang_for.unwrap_or(DEFAULT_HANG)),
            FaultKind::Reset => FaultAction::Reset,
            FaultKind::Replay | FaultKind::ReplayKey => {
                if s.endpoint != EndpointSelector::One(Endpoint::CreateBooking) {
                    return Err(
                        "kind = \"replay\" and \"replay_key\" are only for endpoint = \"create_booking\""
                            .into(),
                    );
                }
                if matches!(s.kind, FaultKind::Replay) {
                    FaultAction::Replay
                } else {
                    FaultAction::ReplayKey
                }
            }
        };
        if let Some(until) = s.until
            && until < s.from
        {
            return Err("`until` must not be before `from`".into());
        }
        Ok(FaultRule {
            endpoint: s.endpoint,
            from: s.from,
            until: s.until,
            probability: s.probability,
            action,
        })
    }
}

impl From<FaultRule> for FaultRuleSpec {
    fn from(r: FaultRule) -> Self {
        let (kind, status, message, hang_for) = match r.action {
            FaultAction::Status { status, message } => {
                (FaultKind::Status, Some(status), message, None)
            }
            FaultAction::Hang(d) => (FaultKind::Hang, None, None, Some(d)),
            FaultAction::Reset => (FaultKind::Reset, None, None, None),
            FaultAction::Replay => (FaultKind::Replay, None, None, None),
            FaultAction::ReplayKey => (FaultKind::ReplayKey, None, None, None),
        };
        FaultRuleSpec {
            endpoint: r.endpoint,
            from: r.from,
            until: r.until,
            probability: r.probability,
            kind,
            status,
            message,
            hang_for,
        }
    }
}
