//! The queue's state machine against a model: random sequences of enqueue (with priorities,
//! schedules and unique keys), claim (one or a batch), fenced and unfenced complete / fail, batch
//! complete, renew, cancel, clock advances, reclaim, dead-lettering, pausing and concurrency limits
//! run on a store with a manual clock and on a plain in-memory model of CONTRACT.md section 3.
//! After every step, each outcome (success or error kind) and each item's status, attempt, lease
//! token and times must agree.

use std::time::Duration;

use jetstate::chrono::{DateTime, Utc};
use jetstate::serde_json::json;
use jetstate::uuid::Uuid;
use jetstate::{
    Clock, EnqueueOptions, EnqueueOutcome, ErrorKind, OnDuplicate, Options, QueueSettings, Store, WorkItem,
    WorkItemStatus, WorkflowExecution, DEFAULT_TENANT,
};
use proptest::prelude::*;

const LEASE_MS: i64 = 30_000;
const BASE_MS: i64 = 1_000;
const CAP_MS: i64 = 64_000;

#[derive(Debug, Clone)]
enum Op {
    Enqueue { max_attempts: u32, priority: i32, delay_ms: Option<i64>, unique: Option<(u8, OnDuplicate)> },
    Claim { worker: u8, max: usize },
    CompleteBatch { items: Vec<(usize, bool)> },
    Cancel { item: usize },
    Pause { paused: bool, concurrency: Option<u32> },
    Complete { item: usize, fenced: Option<bool> },
    Fail { item: usize, fenced: Option<bool> },
    Renew { item: usize, stale: bool },
    Advance { ms: i64 },
    Reclaim,
    DeadLetter { item: usize },
}

fn op() -> impl Strategy<Value = Op> {
    // `fenced`: None for the unfenced call, Some(true) with the current token, Some(false) stale.
    let fenced = prop_oneof![Just(None), Just(Some(true)), Just(Some(false))];
    let unique = prop_oneof![
        3 => Just(None),
        1 => (0u8..2, prop_oneof![Just(OnDuplicate::Keep), Just(OnDuplicate::Replace), Just(OnDuplicate::Refuse)])
            .prop_map(Some),
    ];
    let delay = prop_oneof![3 => Just(None), 1 => prop_oneof![Just(0i64), Just(1_000), Just(40_000)].prop_map(Some)];
    prop_oneof![
        3 => (1u32..4, -1i32..2, delay, unique).prop_map(|(max_attempts, priority, delay_ms, unique)| Op::Enqueue {
            max_attempts,
            priority,
            delay_ms,
            unique
        }),
        4 => (0u8..3, prop_oneof![3 => Just(1usize), 1 => 2usize..4]).prop_map(|(worker, max)| Op::Claim { worker, max }),
        1 => proptest::collection::vec((0usize..8, any::<bool>()), 1..3).prop_map(|items| Op::CompleteBatch { items }),
        1 => (0usize..8).prop_map(|item| Op::Cancel { item }),
        1 => (any::<bool>(), prop_oneof![Just(None), Just(Some(1u32)), Just(Some(2))])
            .prop_map(|(paused, concurrency)| Op::Pause { paused: paused && concurrency.is_none(), concurrency }),
        2 => (0usize..8, fenced.clone()).prop_map(|(item, fenced)| Op::Complete { item, fenced }),
        1 => (0usize..8, fenced).prop_map(|(item, fenced)| Op::Fail { item, fenced }),
        1 => (0usize..8, any::<bool>()).prop_map(|(item, stale)| Op::Renew { item, stale }),
        3 => prop_oneof![Just(500i64), Just(1_000), Just(29_999), Just(30_000), Just(70_000)].prop_map(|ms| Op::Advance { ms }),
        2 => Just(Op::Reclaim),
        1 => (0usize..8).prop_map(|item| Op::DeadLetter { item }),
    ]
}

/// One item as the contract says it should be.
#[derive(Debug, Clone)]
struct Modeled {
    id: Uuid,
    priority: i32,
    /// Its place in the claims' order (with priority and id).
    run_at: i64,
    unique_key: Option<u8>,
    status: WorkItemStatus,
    attempt: u32,
    max_attempts: u32,
    token: i64,
    expires_at: Option<i64>,
    retry_after: Option<i64>,
}

