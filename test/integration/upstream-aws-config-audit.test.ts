// The AWS destinations' endpoint option, through the real `gatehouse check-config`: 'localhost:4567'
// (the scheme forgotten) parses as a URL of scheme 'localhost:' and passed, to fail at every send;
// an endpoint must be http:// or https://, and the refusal says so, naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText, exporterConfigText } from '../helpers/check-config.js';

const config = (destination: string): string => exporterConfigText(destination);

test('kinesis, firehose, s3: an endpoint without http:// or https:// is refused naming exporters.0.destination.endpoint', async (t) => {
  for (const dest of ['{ type: kinesis, streamName: s', '{ type: firehose, deliveryStreamName: s', '{ type: s3, bucket: archive, forcePathStyle: true']) {
    for (const endpoint of ['localhost:4567', 'ftp://127.0.0.1:4567', '127.0.0.1:4567']) {
      const r = await checkConfigText(t, config(`${dest}, endpoint: ${JSON.stringify(endpoint)} }`));
      assert.equal(r.code, 1, `${dest} ${endpoint}: ${r.out}`);
      assert.match(r.err, /exporters\.0\.destination\.endpoint: .*http:\/\/ or https:\/\//, `${dest} ${endpoint}: ${r.err}`);
    }
    for (const endpoint of ['http://127.0.0.1:4567', 'https://vpce-123.kinesis.eu-west-1.vpce.amazonaws.com']) {
      const r = await checkConfigText(t, config(`${dest}, endpoint: ${JSON.stringify(endpoint)} }`));
      assert.equal(r.code, 0, `${dest} ${endpoint}: ${r.err}`);
    }
  }
});
