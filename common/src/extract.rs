//! A `Path` extractor whose rejections answer in the error envelope (see [`crate::Json`]).
use axum::extract::rejection::PathRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Like `axum::extract::Path`, but a segment that can't be decoded (bad UTF-8 after
/// percent-decoding, a value of the wrong type) is a 400 in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(err)) => {
                Err(ApiError::bad_request(err.body_text()))
            }
            // Only a route without the parameter (a programming error) gets here.
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!("{}", other.body_text()))),
        }
    }
}
