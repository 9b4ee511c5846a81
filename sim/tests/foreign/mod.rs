//! A foreign engine for live tests: deliberately not this repository's. It is configured
//! from `bookingsim live --print-engine-config neutral` (as a team would map it into its
//! own system), speaks Retell's custom-function webhook, answers in the seed system's
//! format (`{"success": false, "error": "Dieser Termin wurde gerade vergeben. …"}`, no
//! `error_type`, no `service`, no `requested_time`), and calls Cal.com v2 naively: a check
//! reads `/v2/slots` for every staffed segment, a booking creates every segment in turn
//! with no lock and no compensation (a refused later segment leaves the earlier ones).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use simkit::transport::{HttpClient, Listener, Network, Timeouts};

/// How the foreign engine shapes its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // each test uses some
pub enum Shape {
    /// The seed system's JSON.
    Seed,
    /// The same JSON wrapped: `{"result": …}`.
    Wrapped,
    /// The words only, as plain text.
    Text,
}

struct Foreign {
    config: Value,
    zone: Tz,
    calcom: String,
    client: HttpClient,
    shape: Shape,
    exact_start: bool,
}

/// Serves the foreign engine on a fresh loopback port at `mount` (`/api/webhooks/retell/function`
/// is where live sends; any other path plays an engine mounted elsewhere). Returns its base URL.
///
/// `exact_start`: before creating, refuse ("vergeben") when any Cal.com booking of the
/// event type starts at the same instant, whichever stylist it holds (the seed system's
/// exact-start check: a false refusal while another stylist is free).
pub async fn serve(
    neutral: &str,
    calcom: &str,
    shape: Shape,
    mount: &str,
    exact_start: bool,
) -> String {
    let config: Value = serde_json::from_str(neutral).expect("the neutral config is JSON");
    let zone: Tz = config["time_zone"].as_str().unwrap().parse().unwrap();
    let state = Arc::new(Foreign {
        config,
        zone,
        calcom: calcom.to_owned(),
        client: HttpClient::new(
            Network::Real,
            Timeouts {
                connect: Duration::from_secs(2),
                total: Duration::from_secs(10),
            },
        ),
        shape,
        exact_start,
    });
    let router = Router::new()
        .route(mount, axum::routing::post(function))
        .with_state(state);
    let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(simkit::transport::serve(
        listener,
        router,
        std::future::pending(),
        Duration::from_secs(1),
        simkit::transport::ConnectionLimit::Unlimited,
    ));
    url
}

const TAKEN: &str =
    "Dieser Termin wurde gerade vergeben. Bitte wählen Sie einen anderen Zeitpunkt.";

