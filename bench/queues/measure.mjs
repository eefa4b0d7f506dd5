// The three measurements of the queue comparison, the same for every Node library (Python's twin is
// measure.py). A queue adapter has enqueue(data), start(workers, onJob), stop();
// onJob(data) is called as a handler starts on a job, and the library completes the job when the
// handler returns.

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function measure(queue, { workers, jobs, rate }) {
  // 1. Enqueue: `jobs` jobs, one per call, `workers` callers at once (the workers are not started,
  //    so the jobs stay as the backlog of step 2).
  let sent = 0;
  const enqueueStart = now();
  await Promise.all(Array.from({ length: workers }, async () => {
    while (sent < jobs) {
      sent += 1;
      await queue.enqueue({ t: 0 });
    }
  }));
  const enqueueSeconds = (now() - enqueueStart) / 1000;

  // 2. Drain: the workers start on the backlog; the rate is taken from the first pickup to the
  //    last, so that a library's start-up is not counted.
  let seen = 0;
  let first = 0;
  let drained;
  const allSeen = new Promise((resolve) => { drained = resolve; });
  let onJob = () => {
    seen += 1;
    if (seen === 1) first = now();
    if (seen === jobs) drained(now());
  };
  await queue.start(workers, (data) => onJob(data));
  const last = await Promise.race([allSeen, sleep(600_000).then(() => { throw new Error(`drain stalled at ${seen}/${jobs}`); })]);
  const drainSeconds = (last - first) / 1000;

  // 3. Pickup latency: jobs sent one at a time at `rate` per second to idle workers; each carries
  //    the instant before its enqueue call began, and its latency ends as a handler starts on it.
  await sleep(1000);
  const samples = Math.max(20, Math.round(rate * 5));
  const latencies = [];
  let picked;
  const allPicked = new Promise((resolve) => { picked = resolve; });
  onJob = (data) => {
    latencies.push(now() - data.t);
    if (latencies.length === samples) picked();
  };
  const start = now();
  for (let i = 0; i < samples; i++) {
    const due = start + (i * 1000) / rate;
    if (due > now()) await sleep(due - now());
    await queue.enqueue({ t: now() });
  }
  await Promise.race([allPicked, sleep(60_000).then(() => { throw new Error(`pickup stalled at ${latencies.length}/${samples}`); })]);
  await queue.stop();
  latencies.sort((a, b) => a - b);
  return {
    jobs,
    enqueue_per_s: jobs / enqueueSeconds,
    drain_per_s: (jobs - 1) / drainSeconds,
    pickup_ms: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples },
  };
}
