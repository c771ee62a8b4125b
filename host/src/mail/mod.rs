//! Mail delivery: drains the notification outbox into a transport.
//!
//! The transport comes from `CAPCRM_MAIL` (or `serve --mail`):
//!
//! - `smtp://user:password@host:587?tls=required` or `smtps://host:465`: an SMTP relay (lettre's URL
//!   format; STARTTLS or implicit TLS with rustls and the Mozilla roots);
//! - `dir:/var/spool/capcrm-mail`: a pickup directory, one `.eml` file per message, for a local MTA
//!   or a test to collect.
//!
//! Without one, messages wait in the outbox (the server says so once at start) and go out when a
//! transport is configured. Every node runs the worker; a message is claimed with a lease, so two
//! nodes never send it at once, and a node that dies mid-send leaves it to be retried.
//! Addresses and texts exist in clear only between [`crate::access::Gate::outbox_claim`] and the
//! transport; nothing of them is logged.

use crate::access::Gate;
use crate::access::outbox::OutgoingMail;
use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// Messages claimed per round.
const BATCH: i64 = 20;
/// How long a claimed message stays with this node.
const LEASE_MICROS: i64 = 120 * 1_000_000;

/// Where mail goes.
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dir(AsyncFileTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Smtp(_) => "Transport::Smtp",
            Transport::Dir(_) => "Transport::Dir",
        })
    }
}

impl Transport {
    /// Parses `CAPCRM_MAIL`. The error never repeats the value (it may hold a password).
    pub fn parse(spec: &str) -> Result<Transport, String> {
        if let Some(dir) = spec.strip_prefix("dir:") {
            let path = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&path).map_err(|e| format!("cannot create the mail pickup directory: {e}"))?;
            return Ok(Transport::Dir(AsyncFileTransport::new(path)));
        }
        if spec.starts_with("smtp://") || spec.starts_with("smtps://") {
            return AsyncSmtpTransport::<Tokio1Executor>::from_url(spec)
                .map(|b| Transport::Smtp(b.timeout(Some(Duration::from_secs(20))).build()))
                .map_err(|_| "the SMTP URL does not parse (smtp://user:password@host:port?tls=required, or smtps://...)".into());
        }
        Err("CAPCRM_MAIL must start with smtp://, smtps:// or dir:".into())
    }

    /// A short description for the start-up line, without credentials.
    pub fn describe(&self) -> &'static str {
        match self {
            Transport::Smtp(_) => "SMTP relay",
            Transport::Dir(_) => "pickup directory",
        }
    }

    async fn send(&self, m: Message) -> Result<(), Failure> {
        match self {
            Transport::Smtp(t) => t.send(m).await.map(|_| ()).map_err(|e| if e.is_permanent() { Failure::Permanent("smtp_rejected") } else { Failure::Retry("smtp_unavailable") }),
            Transport::Dir(t) => t.send(m).await.map(|_| ()).map_err(|_| Failure::Retry("pickup_write_failed")),
        }
    }
}

/// How an attempt failed, as a value-free class.
#[derive(Debug)]
enum Failure {
    Retry(&'static str),
    Permanent(&'static str),
}

/// The sender of every message: `CAPCRM_MAIL_FROM` or `capcrm <no-reply@localhost>`.
pub fn sender() -> Result<Mailbox, String> {
    let from = std::env::var("CAPCRM_MAIL_FROM").unwrap_or_else(|_| "capcrm <no-reply@localhost>".into());
    from.parse().map_err(|_| "CAPCRM_MAIL_FROM is not a mailbox (`Name <address>` or `address`)".into())
}

fn compose(from: &Mailbox, m: &OutgoingMail) -> Result<Message, Failure> {
    let to: Mailbox = m.to.parse().map_err(|_| Failure::Permanent("bad_address"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone())
        .map_err(|_| Failure::Permanent("unbuildable"))
}

/// Sends what is due once; returns how many went.
pub async fn deliver_due(gate: &Gate, transport: &Transport, from: &Mailbox) -> Result<usize, crate::access::AccessError> {
    let mut sent = 0;
    for m in gate.outbox_claim(BATCH, LEASE_MICROS).await? {
        let outcome = match compose(from, &m) {
            Ok(msg) => transport.send(msg).await,
            Err(f) => Err(f),
        };
        match outcome {
            Ok(()) => {
                gate.outbox_sent(&m.id).await?;
                sent += 1;
            }
            Err(Failure::Retry(class)) => gate.outbox_failed(&m.id, m.attempts, class).await?,
            Err(Failure::Permanent(class)) => gate.outbox_give_up(&m.id, class).await?,
        }
    }
    Ok(sent)
}

/// The worker: a round every `CAPCRM_MAIL_TICK_MS` (default 2000).
pub async fn run(gate: Gate, transport: Transport, from: Mailbox) {
    let tick = std::env::var("CAPCRM_MAIL_TICK_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000u64);
    loop {
        match deliver_due(&gate, &transport, &from).await {
            Ok(n) if n > 0 => tracing::info!(messages = n, "mail sent"),
            Ok(_) => {}
            Err(e) => tracing::warn!("mail delivery round failed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(tick)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_parse_and_errors_keep_secrets_out() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Transport::parse(&format!("dir:{}", dir.path().display())), Ok(Transport::Dir(_))));
        let e = Transport::parse("ftp://user:hunter2@example.com").unwrap_err();
        assert!(!e.contains("hunter2"));
        assert!(sender().is_ok());
    }
}
