//! Stripe's PaymentIntents API over reqwest: a manual-capture intent confirmed at once (the
//! authorization), then capture, cancel (void) or refund. Every request carries an
//! `Idempotency-Key`, so a retry after a lost answer never charges twice.
use std::time::Duration;

use async_trait::async_trait;
use common::settings::Secret;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{ChargeRequest, ChargeState, Found, PaymentProvider, ProviderError};

pub struct StripeProvider {
    client: reqwest::Client,
    base: String,
    key: Secret,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Deserialize)]
struct StripeError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Intent {
    id: String,
    #[serde(default)]
    status: String,
    /// Present when asked for with `expand[]=latest_charge`.
    #[serde(default)]
    latest_charge: Option<Charge>,
}

#[derive(Deserialize)]
struct Charge {
    #[serde(default)]
    refunded: bool,
}

#[derive(Deserialize)]
struct SearchResult {
    data: Vec<Intent>,
}

impl Intent {
    fn found(self) -> Found {
        let state = match self.status.as_str() {
            "requires_capture" => ChargeState::Held,
            "succeeded" if self.latest_charge.is_some_and(|c| c.refunded) => ChargeState::Refunded,
            "succeeded" => ChargeState::Captured,
            "canceled" => ChargeState::Voided,
            // requires_payment_method, requires_confirmation, requires_action, processing.
            _ => ChargeState::Open,
        };
        Found { id: self.id, state }
    }
}

fn unreadable(err: serde_json::Error) -> ProviderError {
    tracing::warn!(error = %err, "Stripe answered something we cannot read");
    ProviderError::Unavailable(UNAVAILABLE.into())
}

const UNAVAILABLE: &str = "The payment provider is unavailable; please try again shortly";

