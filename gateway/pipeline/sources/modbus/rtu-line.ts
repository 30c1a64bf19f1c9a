// The receive side of an RTU line between two requests. modbus-serial's buffered RTU port keeps
// every byte it has not matched to an answer, across requests, and scans them first when the next
// request's answer begins to come: a device that sent its answer twice in one burst (a repeater, a
// converter, a firmware bug), or noise after an answer, left a frame there, and a whole one with a
// good CRC was taken for the answer of the next request of that unit, function and length (the
// values of holding 0 stored as those of holding 10, found by fuzzing the source). RTU frames carry
// no transaction id, so no byte that came before a request went out can be its answer: they are
// dropped when it is sent. And the silence before a request (3.5 characters) is measured from the
// last byte the line carried, as the protocol asks, not from the end of the last answer: bytes still
// coming (the second copy of an answer) push the request back and are dropped with the rest.
//
// It reads and clears the port's internals (modbus-serial 8.0.x: RTUBufferedPort._buffer, its
// SerialPort _client's 'data'); with a modbus-serial whose internals differ, nothing is dropped
// and the silence is counted from the last answer, as before.
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';

interface Internals {
  _port?: { _buffer?: unknown; _client?: { prependListener?: (event: 'data', fn: () => void) => unknown } };
}

export class RtuLine {
  private readonly port: Internals['_port'];
  /** performance.now() of the last bytes the line brought (0: none yet, or not watched). */
  lastByteAt = 0;

  constructor(client: ModbusRTU) {
    const port = (client as unknown as Internals)._port;
    this.port = port;
    if (typeof port?._client?.prependListener !== 'function') return;
    port._client.prependListener('data', () => {
      this.lastByteAt = performance.now();
    });
  }

  /** Bytes the port holds that no answer took: dropped, just before a request is sent. */
  dropUnread(): void {
    const port = this.port;
    if (port && Buffer.isBuffer(port._buffer) && port._buffer.length > 0) port._buffer = Buffer.alloc(0);
  }
}
