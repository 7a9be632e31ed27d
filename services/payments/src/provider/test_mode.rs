//! The built-in provider: Stripe's test tokens, in memory. It keeps every charge it made so
//! tests (and the all-in-one demo) can see exactly what was captured.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use common::money::Money;

use super::{ChargeRequest, ChargeState, Found, PaymentProvider, ProviderError};

/// The message Stripe gives a buyer for a generic decline.
pub const DECLINED: &str = "Your card was declined.";

pub const UNKNOWN_TOKEN: &str =
    "Unknown card token; in test mode use tok_visa (or tok_chargeDeclined to see a decline)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestChargeStatus {
    Authorized,
    Captured,
    Voided,
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCharge {
    pub id: String,
    pub order_id: String,
    pub payment_id: String,
    pub amount: Money,
    pub currency: String,
    pub token: String,
    pub status: TestChargeStatus,
}

#[derive(Default)]
struct Ledger {
    charges: Vec<TestCharge>,
    /// Authorization idempotency key → charge id, so a repeated request gets the same hold.
    keys: HashMap<String, String>,
}

/// Cloning shares the ledger.
#[derive(Clone, Default)]
pub struct TestModeProvider {
    ledger: Arc<Mutex<Ledger>>,
}

enum Card {
    Good,
    Declined(&'static str),
}

/// Stripe's documented test tokens and payment methods that this provider understands.
fn card(token: &str) -> Option<Card> {
    Some(match token {
        "tok_visa" | "pm_card_visa" | "tok_mastercard" | "pm_card_mastercard" | "tok_amex"
        | "pm_card_amex" => Card::Good,
        "tok_chargeDeclined" | "pm_card_chargeDeclined" => Card::Declined(DECLINED),
        "tok_chargeDeclinedInsufficientFunds" | "pm_card_chargeDeclinedInsufficientFunds" => {
            Card::Declined("Your card has insufficient funds.")
        }
        "tok_chargeDeclinedExpiredCard" | "pm_card_chargeDeclinedExpiredCard" => {
            Card::Declined("Your card has expired.")
        }
        _ => return None,
    })
}

impl TestModeProvider {
    pub fn new() -> Self {
        Self::default()
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // The ledger stays consistent even if a holder panicked: every change is one push/set.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every charge so far, oldest first.
    pub fn charges(&self) -> Vec<TestCharge> {
        self.ledger().charges.clone()
    }

    /// The charges made for one order.
    pub fn charges_for(&self, order_id: &str) -> Vec<TestCharge> {
        self.charges()
            .into_iter()
            .filter(|c| c.order_id == order_id)
            .collect()
    }

    fn change(
        &self,
        id: &str,
        from: TestChargeStatus,
        to: TestChargeStatus,
    ) -> Result<(), ProviderError> {
        let mut ledger = self.ledger();
        let charge = ledger
            .charges
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| ProviderError::Invalid(format!("No such charge: '{id}'")))?;
        if charge.status == to {
            return Ok(()); // a retried call
        }
        if charge.status != from {
            return Err(ProviderError::Invalid(format!(
                "Charge {id} is {:?}, not {from:?}",
                charge.status
            )));
        }
        charge.status = to;
        Ok(())
    }
}

#[async_trait]
impl PaymentProvider for TestModeProvider {
    async fn authorize(&self, charge: &ChargeRequest) -> Result<String, ProviderError> {
        match card(&charge.token) {
            None => Err(ProviderError::Invalid(UNKNOWN_TOKEN.to_owned())),
            Some(Card::Declined(message)) => Err(ProviderError::Declined(message.to_owned())),
            Some(Card::Good) => {
                let mut ledger = self.ledger();
                if let Some(id) = ledger.keys.get(&charge.idempotency_key) {
                    return Ok(id.clone());
                }
                let id = format!("pi_test_{}", uuid::Uuid::new_v4().simple());
                ledger.charges.push(TestCharge {
                    id: id.clone(),
                    order_id: charge.order_id.clone(),
                    payment_id: charge.payment_id.clone(),
                    amount: charge.amount,
                    currency: charge.currency.clone(),
                    token: charge.token.clone(),
                    status: TestChargeStatus::Authorized,
                });
                ledger
                    .keys
                    .insert(charge.idempotency_key.clone(), id.clone());
                Ok(id)
            }
        }
    }

    async fn capture(&self, provider_id: &str, _key: &str) -> Result<(), ProviderError> {
        self.change(
            provider_id,
            TestChargeStatus::Authorized,
            TestChargeStatus::Captured,
        )
    }

    async fn void(&self, provider_id: &str, _key: &str) -> Result<(), ProviderError> {
        self.change(
            provider_id,
            TestChargeStatus::Authorized,
            TestChargeStatus::Voided,
        )
    }

    async fn refund(&self, provider_id: &str, _key: &str) -> Result<(), ProviderError> {
        self.change(
            provider_id,
            TestChargeStatus::Captured,
            TestChargeStatus::Refunded,
        )
    }

    /// The ledger lives in the process: after a restart it knows nothing, which is the truth
    /// in test mode (the holds went with the process).
    async fn lookup(
        &self,
        payment_id: &str,
        provider_id: Option<&str>,
    ) -> Result<Option<Found>, ProviderError> {
        let ledger = self.ledger();
        let charge = ledger.charges.iter().find(|c| match provider_id {
            Some(id) => c.id == id,
            None => c.payment_id == payment_id,
        });
        Ok(charge.map(|c| Found {
            id: c.id.clone(),
            state: match c.status {
                TestChargeStatus::Authorized => ChargeState::Held,
                TestChargeStatus::Captured => ChargeState::Captured,
                TestChargeStatus::Voided => ChargeState::Voided,
                TestChargeStatus::Refunded => ChargeState::Refunded,
            },
        }))
    }
}