impl StripeProvider {
    /// `base` is `STRIPE_API_BASE` (no trailing slash), `key` the secret key.
    pub fn new(base: &str, key: Secret) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key,
        })
    }

    /// POSTs a form to `path`; a 2xx body comes back, anything else as a [`ProviderError`].
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", idempotency_key)
            .form(form);
        self.send(request, path).await
    }

    /// GETs `path` with `query`, answered as [`Self::post`] is.
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<String, ProviderError> {
        let request = self.client.get(format!("{}{path}", self.base)).query(query);
        self.send(request, path).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<String, ProviderError> {
        let response = request
            .bearer_auth(self.key.expose())
            .send()
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, path, "Stripe could not be reached");
                ProviderError::Unavailable(UNAVAILABLE.into())
            })?;
        let status = response.status();
        let body = response.text().await.map_err(|err| {
            tracing::warn!(error = %err, path, "Stripe's answer could not be read");
            ProviderError::Unavailable(UNAVAILABLE.into())
        })?;
        if status.is_success() {
            return Ok(body);
        }
        let error = serde_json::from_str::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        let message = error.as_ref().and_then(|e| e.message.clone());
        let card_error = error.as_ref().and_then(|e| e.kind.as_deref()) == Some("card_error");
        tracing::warn!(%status, path, message = message.as_deref().unwrap_or(""), "Stripe refused a request");
        Err(match status {
            StatusCode::PAYMENT_REQUIRED => ProviderError::Declined(
                message.unwrap_or_else(|| super::test_mode::DECLINED.into()),
            ),
            // Card errors can come with other statuses; their message is for the buyer.
            _ if card_error => ProviderError::Declined(
                message.unwrap_or_else(|| super::test_mode::DECLINED.into()),
            ),
            // Our key, our rate, or a conflicting retry: not the buyer's fault.
            StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::CONFLICT
            | StatusCode::TOO_MANY_REQUESTS => ProviderError::Unavailable(UNAVAILABLE.into()),
            s if s.is_client_error() => ProviderError::Invalid(
                message.unwrap_or_else(|| "The payment request was invalid".into()),
            ),
            _ => ProviderError::Unavailable(UNAVAILABLE.into()),
        })
    }

    /// An id Stripe gave us, safe to put in a path.
    fn path_id(id: &str) -> Result<&str, ProviderError> {
        if !id.is_empty()
            && id.len() <= 255
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            Ok(id)
        } else {
            Err(ProviderError::Invalid(format!("Not a Stripe id: {id:?}")))
        }
    }
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    async fn authorize(&self, charge: &ChargeRequest) -> Result<String, ProviderError> {
        let amount = charge.amount.cents().to_string();
        let mut form = vec![
            ("amount", amount.as_str()),
            ("currency", charge.currency.as_str()),
            ("capture_method", "manual"),
            ("confirm", "true"),
            ("payment_method_types[]", "card"),
            ("metadata[order_id]", charge.order_id.as_str()),
            ("metadata[payment_id]", charge.payment_id.as_str()),
        ];
        // A `pm_…` is a payment method already; a `tok_…` (Checkout's, or a test token)
        // becomes one inline.
        if charge.token.starts_with("pm_") {
            form.push(("payment_method", charge.token.as_str()));
        } else {
            form.push(("payment_method_data[type]", "card"));
            form.push(("payment_method_data[card][token]", charge.token.as_str()));
        }
        let body = self
            .post("/v1/payment_intents", &form, &charge.idempotency_key)
            .await?;
        let intent: Intent = serde_json::from_str(&body).map_err(|err| {
            tracing::warn!(error = %err, "Stripe answered a PaymentIntent we cannot read");
            ProviderError::Unavailable(UNAVAILABLE.into())
        })?;
        match intent.status.as_str() {
            "requires_capture" => Ok(intent.id),
            "requires_action" => Err(ProviderError::Declined(
                "This card needs extra authentication, which is not supported here; please use another card".into(),
            )),
            other => {
                tracing::warn!(intent.id = %intent.id, status = other, "unexpected PaymentIntent status after confirm");
                Err(ProviderError::Declined(super::test_mode::DECLINED.into()))
            }
        }
    }

    async fn capture(&self, provider_id: &str, idempotency_key: &str) -> Result<(), ProviderError> {
        let id = Self::path_id(provider_id)?;
        self.post(
            &format!("/v1/payment_intents/{id}/capture"),
            &[],
            idempotency_key,
        )
        .await
        .map(|_| ())
    }

    async fn void(&self, provider_id: &str, idempotency_key: &str) -> Result<(), ProviderError> {
        let id = Self::path_id(provider_id)?;
        self.post(
            &format!("/v1/payment_intents/{id}/cancel"),
            &[],
            idempotency_key,
        )
        .await
        .map(|_| ())
    }

    async fn refund(&self, provider_id: &str, idempotency_key: &str) -> Result<(), ProviderError> {
        let id = Self::path_id(provider_id)?;
        self.post("/v1/refunds", &[("payment_intent", id)], idempotency_key)
            .await
            .map(|_| ())
    }

    async fn lookup(
        &self,
        payment_id: &str,
        provider_id: Option<&str>,
    ) -> Result<Option<Found>, ProviderError> {
        if let Some(id) = provider_id {
            let id = Self::path_id(id)?;
            let body = self
                .get(
                    &format!("/v1/payment_intents/{id}"),
                    &[("expand[]", "latest_charge")],
                )
                .await?;
            let intent: Intent = serde_json::from_str(&body).map_err(unreadable)?;
            return Ok(Some(intent.found()));
        }
        // Only our own ids (UUIDs) go into the query. Stripe's search lags writes by up to a
        // minute, which the caller's staleness bound (90 s by default) outlasts.
        if payment_id.is_empty()
            || !payment_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ProviderError::Invalid(format!(
                "Not a payment id: {payment_id:?}"
            )));
        }
        let query = format!("metadata['payment_id']:'{payment_id}'");
        let body = self
            .get(
                "/v1/payment_intents/search",
                &[("query", &query), ("expand[]", "data.latest_charge")],
            )
            .await?;
        let result: SearchResult = serde_json::from_str(&body).map_err(unreadable)?;
        Ok(result.data.into_iter().next().map(Intent::found))
    }
}
