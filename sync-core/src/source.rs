//! [`ErrorSource`]: the underlying error of a [`TransportError`](crate::transport::TransportError)
//! or a [`StoreError`](crate::store::StoreError), kept for `Error::source()` and for an
//! app that wants to downcast it (to a `reqwest::Error`, a `rusqlite::Error`, an
//! `std::io::Error`).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An error's cause, shared: cheap to clone with the error that carries it.
///
/// Two sources always compare equal, so that errors compare by what they say (their
/// kind and message), as before they carried a source.
///
/// ```
/// use sync_core::ErrorSource;
/// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "too slow");
/// let source = ErrorSource::new(io);
/// assert_eq!(source.to_string(), "too slow");
/// let io: &std::io::Error = source.downcast_ref().unwrap();
/// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn Error + Send + Sync + 'static>);

impl ErrorSource {
    /// Keeps `e`.
    pub fn new(e: impl Error + Send + Sync + 'static) -> ErrorSource {
        ErrorSource(Arc::new(e))
    }

    /// The underlying error as `T`, when it is one.
    pub fn downcast_ref<T: Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The underlying error.
    pub fn get(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Error for ErrorSource {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for ErrorSource {
    fn eq(&self, _: &ErrorSource) -> bool {
        true
    }
}
