// An s3 keyTemplate decides whether batches get objects of their own. One without ${firstSeq} or
// ${lastSeq} (e.g. "${timestamp:yyyy}/${timestamp:MM}/${timestamp:dd}/data.ndjson") gives every
// batch of the hour (or day) the same key: each PutObject replaces the previous object, and every
// batch but the last is silently lost while the exporter counts them all as delivered. check-config
// must refuse it, naming the key (start loads with the same schema).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText, exporterConfigText } from '../helpers/check-config.js';

const config = (keyTemplate: string): string => exporterConfigText(`{ type: s3, bucket: my-archive, keyTemplate: ${JSON.stringify(keyTemplate)} }`, 'archive');

test('s3: a keyTemplate without ${firstSeq} or ${lastSeq} (every batch would overwrite the last) is refused by check-config', async (t) => {
  for (const tpl of ['${timestamp:yyyy}/${timestamp:MM}/${timestamp:dd}/data.ndjson', '${stream}/${timestamp:HH}.ndjson', '${stream}-${records}.ndjson']) {
    const r = await checkConfigText(t, config(tpl));
    assert.equal(r.code, 1, `${tpl}: ${r.out}`);
    assert.match(r.err, /exporters\.0\.destination\.keyTemplate/, `${tpl}: ${r.err}`);
    assert.match(r.err, /firstSeq/, tpl);
  }
  for (const tpl of ['${stream}-${firstSeq}.ndjson', 'h=${timestamp:HH}/${stream}-${lastSeq}', '{stream}/{firstSeq}-{lastSeq}']) {
    const r = await checkConfigText(t, config(tpl));
    assert.equal(r.code, 0, `${tpl}: ${r.err}`);
  }
});
