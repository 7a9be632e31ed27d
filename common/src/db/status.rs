//! Order and payment statuses as column values: rows hold the enums, stored as the same text
//! they have on the wire (`created`, `awaiting:payment`, `captured`, …), through sea-orm and
//! through the SQLite writer thread's rusqlite alike. Text that names no status is an error
//! where the row is read, not later.
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};

use crate::dto::PaymentStatus;
use crate::events::OrderStatus;

/// Stores `$status` as its `as_str()` text and reads it back with its `parse`.
macro_rules! stored_as_text {
    ($($status:ty),*) => {$(
        impl From<$status> for Value {
            fn from(status: $status) -> Self {
                status.as_str().into()
            }
        }

        impl TryGetable for $status {
            fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
                let text = String::try_get_by(res, index)?;
                <$status>::parse(&text)
                    .ok_or_else(|| TryGetError::DbErr(unknown(stringify!($status), &text)))
            }
        }

        impl ValueType for $status {
            fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
                <String as ValueType>::try_from(value)
                    .ok()
                    .and_then(|text| <$status>::parse(&text))
                    .ok_or(ValueTypeErr)
            }

            fn type_name() -> String {
                stringify!($status).to_owned()
            }

            fn array_type() -> ArrayType {
                ArrayType::String
            }

            fn column_type() -> ColumnType {
                <String as ValueType>::column_type()
            }
        }

        impl Nullable for $status {
            fn null() -> Value {
                <String as Nullable>::null()
            }
        }

        impl ToSql for $status {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $status {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                <$status>::parse(text)
                    .ok_or_else(|| FromSqlError::Other(unknown(stringify!($status), text).into()))
            }
        }
    )*};
}

stored_as_text!(OrderStatus, PaymentStatus);

fn unknown(kind: &str, text: &str) -> DbErr {
    DbErr::Type(format!("{text:?} is no {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_stored_as_their_wire_text() {
        assert_eq!(
            Value::from(OrderStatus::AwaitingPayment),
            Value::from("awaiting:payment")
        );
        assert_eq!(
            Value::from(PaymentStatus::Captured),
            Value::from("captured")
        );
        for status in PaymentStatus::ALL {
            let stored = Value::from(status);
            assert_eq!(
                <PaymentStatus as ValueType>::try_from(stored).ok(),
                Some(status)
            );
        }
        assert!(<OrderStatus as ValueType>::try_from(Value::from("shipped")).is_err());
    }
}
