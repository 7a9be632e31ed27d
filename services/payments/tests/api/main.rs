//! The payments service end to end, in one test binary: the course app's payments cases
//! (§2, 53–60) adapted, plus expiry, double clicks, declines, refunds and the Stripe webhook.
//! A module per route (`create` pays, `list` is the receipt, `webhook`), `cancellation` for
//! payments racing an order's end, `sweeper` for payments whose process died, `listeners`
//! for the order events, `provider` for what the Stripe adapter sends. `helpers` starts a
//! real service on port 0 with a database of its own, and `helpers::stripe` a local
//! stand-in for Stripe.
//!
//! The route cases run once per provider (`<case>::test_mode`, `<case>::stripe`). The same
//! cases run on both backend sets: SQLite and the in-process bus by default; PostgreSQL and
//! JetStream with `DATABASE_URL=postgres://…` and `NATS_URL=nats://…`.

/// Runs each named case of the calling module once per provider: `<case>::test_mode` and
/// `<case>::stripe`.
macro_rules! on_both_providers {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn test_mode() {
                super::$case(crate::helpers::Kind::TestMode).await
            }
            #[tokio::test]
            async fn stripe() {
                super::$case(crate::helpers::Kind::Stripe).await
            }
        }
    )*};
}

mod cancellation;
mod create;
mod helpers;
mod list;
mod listeners;
mod provider;
mod sweeper;
mod webhook;
