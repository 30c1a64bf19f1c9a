#!/usr/bin/env node
// A local Kinesis (kinesalite) to try the kinesis destination without an AWS account:
//   node docs/examples/kinesis-local.mjs create STREAM   make the stream (1 shard) and wait until it is ACTIVE
//   node docs/examples/kinesis-local.mjs read STREAM     print every record it holds: partition key, then data
// KINESIS_ENDPOINT (default http://127.0.0.1:4567) says where kinesalite listens. Uses the AWS SDK
// the gateway itself uses (a dependency of this checkout), with kinesalite's dummy credentials.
import { CreateStreamCommand, DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

// The SDK's notice about Node 20's end of life, printed on every run: the gateway says it once.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const [command, stream] = process.argv.slice(2);
if (!['create', 'read'].includes(command) || !stream) {
  console.error('usage: node docs/examples/kinesis-local.mjs create|read STREAM');
  process.exit(2);
}
const kinesis = new KinesisClient({
  endpoint: process.env.KINESIS_ENDPOINT ?? 'http://127.0.0.1:4567',
  region: process.env.AWS_REGION ?? 'eu-west-1',
  // HTTP/1.1, as the gateway's own client: kinesalite does not speak HTTP/2.
  requestHandler: new NodeHttpHandler(),
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local' },
});

async function describe() {
  return (await kinesis.send(new DescribeStreamCommand({ StreamName: stream }))).StreamDescription;
}

if (command === 'create') {
  await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  // kinesalite keeps a new stream CREATING for 500 ms, as Kinesis does for a while: wait for it.
  for (let i = 0; (await describe()).StreamStatus !== 'ACTIVE'; i++) {
    if (i === 100) throw new Error(`stream ${stream} is not ACTIVE after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log(`stream ${stream} is ACTIVE`);
} else {
  for (const shard of (await describe()).Shards) {
    let iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' })))
      .ShardIterator;
    // A page at a time until a page comes back empty: what the shard held when asked.
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const r of page.Records) console.log(`${r.PartitionKey} ${Buffer.from(r.Data).toString('utf8')}`);
      iterator = page.Records.length > 0 ? page.NextShardIterator : undefined;
    }
  }
}