async fn function(State(f): State<Arc<Foreign>>, body: Bytes) -> Response {
    let call: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let args = &call["args"];
    let call_id = call
        .pointer("/call/call_id")
        .or_else(|| args.get("call_id"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let answer = match call["name"].as_str().unwrap_or_default() {
        "check_availability" | "check_availability_v17" => f.check(args).await,
        "start_booking" => f.book(args, call_id).await,
        _ => json!({ "success": false, "error": "Unbekannte Funktion" }),
    };
    match f.shape {
        Shape::Seed => axum::Json(answer).into_response(),
        Shape::Wrapped => axum::Json(json!({ "result": answer })).into_response(),
        Shape::Text => answer["message"]
            .as_str()
            .or(answer["error"].as_str())
            .unwrap_or_default()
            .to_owned()
            .into_response(),
    }
}

/// A staffed segment: its event type and start.
type Staffed = (u64, DateTime<Utc>);

impl Foreign {
    /// The staffed segments (event type, start) of what `args` ask for.
    fn segments(&self, args: &Value) -> Option<(String, Vec<Staffed>)> {
        let asked = ["dienstleistung", "service_name", "service"]
            .iter()
            .find_map(|k| args[k].as_str())?
            .to_lowercase();
        let service = self.config["services"].as_array()?.iter().find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase() == asked)
                || s["aliases"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|n| n.as_str().is_some_and(|n| n.to_lowercase() == asked))
                })
        })?;
        let local = match args["datetime"].as_str() {
            Some(dt) => NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M").ok()?,
            None => NaiveDateTime::parse_from_str(
                &format!("{} {}", args["datum"].as_str()?, args["uhrzeit"].as_str()?),
                "%Y-%m-%d %H:%M",
            )
            .ok()?,
        };
        let mut at = self.zone.from_local_datetime(&local).earliest()?.to_utc();
        let mut out = Vec::new();
        for seg in service["segments"].as_array()? {
            if let Some(id) = seg["event_type_id"].as_u64() {
                out.push((id, at));
            }
            at += chrono::TimeDelta::minutes(seg["minutes"].as_i64()?);
        }
        Some((service["name"].as_str()?.to_owned(), out))
    }

    async fn calcom(
        &self,
        method: http::Method,
        path: &str,
        version: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.calcom))
            .header("authorization", "Bearer cal_foreign")
            .header("cal-api-version", version)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .ok()?;
        let r = self.client.send(request).await.ok()?;
        Some((
            r.status.as_u16(),
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        ))
    }

    /// Whether an active Cal.com booking of event type `id` starts at `start`.
    async fn booked_at(&self, id: u64, start: DateTime<Utc>) -> bool {
        let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let path = format!(
            "/v2/bookings?eventTypeId={id}&afterStart={}&beforeEnd={}",
            iso(start - chrono::TimeDelta::minutes(1)),
            iso(start + chrono::TimeDelta::days(1))
        );
        let Some((200, list)) = self
            .calcom(http::Method::GET, &path, "2024-08-13", None)
            .await
        else {
            return true;
        };
        list["data"].as_array().into_iter().flatten().any(|b| {
            b["status"].as_str() != Some("cancelled")
                && b["start"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.to_utc() == start)
        })
    }

    async fn check(&self, args: &Value) -> Value {
        let Some((service, segments)) = self.segments(args) else {
            return json!({ "success": false, "error": "Fehler beim Prüfen der Verfügbarkeit" });
        };
        for (id, start) in &segments {
            let path = format!(
                "/v2/slots?eventTypeId={id}&start={}&end={}",
                start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                (*start + chrono::TimeDelta::minutes(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            let Some((200, slots)) = self
                .calcom(http::Method::GET, &path, "2024-09-04", None)
                .await
            else {
                return json!({ "success": false, "error": "Fehler beim Prüfen der Verfügbarkeit" });
            };
            let free = slots["data"].as_object().is_some_and(|days| {
                days.values()
                    .flat_map(|d| d.as_array().into_iter().flatten())
                    .any(|s| {
                        s["start"]
                            .as_str()
                            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                            .is_some_and(|t| t.to_utc() == *start)
                    })
            });
            if !free {
                return json!({ "success": true, "available": false, "message": format!("Leider ist {service} zu dieser Zeit nicht verfügbar.") });
            }
        }
        json!({ "success": true, "available": true, "message": format!("Ja, {service} ist verfügbar.") })
    }

    async fn book(&self, args: &Value, call_id: &str) -> Value {
        let Some((service, segments)) = self.segments(args) else {
            return json!({ "success": false, "error": TAKEN });
        };
        let name = args["customer_name"]
            .as_str()
            .or(args["name"].as_str())
            .unwrap_or("Gast");
        for (id, start) in segments {
            if self.exact_start && self.booked_at(id, start).await {
                return json!({ "success": false, "error": TAKEN });
            }
            let body = json!({
                "start": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "eventTypeId": id,
                "attendee": { "name": name, "email": "gast@example.com", "timeZone": self.zone.name(), "language": "de" },
                "metadata": { "call_id": call_id },
            });
            match self
                .calcom(http::Method::POST, "/v2/bookings", "2024-08-13", Some(body))
                .await
            {
                Some((200 | 201, _)) => {}
                // The seed system answered every failed booking the same way.
                _ => return json!({ "success": false, "error": TAKEN }),
            }
        }
        json!({ "success": true, "message": format!("Perfekt! Ihr Termin für {service} ist gebucht.") })
    }
}
