// Standalone MQTT load generator: the `gatehouse simulate mqtt` command without the CLI.
// Run: node --import tsx test/bench/mqtt-load.ts --url mqtt://127.0.0.1:1883 --devices 10 --rate 0 --qos 1 --duration 5s
import { runSimulateMqtt } from '../../gateway/cli/simulate-mqtt.js';

process.exitCode = await runSimulateMqtt(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
