//! Webhook delivery: signing, and a sender that posts each delivery at its due time.
//! Cal.com's classic sender does not retry: a failed or lost delivery stays lost.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::Request;
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use simkit::transport::{HttpClient, Timeouts};
use tokio::sync::mpsc;

use crate::mock::MockCalcom;

/// `X-Cal-Signature-256`: hex HMAC-SHA256 of the exact body bytes, or the literal
/// `no-secret-provided` when the subscription has no secret.
pub fn signature(secret: Option<&str>, body: &[u8]) -> String {
    match secret {
        None | Some("") => "no-secret-provided".into(),
        Some(secret) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes any key length");
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
    }
}

/// One POST to one subscriber, decided (delay, copy) when the booking changed.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subscription_id: u64,
    pub url: String,
    pub trigger: String,
    pub booking_uid: String,
    pub body: Bytes,
    pub signature: String,
    pub due: DateTime<Utc>,
    pub copy: DeliveryCopy,
    /// The world it belongs to ([`MockCalcom::generation`]): dropped once another is loaded.
    pub generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryCopy {
    Original,
    Duplicate,
}

/// What became of a delivery, for the ground-truth log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub subscription_id: u64,
    pub trigger: String,
    pub booking_uid: String,
    pub copy: DeliveryCopy,
    /// `delivered`, `rejected` (non-2xx), `failed` (no answer) or `lost` (never sent).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Runs forever: takes deliveries from the queue and posts each at its due time.
pub async fn run_sender(mock: Arc<MockCalcom>, mut queue: mpsc::UnboundedReceiver<Delivery>) {
    let client = HttpClient::new(
        mock.network(),
        Timeouts {
            connect: mock.config().webhooks.timeout,
            total: mock.config().webhooks.timeout,
        },
    );
    while let Some(delivery) = queue.recv().await {
        let mock = mock.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let wait = (delivery.due - mock.now()).to_std().unwrap_or_default();
            simkit::time::sleep(wait).await;
            if mock.generation() != delivery.generation {
                return;
            }
            let record = post(&mock, &client, &delivery).await;
            mock.record_delivery(record);
        });
    }
}

async fn post(mock: &MockCalcom, client: &HttpClient, d: &Delivery) -> DeliveryRecord {
    let request = Request::post(d.url.as_str())
        .header("content-type", "application/json")
        .header("x-cal-signature-256", d.signature.as_str())
        .header(
            "x-cal-webhook-version",
            mock.config().webhooks.version.as_str(),
        )
        .header("user-agent", "cal.com-webhooks")
        .body(Full::new(d.body.clone()));
    let result = match request {
        Ok(request) => client.send(request).await.map_err(|e| e.to_string()),
        Err(e) => Err(format!("invalid subscriber URL: {e}")),
    };
    let (outcome, status, error) = match result {
        Ok(r) if r.status.is_success() => ("delivered", Some(r.status.as_u16()), None),
        Ok(r) => ("rejected", Some(r.status.as_u16()), None),
        Err(e) => ("failed", None, Some(e)),
    };
    tracing::debug!(url = %d.url, trigger = %d.trigger, outcome, ?status, "webhook");
    DeliveryRecord {
        subscription_id: d.subscription_id,
        trigger: d.trigger.clone(),
        booking_uid: d.booking_uid.clone(),
        copy: d.copy,
        outcome: outcome.into(),
        status,
        error,
        at: mock.now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(Some("Jefe"), b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(signature(None, b"{}"), "no-secret-provided");
    }
}
