//! How the browser calls a server function. A service's refusal (a field error, a ticket
//! someone else reserved) is an answer, not a failed request: the web tier sends a server
//! function's error with status 200, keeping server_fn's error header on it, so the browser
//! logs no failed request; [`AnswerClient`] reads such a response back as the function's
//! `Err`.
use std::future::Future;

use futures::{Sink, Stream};
use leptos::server_fn::client::browser::BrowserClient;
use leptos::server_fn::client::Client;
use leptos::server_fn::error::{FromServerFnError, SERVER_FN_ERROR_HEADER};
use leptos::server_fn::response::browser::BrowserResponse;
use leptos::server_fn::response::ClientRes;
use leptos::server_fn::Bytes;

/// The header that marks a server function's error, whatever its status.
pub const ERROR_HEADER: &str = SERVER_FN_ERROR_HEADER;

/// The status an error sent with 200 is read as: any error status makes server_fn decode the
/// body as the function's error type.
const ERROR_STATUS: u16 = 422;

/// The browser's `fetch` client, reading errors sent with status 200 as errors.
pub struct AnswerClient;

impl<E, InputStreamError, OutputStreamError> Client<E, InputStreamError, OutputStreamError>
    for AnswerClient
where
    E: FromServerFnError,
    InputStreamError: FromServerFnError,
    OutputStreamError: FromServerFnError,
{
    type Request = <BrowserClient as Client<E, InputStreamError, OutputStreamError>>::Request;
    type Response = Fetched;

    fn send(request: Self::Request) -> impl Future<Output = Result<Fetched, E>> + Send {
        let sent = <BrowserClient as Client<E, InputStreamError, OutputStreamError>>::send(request);
        async move { sent.await.map(Fetched) }
    }

    #[allow(clippy::type_complexity)]
    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                impl Sink<Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, InputStreamError, OutputStreamError>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, InputStreamError, OutputStreamError>>::spawn(future);
    }
}

/// A server function's response as the browser received it.
pub struct Fetched(BrowserResponse);

impl<E: FromServerFnError> ClientRes<E> for Fetched {
    fn try_into_string(self) -> impl Future<Output = Result<String, E>> + Send {
        ClientRes::<E>::try_into_string(self.0)
    }

    fn try_into_bytes(self) -> impl Future<Output = Result<Bytes, E>> + Send {
        ClientRes::<E>::try_into_bytes(self.0)
    }

    fn try_into_stream(
        self,
    ) -> Result<impl Stream<Item = Result<Bytes, Bytes>> + Send + Sync + 'static, E> {
        ClientRes::<E>::try_into_stream(self.0)
    }

    fn status(&self) -> u16 {
        match ClientRes::<E>::status(&self.0) {
            200 if self.0.generate_headers().contains_key(ERROR_HEADER) => ERROR_STATUS,
            status => status,
        }
    }

    fn status_text(&self) -> String {
        ClientRes::<E>::status_text(&self.0)
    }

    fn location(&self) -> String {
        ClientRes::<E>::location(&self.0)
    }

    fn has_redirect(&self) -> bool {
        ClientRes::<E>::has_redirect(&self.0)
    }
}
