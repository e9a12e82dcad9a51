//! The request body the handler receives: the client's stream, replaying first the prefix the
//! middleware read ahead for a `Request`-level record.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The request body handed to the inner service: exactly the frames the client sent, including
/// those the middleware read ahead to audit them.
pub struct AuditBody<B: Body> {
    buffered: VecDeque<Frame<Bytes>>,
    buffered_len: u64,
    // Boxed so the body stays `Unpin` whatever `B` is; errors are rare.
    error: Option<Box<B::Error>>,
    rest: Option<Pin<Box<B>>>,
}

impl<B: Body> fmt::Debug for AuditBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditBody")
            .field("buffered_frames", &self.buffered.len())
            .finish_non_exhaustive()
    }
}

/// What [`AuditBody::read_prefix`] saw.
#[derive(Debug)]
pub(crate) struct Prefix {
    pub(crate) bytes: Vec<u8>,
    /// The body goes on beyond `bytes` (or may: the stream had not ended).
    pub(crate) truncated: bool,
}

impl<B> AuditBody<B>
where
    B: Body<Data = Bytes>,
{
    pub(crate) fn new(body: B) -> Self {
        AuditBody {
            buffered: VecDeque::new(),
            buffered_len: 0,
            error: None,
            rest: Some(Box::pin(body)),
        }
    }

    /// Reads frames until `cap` data bytes are buffered, the body ends or fails, or `wait`
    /// passes (a client stalling mid-body; needs a Tokio runtime with timers, else no bound);
    /// returns a copy of the first `cap` bytes. The frames stay buffered for the handler.
    pub(crate) async fn read_prefix(&mut self, cap: usize, wait: std::time::Duration) -> Prefix {
        let deadline = Some(tokio::time::Instant::now() + wait);
        let mut bytes = Vec::new();
        let mut seen = 0usize;
        if cap == 0 {
            return Prefix {
                truncated: !self.is_end_stream(),
                bytes,
            };
        }
        while seen < cap {
            let Some(rest) = self.rest.as_mut() else {
                break;
            };
            if rest.is_end_stream() {
                break;
            }
            let frame = poll_fn(|cx| rest.as_mut().poll_frame(cx));
            let frame = match super::backpressure::until(deadline, frame).await {
                Ok(frame) => frame,
                // Stalled: record what arrived; the handler reads the rest (or not).
                Err(()) => break,
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = cap.saturating_sub(bytes.len());
                        bytes.extend_from_slice(&data[..data.len().min(room)]);
                        seen = seen.saturating_add(data.len());
                        self.buffered_len = self.buffered_len.saturating_add(data.len() as u64);
                    }
                    self.buffered.push_back(frame);
                }
                Some(Err(e)) => {
                    self.error = Some(Box::new(e));
                    self.rest = None;
                }
                None => self.rest = None,
            }
        }
        let more = self.rest.as_ref().is_some_and(|r| !r.is_end_stream());
        Prefix {
            truncated: seen > bytes.len() || more,
            bytes,
        }
    }
}

impl<B> Body for AuditBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.buffered.pop_front() {
            if let Some(data) = frame.data_ref() {
                this.buffered_len = this.buffered_len.saturating_sub(data.len() as u64);
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(err) = this.error.take() {
            return Poll::Ready(Some(Err(*err)));
        }
        match this.rest.as_mut() {
            Some(rest) => rest.as_mut().poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.buffered.is_empty()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let rest = match &self.rest {
            Some(r) => r.size_hint(),
            None => SizeHint::with_exact(0),
        };
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(self.buffered_len));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(self.buffered_len));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_prefix_is_read_ahead_and_the_whole_body_still_reaches_the_handler() {
        block_on(async {
            let mut body = AuditBody::new(Full::new(Bytes::from_static(b"hello world")));
            let prefix = body.read_prefix(5, std::time::Duration::from_secs(5)).await;
            assert_eq!(prefix.bytes, b"hello");
            assert!(prefix.truncated);
            assert_eq!(body.size_hint().exact(), Some(11));
            let all = body.collect().await.unwrap().to_bytes();
            assert_eq!(&all[..], b"hello world");
        });
    }

    #[test]
    fn a_short_body_is_not_truncated_and_a_zero_cap_reads_nothing() {
        block_on(async {
            let mut body = AuditBody::new(Full::new(Bytes::from_static(b"hi")));
            let prefix = body
                .read_prefix(1024, std::time::Duration::from_secs(5))
                .await;
            assert_eq!(prefix.bytes, b"hi");
            assert!(!prefix.truncated);
            assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"hi");

            let mut body = AuditBody::new(Full::new(Bytes::from_static(b"hi")));
            let prefix = body.read_prefix(0, std::time::Duration::from_secs(5)).await;
            assert!(prefix.bytes.is_empty() && prefix.truncated);
            assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"hi");
        });
    }
}
