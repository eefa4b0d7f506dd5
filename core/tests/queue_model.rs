//! The queue's state machine against a model: random sequences of enqueue, claim, fenced and
//! unfenced complete / fail, renew, clock advances, reclaim and dead-lettering run on a store with
//! a manual clock and on a plain in-memory model of CONTRACT.md section 3. After every step, each
//! outcome (success or error kind) and each item's status, attempt and lease token must agree.

use std::time::Duration;

use jetstate::chrono::{DateTime, Utc};
use jetstate::serde_json::json;
use jetstate::uuid::Uuid;
use jetstate::{Clock, ErrorKind, Options, Store, WorkItem, WorkItemStatus, WorkflowExecution, DEFAULT_TENANT};
use proptest::prelude::*;

const LEASE_MS: i64 = 30_000;
const BASE_MS: i64 = 1_000;
const CAP_MS: i64 = 64_000;

#[derive(Debug, Clone)]
enum Op {
    Enqueue { max_attempts: u32 },
    Claim { worker: u8 },
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
    prop_oneof![
        3 => (1u32..4).prop_map(|max_attempts| Op::Enqueue { max_attempts }),
        4 => (0u8..3).prop_map(|worker| Op::Claim { worker }),
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
    created_at: i64,
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
}

type Outcome = Result<(), ErrorKind>;

impl Model {
    fn claim(&mut self) -> Option<(Uuid, i64)> {
        let now = self.now;
        let next = self
            .items
            .iter_mut()
            .filter(|i| i.status == WorkItemStatus::Pending && i.retry_after.is_none_or(|at| at <= now))
            .min_by_key(|i| (i.created_at, i.id))?;
        next.status = WorkItemStatus::Claimed;
        next.token += 1;
        next.expires_at = Some(now + LEASE_MS * 1000);
        Some((next.id, next.token))
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
    let mut model = Model { now: start.timestamp_micros(), items: Vec::new() };
    let execution = WorkflowExecution::new("wf", "1", json!({}));
    store.create_execution(&execution).expect("the items' execution");
    let execution = execution.execution_id;
    for (step, op) in ops.into_iter().enumerate() {
        let count = model.items.len();
        let pick = |i: usize| (count > 0).then(|| i % count);
        match op {
            Op::Enqueue { max_attempts } => {
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
                store.enqueue_work_item(&item).expect("enqueue");
                model.items.push(Modeled {
                    id: item.id,
                    created_at,
                    status: WorkItemStatus::Pending,
                    attempt: 0,
                    max_attempts,
                    token: 0,
                    expires_at: None,
                    retry_after: None,
                });
            }
            Op::Claim { worker } => {
                let got = store.claim_fenced(&format!("w{worker}"), &["q"], None).expect("claim");
                let want = model.claim();
                prop_assert_eq!(got.map(|l| (l.item.id, l.token)), want, "step {}: claim", step);
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
