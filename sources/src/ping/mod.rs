//! The PingSource adapter: fires an event on every tick of a cron schedule, read in the source's
//! time zone.
//!
//! Events: type `dev.knative.sources.ping`, source `/apis/v1/namespaces/{ns}/pingsources/{name}`,
//! `time` = the scheduled tick (RFC 3339, UTC), `datacontenttype` = `contentType`, data = `data`
//! or the decoded `dataBase64`, plus `ceOverrides`. The id is a UUID v5 of the source and the
//! tick: fresh for every tick, and the same if a tick is ever fired again.
//!
//! Delivery: each tick is delivered under the source's delivery policy, then dead-lettered and
//! recorded; ticks are never skipped while the source runs. Up to [`MAX_TICKS_IN_FLIGHT`] ticks
//! are delivered at once; when the sink is slow or pushes back, later ticks wait for a place and
//! are then fired late (with their scheduled `time`), one after the other.
//!
//! Restarts: the last tick whose outcome is final (and every tick before it) is stored in the
//! state store under `pingsources/{ns}/{name}/last-tick`, after that outcome. On start:
//! - a source with no stored tick stores "now" and fires from the next tick on (a new source does
//!   not fire ticks from before it existed);
//! - otherwise, if ticks came due after the stored one while the source was down (or their
//!   delivery was interrupted by shutdown), only the **most recent** of them is fired at once (a
//!   catch-up of one tick), then the schedule continues.
//!
//! A tick whose outcome was stored is never fired again. A crash after the sink accepted a tick
//! but before the store completed re-fires that tick once, with the same id, so subscribers can
//! de-duplicate it.

mod ticks;

pub use ticks::EVENT_TYPE;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use herald_crds::PingSource;
use herald_log::StateStore;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::context::SourceContext;
use crate::deliver::{Deliverer, Disposition};
use crate::error::SourceError;
use crate::flow::{Flow, Slot};
use crate::stats::reason;
use ticks::{LastTick, Template, Ticks};

/// Most ticks being delivered at once.
pub const MAX_TICKS_IN_FLIGHT: usize = 16;

/// A PingSource ready to run.
pub(crate) struct Ticker {
    cron: Cron,
    timezone: Tz,
    template: Template,
    state: Arc<dyn StateStore>,
    state_key: String,
    deliverer: Arc<Deliverer>,
}

/// Checks the schedule, time zone and data of `source` and prepares its ticker.
pub(crate) fn prepare(
    source: &PingSource,
    context: &SourceContext,
    deliverer: Arc<Deliverer>,
) -> Result<Ticker, SourceError> {
    let key = herald_crds::Resource::PingSource(source.clone()).key();
    let cron = source
        .schedule()
        .map_err(|e| SourceError::config(&key, "spec.schedule", e.to_string()))?;
    let timezone = source
        .timezone()
        .map_err(|e| SourceError::config(&key, "spec.timezone", e.to_string()))?;
    let data = source
        .spec
        .data_bytes()
        .map_err(|e| SourceError::config(&key, "spec.dataBase64", e.to_string()))?;
    Ok(Ticker {
        cron,
        timezone,
        template: Template {
            source: format!(
                "/apis/v1/namespaces/{}/pingsources/{}",
                key.namespace, key.name
            ),
            content_type: source.spec.content_type.clone().filter(|c| !c.is_empty()),
            data: data.map(Into::into),
        },
        state: context.state.clone(),
        state_key: format!("{key}/last-tick"),
        deliverer,
    })
}

impl Ticker {
    /// The first tick strictly after `after`, in the source's time zone.
    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone);
        match self.cron.find_next_occurrence(&local, false) {
            Ok(next) => Some(next.with_timezone(&Utc)),
            Err(err) => {
                tracing::error!(error = %err, "the schedule has no further tick");
                None
            }
        }
    }

    /// The most recent tick at or before `now`.
    fn latest_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.timezone);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first tick to fire: the catch-up tick, or the next one.
    async fn first_tick(&self, last: &LastTick<'_>) -> Option<DateTime<Utc>> {
        let now = Utc::now();
        match last.load() {
            None => {
                last.store(now).await;
                self.next_after(now)
            }
            Some(stored) => match self.latest_until(now) {
                Some(missed) if missed > stored => {
                    tracing::info!(tick = %missed, last_final = %stored, "firing the most recent missed tick");
                    Some(missed)
                }
                _ => self.next_after(now.max(stored)),
            },
        }
    }

    pub(crate) async fn run(self) {
        let deliverer = self.deliverer.clone();
        let stop = deliverer.stop().clone();
        let last = LastTick {
            state: self.state.as_ref(),
            key: self.state_key.clone(),
        };
        deliverer.stats().set_readiness(true, reason::RUNNING, "");
        let flow = Flow::new(MAX_TICKS_IN_FLIGHT);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(DateTime<Utc>, Disposition)>();
        let mut ticks = Ticks::default();
        let mut tasks = JoinSet::new();
        let mut next = self.first_tick(&last).await;

        while let Some(tick) = next {
            let wait = (tick - Utc::now()).to_std().ok();
            if wait.is_none()
                && let Some(slot) = flow.try_admit()
            {
                self.fire(tick, slot, &flow, &mut ticks, &mut tasks, &done_tx);
                next = self.next_after(tick);
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                Some((tick, disposition)) = done_rx.recv() => {
                    settle(&mut ticks, &last, tick, disposition).await;
                }
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
            while tasks.try_join_next().is_some() {}
        }

        // Let deliveries on the wire finish (retry waits end at once on the same token).
        drop(done_tx);
        while tasks.join_next().await.is_some() {}
        while let Some((tick, disposition)) = done_rx.recv().await {
            settle(&mut ticks, &last, tick, disposition).await;
        }
        if ticks.in_flight() > 0 {
            tracing::info!(
                unfinished = ticks.in_flight(),
                "stopping with ticks whose delivery was interrupted"
            );
        }
    }

    fn fire(
        &self,
        tick: DateTime<Utc>,
        slot: Slot,
        flow: &Arc<Flow>,
        ticks: &mut Ticks,
        tasks: &mut JoinSet<()>,
        done: &mpsc::UnboundedSender<(DateTime<Utc>, Disposition)>,
    ) {
        ticks.fire(tick);
        self.deliverer.stats().count_received();
        let event = self.template.event(tick);
        let (deliverer, flow, done) = (self.deliverer.clone(), flow.clone(), done.clone());
        tasks.spawn(async move {
            let disposition = deliverer.deliver(event, &flow).await;
            drop(slot);
            let _ = done.send((tick, disposition));
        });
    }
}

/// Records a tick's outcome and stores the last final tick when it moved.
async fn settle(
    ticks: &mut Ticks,
    last: &LastTick<'_>,
    tick: DateTime<Utc>,
    disposition: Disposition,
) {
    if disposition == Disposition::Settled
        && let Some(settled) = ticks.finish(tick)
    {
        last.store(settled).await;
    }
}
