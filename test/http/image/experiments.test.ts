import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { createExperiments, type Experiments } from '../../../src/http/image/experiments.js';
import { createOriginals } from '../../../src/http/image/originals.js';
import { Outcomes } from '../../../src/http/image/outcomes.js';
import { planForFacts } from '../../../src/images/plan.js';
import { settingsDigest } from '../../../src/images/settings.js';
import { imageSource } from '../../../src/http/image-source.js';
import type { OriginalRecord } from '../../../src/store/records.js';
import { imageParts } from '../../support/image-parts.js';
import { startOrigin, type TestOrigin } from '../../support/origin.js';

describe('image route, step 5: the next experiment of a mark', () => {
  let origin: TestOrigin;
  let parts: ReturnType<typeof imageParts>;
  let outcomes: Outcomes;
  let experiments: Experiments;
  let record: OriginalRecord;
  const mark = { webp: true, avif: true, zorro: false };
  before(async () => {
    // A small photograph-like image: its experiments take a moment.
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 140, b: 200 } } }).jpeg({ quality: 95 }).toBuffer();
    origin = await startOrigin((_req, res) => res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'max-age=600' }).end(jpeg));
    parts = imageParts(origin.url);
    outcomes = new Outcomes(parts.store, settingsDigest(parts.settings));
    const originals = createOriginals(parts);
    experiments = createExperiments(parts, outcomes, originals);
    const found = await originals.original(undefined, imageSource('/a.jpg', {}, 'origin')!);
    assert.ok('record' in found);
    record = found.record;
  });
  after(async () => {
    await parts.close();
    await origin.close();
  });

  it('each request starts the next experiment nobody works on, once each; final when the plan is done', async () => {
    const plan = planForFacts(record.facts!, mark, parts.settings);
    assert.ok(plan.length >= 2, `a plan of several experiments: ${plan.join(', ')}`);
    const inQueue = () => parts.queue.queued + parts.queue.running;
    const jobs = plan.map((name) => `/a.jpg\u0000${name}`).sort();
    for (let i = 1; i <= plan.length + 1; i += 1) {
      const schedule = await experiments.scheduleNext('/a.jpg', 'ic,webp,avif', mark, record, i);
      assert.equal(schedule.final, false, 'not final while the plan has experiments to run');
      assert.equal(inQueue(), Math.min(i, plan.length), `request ${i}: one more experiment, none twice`);
      // Once it starts none, a repeat would find the same while they wait or run: it says which they are.
      const waitingFor = schedule.final ? undefined : schedule.waitingFor;
      if (i <= plan.length) assert.equal(waitingFor, undefined, `request ${i} started one`);
      else assert.deepEqual([...(waitingFor ?? [])].sort(), jobs);
    }
    assert.ok(experiments.stillWaiting(jobs));
    await parts.queue.idle();
    assert.ok(!experiments.stillWaiting(jobs), 'ended: a repeat must be scheduled again');
    assert.deepEqual([...outcomes.doneFor('/a.jpg', record)].sort(), [...plan].sort());
    assert.equal((await experiments.scheduleNext('/a.jpg', 'ic,webp,avif', mark, record, 1)).final, true);
    assert.equal(inQueue(), 0);
    assert.ok(outcomes.bestFor('/a.jpg', record, mark, true), 'something smaller than a q95 JPEG was kept');
  });
});
