//! Request nonces on PostgreSQL, checked in batches: the offers waiting at one moment go to the
//! database as one statement in one commit, so a busy instance pays one round trip and one
//! WAL flush for many requests instead of a transaction each.
//!
//! Why batches: every signed request — each long poll of every phone included — offers a nonce,
//! and a transaction per offer made the nonce table the commit rate limit of a deployment (about
//! 1,700 commits a second from re-polls alone at 50,000 phones). One checker task per store
//! takes what has queued while the previous batch was in the database, so batches grow with
//! load and an idle server still answers an offer after one round trip.

use std::collections::HashSet;

use nyckel_protocol::DeviceId;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::{engine, seconds};
use crate::nonces::{NonceCheck, MAX_NONCES_PER_DEVICE, NONCE_MEMORY};
use crate::store::StoreError;

/// Most offers in one statement (bounds the statement's size and one batch's latency).
const MAX_BATCH: usize = 512;

/// The check of one batch, in one statement (an implicit transaction):
/// - `seen`: the nonce is stored within the window around its own time (a replay);
/// - `position`: the device's nonces stored within the window plus this offer's place among
///   the batch's offers of the same device, so a batch cannot take a device past the limit;
/// - both read the device's rows through the primary key's device prefix only: a time range
///   in the index condition let the planner combine it with the `at` index, which covers
///   nearly every row (all are recent), and each offer then scanned the whole table;
/// - the insert writes the offers that are neither, replacing a same-nonce row from outside
///   the window; the primary key refuses a nonce another transaction wrote in the meantime
///   (`ON CONFLICT … WHERE` is false inside the window), so it comes back as not written.
///
/// Rows go in (device, nonce) order so two batches that meet on the same rows lock them in
/// one order.
const CHECK_BATCH: &str = "\
WITH input AS (
    SELECT device, nonce, at, ord
    FROM unnest($1::text[], $2::bytea[], $3::bigint[]) WITH ORDINALITY AS t(device, nonce, at, ord)
), checked AS (
    SELECT i.device, i.nonce, i.at, i.ord, s.seen > 0 AS seen,
        s.remembered + row_number() OVER (PARTITION BY i.device ORDER BY i.ord) AS position
    FROM input i, LATERAL (
        SELECT count(*) FILTER (WHERE n.nonce = i.nonce AND n.at > i.at - $4 AND n.at <= i.at + $4) AS seen,
            count(*) FILTER (WHERE n.at > i.at - $4 AND n.at <= i.at + $4) AS remembered
        FROM nonces n WHERE n.device = i.device
    ) s
), written AS (
    INSERT INTO nonces (device, nonce, at)
    SELECT device, nonce, at FROM checked WHERE NOT seen AND position <= $5
    ORDER BY device, nonce
    ON CONFLICT (device, nonce) DO UPDATE SET at = EXCLUDED.at
        WHERE nonces.at <= EXCLUDED.at - $4 OR nonces.at > EXCLUDED.at + $4
    RETURNING device, nonce
)
SELECT c.ord, c.seen, c.position > $5 AS full, (w.nonce IS NOT NULL) AS fresh
FROM checked c LEFT JOIN written w ON w.device = c.device AND w.nonce = c.nonce";

/// One offer waiting for its batch.
struct Offer {
    device: String,
    nonce: [u8; 16],
    at: i64,
    reply: oneshot::Sender<Result<NonceCheck, StoreError>>,
}

/// The handle of one store's checker task; the task ends when the last handle is dropped.
pub(super) struct NonceChecker {
    queue: mpsc::UnboundedSender<Offer>,
}

impl NonceChecker {
    /// Starts the checker task on the current runtime.
    pub(super) fn start(pool: PgPool) -> Self {
        let (queue, offers) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, offers));
        Self { queue }
    }

    /// Offers `nonce` of `device` at `now` and waits for its batch's verdict.
    pub(super) async fn offer(&self, device: &DeviceId, nonce: [u8; 16], now: u64) -> Result<NonceCheck, StoreError> {
        let (reply, verdict) = oneshot::channel();
        let offer = Offer { device: device.as_str().to_owned(), nonce, at: seconds(now)?, reply };
        self.queue.send(offer).map_err(|_| stopped())?;
        verdict.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Engine("postgresql: the nonce checker has stopped".into())
}

async fn run(pool: PgPool, mut offers: mpsc::UnboundedReceiver<Offer>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while offers.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (to_check, verdicts) = split_repeats(std::mem::take(&mut batch));
        for (offer, verdict) in verdicts {
            let _ = offer.reply.send(Ok(verdict));
        }
        if to_check.is_empty() {
            continue;
        }
        match check(&pool, &to_check).await {
            Ok(results) => {
                for (offer, verdict) in to_check.into_iter().zip(results) {
                    let _ = offer.reply.send(Ok(verdict));
                }
            }
            Err(e) => {
                tracing::warn!("{e}");
                for offer in to_check {
                    let _ = offer.reply.send(Err(StoreError::Engine(e.to_string())));
                }
            }
        }
    }
}

/// Takes out the offers that repeat an earlier offer of the same batch: they are replays of it
/// (one statement cannot insert a row twice), answered without the database.
fn split_repeats(batch: Vec<Offer>) -> (Vec<Offer>, Vec<(Offer, NonceCheck)>) {
    let mut seen = HashSet::with_capacity(batch.len());
    let mut first = Vec::with_capacity(batch.len());
    let mut repeats = Vec::new();
    for offer in batch {
        if seen.insert((offer.device.clone(), offer.nonce)) {
            first.push(offer);
        } else {
            repeats.push((offer, NonceCheck::Replayed));
        }
    }
    (first, repeats)
}

/// Runs [`CHECK_BATCH`] for `offers` and returns their verdicts in their order.
async fn check(pool: &PgPool, offers: &[Offer]) -> Result<Vec<NonceCheck>, StoreError> {
    let devices: Vec<&str> = offers.iter().map(|o| o.device.as_str()).collect();
    let nonces: Vec<&[u8]> = offers.iter().map(|o| &o.nonce[..]).collect();
    let times: Vec<i64> = offers.iter().map(|o| o.at).collect();
    let limit = i64::try_from(MAX_NONCES_PER_DEVICE).unwrap_or(i64::MAX);
    let rows: Vec<(i64, bool, bool, bool)> = sqlx::query_as(CHECK_BATCH)
        .bind(&devices)
        .bind(&nonces)
        .bind(&times)
        .bind(seconds(NONCE_MEMORY)?)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(engine("check request nonces"))?;
    let mut verdicts = vec![None; offers.len()];
    for (ord, seen, full, fresh) in rows {
        let verdict = if seen {
            NonceCheck::Replayed
        } else if full {
            NonceCheck::Full
        } else if fresh {
            NonceCheck::Fresh
        } else {
            // Written by another transaction between this one's check and its insert.
            NonceCheck::Replayed
        };
        // `WITH ORDINALITY` counts from 1.
        if let Some(slot) = usize::try_from(ord - 1).ok().and_then(|i| verdicts.get_mut(i)) {
            *slot = Some(verdict);
        }
    }
    verdicts
        .into_iter()
        .map(|v| v.ok_or_else(|| StoreError::Engine("postgresql: a nonce check returned no verdict".into())))
        .collect()
}
