//! The payment provider seam: authorize a card, then capture, void or refund that
//! authorization. Two implementations: [`TestModeProvider`] (in memory, Stripe's test
//! tokens; the default) and [`StripeProvider`] (Stripe's PaymentIntents over HTTP).
use std::sync::Arc;

use async_trait::async_trait;
use common::money::Money;

mod stripe;
mod test_mode;

pub use stripe::StripeProvider;
pub use test_mode::{TestCharge, TestChargeStatus, TestModeProvider};

/// One authorization to ask for. `idempotency_key` is unique per attempt (the payment id),
/// so a retried request never charges twice.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub amount: Money,
    pub currency: String,
    /// A card token (`tok_…`) or payment method (`pm_…`) from the client.
    pub token: String,
    pub order_id: String,
    pub payment_id: String,
    pub idempotency_key: String,
}

/// Why the provider said no, or could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The card was refused; the message is for the buyer, who may try another card.
    #[error("{0}")]
    Declined(String),
    /// The request itself was wrong (an unknown token, an amount too small, …).
    #[error("{0}")]
    Invalid(String),
    /// No usable answer (network, timeout, 5xx, rate limit, our own credentials).
    #[error("{0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Places a hold for the amount; returns the provider's id for it.
    async fn authorize(&self, charge: &ChargeRequest) -> Result<String, ProviderError>;
    /// Takes the held money.
    async fn capture(&self, provider_id: &str, idempotency_key: &str) -> Result<(), ProviderError>;
    /// Releases a hold that will never be captured.
    async fn void(&self, provider_id: &str, idempotency_key: &str) -> Result<(), ProviderError>;
    /// Gives captured money back in full.
    async fn refund(&self, provider_id: &str, idempotency_key: &str) -> Result<(), ProviderError>;
    /// What became of a payment whose process died mid-way: found by the provider's id when
    /// it was recorded, else by our payment id (the authorization carries it). `None` when
    /// the provider holds nothing for it (never authorized).
    async fn lookup(
        &self,
        payment_id: &str,
        provider_id: Option<&str>,
    ) -> Result<Option<Found>, ProviderError>;
}

/// A charge as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub state: ChargeState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeState {
    /// A hold that can still be captured or voided.
    Held,
    /// Started but holding nothing yet (e.g. waiting for a confirmation that will never
    /// come); voiding closes it.
    Open,
    Captured,
    Voided,
    Refunded,
}

pub type Provider = Arc<dyn PaymentProvider>;

/// Stripe when `STRIPE_SECRET_KEY` is set, else the test-mode provider.
pub fn from_settings(settings: &common::settings::Settings) -> anyhow::Result<Provider> {
    Ok(match &settings.stripe_secret_key {
        Some(key) => {
            tracing::info!(base = %settings.stripe_api_base, "payment provider: Stripe");
            Arc::new(StripeProvider::new(&settings.stripe_api_base, key.clone())?)
        }
        None => {
            tracing::info!("payment provider: test mode (Stripe's test tokens, no real money)");
            Arc::new(TestModeProvider::new())
        }
    })
}

/// Idempotency keys for the follow-up calls on one payment: distinct per operation, the same
/// on every retry of that operation.
pub fn key_for(payment_id: &str, operation: &str) -> String {
    format!("{payment_id}-{operation}")
}