struct Model {
    now: i64,
    items: Vec<Modeled>,
    paused: bool,
    concurrency: Option<u32>,
}

type Outcome = Result<(), ErrorKind>;

impl Model {
    fn claim(&mut self, max: usize) -> Vec<(Uuid, i64)> {
        let now = self.now;
        if self.paused {
            return Vec::new();
        }
        let claimed = self.items.iter().filter(|i| i.status == WorkItemStatus::Claimed).count();
        let room = match self.concurrency {
            Some(limit) => (limit as usize).saturating_sub(claimed).min(max),
            None => max,
        };
        let mut ready: Vec<&mut Modeled> = self
            .items
            .iter_mut()
            .filter(|i| i.status == WorkItemStatus::Pending && i.retry_after.is_none_or(|at| at <= now))
            .collect();
        ready.sort_by_key(|i| (i.priority, i.run_at, i.id));
        ready
            .into_iter()
            .take(room)
            .map(|next| {
                next.status = WorkItemStatus::Claimed;
                next.token += 1;
                next.expires_at = Some(now + LEASE_MS * 1000);
                (next.id, next.token)
            })
            .collect()
    }

    /// The enqueue of `new` with a unique key and its mode: what the store answers.
    fn enqueue(
        &mut self,
        new: Modeled,
        mode: OnDuplicate,
        delay: Option<i64>,
    ) -> Result<(Uuid, EnqueueOutcome), ErrorKind> {
        let holder = new.unique_key.and_then(|key| {
            self.items.iter_mut().find(|i| {
                i.unique_key == Some(key) && matches!(i.status, WorkItemStatus::Pending | WorkItemStatus::Claimed)
            })
        });
        match (holder, mode) {
            (None, _) => {
                let id = new.id;
                self.items.push(new);
                Ok((id, EnqueueOutcome::Enqueued))
            }
            (Some(_), OnDuplicate::Refuse) => Err(ErrorKind::Conflict),
            (Some(holder), OnDuplicate::Replace) if holder.status == WorkItemStatus::Pending => {
                holder.priority = new.priority;
                holder.retry_after = delay.map(|ms| self.now + ms * 1000);
                if let Some(at) = holder.retry_after {
                    holder.run_at = at;
                }
                Ok((holder.id, EnqueueOutcome::Replaced))
            }
            (Some(holder), _) => Ok((holder.id, EnqueueOutcome::Duplicate)),
        }
    }

    fn cancel(&mut self, index: usize) -> Outcome {
        let item = &mut self.items[index];
        match item.status {
            WorkItemStatus::Pending | WorkItemStatus::Claimed => {
                item.status = WorkItemStatus::Cancelled;
                item.expires_at = None;
                Ok(())
            }
            WorkItemStatus::Cancelled => Ok(()),
            _ => Err(ErrorKind::InvalidArgument),
        }
    }

    /// A batch complete: per item, whether it is completed under that token.
    fn complete_batch(&mut self, leases: &[(usize, i64)]) -> Vec<bool> {
        leases
            .iter()
            .map(|&(index, token)| match self.finish(index, Some(token), WorkItemStatus::Completed) {
                Ok(()) => true,
                Err(_) => false,
            })
            .collect()
    }

    fn finish(&mut self, index: usize, token: Option<i64>, target: WorkItemStatus) -> Outcome {
        let item = &mut self.items[index];
        if token.is_some_and(|t| t != item.token) {
            return Err(ErrorKind::LeaseLost);
        }
        match item.status {
            WorkItemStatus::Claimed => {
                item.status = target;
                item.expires_at = None;
                Ok(())
            }
            status if status == target => Ok(()),
            _ => Err(ErrorKind::LeaseLost),
        }
    }

    fn renew(&mut self, index: usize, token: i64) -> Outcome {
        let now = self.now;
        let item = &mut self.items[index];
        let live = item.status == WorkItemStatus::Claimed && item.expires_at.is_some_and(|at| at > now);
        if !live || token != item.token {
            return Err(ErrorKind::LeaseLost);
        }
        item.expires_at = Some(now + LEASE_MS * 1000);
        Ok(())
    }

