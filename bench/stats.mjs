// Shared by the benchmarks: a median, and the interleaved timing of whole commands that the
// cold-start benchmarks (tandem iptables, tandem-cni) compare with `node -e 0` in the same run.

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs each subject (a function returning spawnSync's result) `reps` times, interleaved so that
 * machine noise hits every subject alike, after one warm-up run each (page cache). Returns the
 * wall times in ms per subject; a subject exiting non-zero throws.
 */
export function timeInterleaved(subjects, reps) {
  const times = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
  for (const fn of Object.values(subjects)) fn();
  for (let i = 0; i < reps; i++) {
    for (const [name, fn] of Object.entries(subjects)) {
      const t0 = process.hrtime.bigint();
      const r = fn();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stdout ?? ''}${r.stderr ?? ''}`);
      times[name].push(ms);
    }
  }
  return times;
}

/** Prints each subject's median and its ratio to `baseName`'s median; returns that base median. */
export function printAgainst(times, baseName, reps, width = 30) {
  const base = median(times[baseName]);
  console.log(`repetitions: ${reps} (interleaved), node ${process.version}`);
  for (const [name, xs] of Object.entries(times)) {
    const m = median(xs);
    console.log(`${name.padEnd(width)} median ${m.toFixed(1).padStart(7)} ms   ${(m / base).toFixed(2)}x ${baseName}`);
  }
  return base;
}