    fn reclaim(&mut self) -> (Vec<Uuid>, Vec<Uuid>) {
        let now = self.now;
        let (mut retryable, mut exhausted) = (Vec::new(), Vec::new());
        for item in self.items.iter_mut() {
            if item.status != WorkItemStatus::Claimed || item.expires_at.is_none_or(|at| at > now) {
                continue;
            }
            item.attempt += 1;
            item.expires_at = None;
            if item.attempt < item.max_attempts {
                let delay = (BASE_MS << (item.attempt - 1).min(20)).min(CAP_MS) * 1000;
                item.status = WorkItemStatus::Pending;
                item.retry_after = Some(now + delay);
                item.run_at = now + delay;
                retryable.push(item.id);
            } else {
                item.status = WorkItemStatus::DeadLetter;
                exhausted.push(item.id);
            }
        }
        retryable.sort();
        exhausted.sort();
        (retryable, exhausted)
    }

    fn dead_letter(&mut self, index: usize) -> Outcome {
        let item = &mut self.items[index];
        if item.status == WorkItemStatus::Completed {
            return Err(ErrorKind::InvalidArgument);
        }
        item.status = WorkItemStatus::DeadLetter;
        item.expires_at = None;
        Ok(())
    }
}

fn kind_of<T>(result: jetstate::Result<T>) -> Outcome {
    result.map(|_| ()).map_err(|err| err.kind())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a time");
    let clock = Clock::manual(start);
    let options = Options::default()
        .clock(clock.clone())
        .lease(Duration::from_millis(LEASE_MS as u64))
        .backoff(Duration::from_millis(BASE_MS as u64), Duration::from_millis(CAP_MS as u64));
    let store = Store::open_in_memory(options).expect("opens");
    let mut model = Model { now: start.timestamp_micros(), items: Vec::new(), paused: false, concurrency: None };
    let execution = WorkflowExecution::new("wf", "1", json!({}));
    store.create_execution(&execution).expect("the items' execution");
    let execution = execution.execution_id;
    for (step, op) in ops.into_iter().enumerate() {
        let count = model.items.len();
        let pick = |i: usize| (count > 0).then(|| i % count);
        match op {
            Op::Enqueue { max_attempts, priority, delay_ms, unique } => {
                // Each item a microsecond younger than the last: a total claim order.
                let created_at = model.now + count as i64;
                let item = WorkItem {
                    id: Uuid::new_v4(),
                    execution_id: execution.clone(),
                    node_id: format!("n{count}"),
                    queue_type: "q".into(),
                    payload: json!({"n": count}),
                    attempt: 0,
                    max_attempts,
                    created_at: DateTime::from_timestamp_micros(created_at).expect("in range"),
                    lease_expires_at: None,
                    worker_id: None,
                    tenant_id: DEFAULT_TENANT.into(),
                };
                let run_at = delay_ms.map(|ms| model.now + ms * 1000);
                let options = EnqueueOptions {
                    priority,
                    run_at: run_at.map(|at| DateTime::from_timestamp_micros(at).expect("in range")),
                    unique_key: unique.map(|(key, _)| format!("key-{key}")),
                    on_duplicate: unique.map(|(_, mode)| mode).unwrap_or_default(),
                    ..EnqueueOptions::default()
                };
                let got = store.enqueue(&item, &options).map(|e| (e.id, e.outcome)).map_err(|err| err.kind());
                let new = Modeled {
                    id: item.id,
                    priority,
                    run_at: run_at.unwrap_or(created_at),
                    unique_key: unique.map(|(key, _)| key),
                    status: WorkItemStatus::Pending,
                    attempt: 0,
                    max_attempts,
                    token: 0,
                    expires_at: None,
                    retry_after: run_at,
                };
                let want = model.enqueue(new, options.on_duplicate, delay_ms);
                prop_assert_eq!(got, want, "step {}: enqueue", step);
            }
            Op::Claim { worker, max } => {
                let got = store.claim_batch(&format!("w{worker}"), &["q"], max, None).expect("claim");
                let got: Vec<(Uuid, i64)> = got.into_iter().map(|l| (l.item.id, l.token)).collect();
                let want = model.claim(max);
                prop_assert_eq!(got, want, "step {}: claim", step);
            }
            Op::CompleteBatch { items } if count > 0 => {
                let leases: Vec<(usize, i64)> = items
                    .iter()
                    .map(|&(i, current)| (i % count, model.items[i % count].token + if current { 0 } else { 3 }))
                    .collect();
                let ids: Vec<(Uuid, i64)> = leases.iter().map(|&(i, token)| (model.items[i].id, token)).collect();
                let got = store.complete_batch(&ids).expect("batch complete");
                prop_assert_eq!(got, model.complete_batch(&leases), "step {}: batch complete", step);
            }
            Op::Cancel { item } if pick(item).is_some() => {
                let index = pick(item).expect("checked");
                let got = kind_of(store.cancel_work_item(&model.items[index].id));
                prop_assert_eq!(got, model.cancel(index), "step {}: cancel", step);
            }
            Op::Pause { paused, concurrency } => {
                let settings = QueueSettings { paused, concurrency, ..QueueSettings::default() };
                store.configure_queue("q", &settings).expect("configured");
                model.paused = paused;
                model.concurrency = concurrency;
            }
            Op::Complete { item, fenced } | Op::Fail { item, fenced } if pick(item).is_some() => {
                let index = pick(item).expect("checked");
                let (id, current) = (model.items[index].id, model.items[index].token);
                let token = fenced.map(|current_one| if current_one { current } else { current + 7 });
                let failing = matches!(op, Op::Fail { .. });
                let got = match (failing, token) {
                    (false, None) => kind_of(store.complete_work_item(&id)),
                    (false, Some(t)) => kind_of(store.complete_fenced(&id, t)),
                    (true, None) => kind_of(store.fail_work_item(&id, "boom")),
                    (true, Some(t)) => kind_of(store.fail_fenced(&id, t, "boom")),
                };
                let target = if failing { WorkItemStatus::Failed } else { WorkItemStatus::Completed };
                let want = model.finish(index, token, target);
                prop_assert_eq!(got, want, "step {}: {:?}", step, op);
            }
            Op::Renew { item, stale } if pick(item).is_some() => {
                let index = pick(item).expect("checked");
                let token = model.items[index].token + if stale { 1 } else { 0 };
                let got = kind_of(store.renew_fenced(&model.items[index].id, token, None));
                let want = model.renew(index, token);
                prop_assert_eq!(got, want, "step {}: renew", step);
            }
            Op::Advance { ms } => {
                clock.advance(Duration::from_millis(ms as u64)).expect("manual clock");
                model.now += ms * 1000;
            }
            Op::Reclaim => {
                let result = store.reclaim_expired_leases().expect("reclaim");
                let mut retryable: Vec<Uuid> = result.retryable.iter().map(|i| i.id).collect();
                let mut exhausted: Vec<Uuid> = result.exhausted.iter().map(|i| i.id).collect();
                retryable.sort();
                exhausted.sort();
                prop_assert_eq!((retryable, exhausted), model.reclaim(), "step {}: reclaim", step);
            }
            Op::DeadLetter { item } if pick(item).is_some() => {
                let index = pick(item).expect("checked");
                let got = kind_of(store.move_to_dead_letter(&model.items[index].id, "poison"));
                let want = model.dead_letter(index);
                prop_assert_eq!(got, want, "step {}: dead letter", step);
            }
            _ => {} // an item-addressed step before any item exists
        }
        for modeled in &model.items {
            let entry = store.get_work_item(&modeled.id).expect("read").expect("every item stays");
            prop_assert_eq!(entry.status, modeled.status, "step {}: status of {}", step, modeled.id);
            prop_assert_eq!(entry.item.attempt, modeled.attempt, "step {}: attempt", step);
            prop_assert_eq!(entry.lease_token, modeled.token, "step {}: lease token", step);
            let expires = entry.item.lease_expires_at.map(|at| at.timestamp_micros());
            prop_assert_eq!(expires, modeled.expires_at, "step {}: lease expiry", step);
            let retry = entry.retry_after.map(|at| at.timestamp_micros());
            if modeled.status == WorkItemStatus::Pending {
                prop_assert_eq!(retry, modeled.retry_after, "step {}: retry time", step);
                prop_assert_eq!(entry.run_at.timestamp_micros(), modeled.run_at, "step {}: run time", step);
                prop_assert_eq!(entry.priority, modeled.priority, "step {}: priority", step);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_queue_behaves_as_the_contract_says(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
