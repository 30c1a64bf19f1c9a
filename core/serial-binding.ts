// serialport's platform binding with one change: a read that returns 0 bytes is a hang-up.
//
// On Linux and macOS serialport reads a port with non-blocking read(2) calls and, when one returns
// 0 bytes, simply reads again (@serialport/bindings-cpp unix-read.js; its issue #162, open). A
// tty returns 0 bytes, forever, once the device is gone: a USB adapter unplugged, a pty whose
// other end closed. serialport then spins on the thread pool with no error and no 'close' event:
// a core's worth of CPU until something else notices, a Modbus RTU link that never learns its
// cable was pulled, and a process that cannot exit while the spin lasts (seen in the test suite:
// socat killed under a port, the test file kept alive by the read loop). Here such a read fails
// with ENXIO, which serialport treats as a disconnect: the port closes and emits 'close' with a
// disconnect error, and the owner reopens it with its backoff as for any other loss.
//
// Used by every serial port the gateway opens (firmware bridge links, Modbus RTU) and by the test
// peers; loaded only with them (it loads serialport's native binding).
import { read } from 'node:fs';
import { promisify } from 'node:util';
import { autoDetect, type AutoDetectTypes, type BindingInterface } from '@serialport/bindings-cpp';
import { unixRead } from '@serialport/bindings-cpp/dist/unix-read.js';

const readAsync = promisify(read);

/** fs.read for a tty: end of file (0 bytes) is the device gone, not "nothing yet" (that is EAGAIN). */
const readOrHangUp = (async (fd: number, buffer: Buffer, offset: number, length: number, position: number | null) => {
  const r = await readAsync(fd, buffer, offset, length, position);
  if (r.bytesRead === 0 && length > 0) {
    throw Object.assign(new Error('the serial device hung up (a read returned end of file)'), { code: 'ENXIO' });
  }
  return r;
}) as unknown as typeof readAsync; // (promisify's overloaded type; the call shape is the one unixRead makes)

type PortBinding = Awaited<ReturnType<AutoDetectTypes['open']>>;

/** The binding to pass as `binding` to serialport's SerialPort (and modbus-serial's RTU options). */
export function hangUpAwareBinding(): AutoDetectTypes {
  const detected = autoDetect();
  if (process.platform === 'win32') return detected; // (overlapped reads: no such loop)
  // (the platform union's open() takes the intersection of every platform's options: seen as the
  // generic interface, it takes the options serialport passes)
  const base = detected as unknown as BindingInterface;
  const binding: BindingInterface = {
    list: () => base.list(),
    async open(options) {
      const port = (await base.open(options)) as PortBinding & { fd: number | null; isOpen: boolean };
      const original = port.read.bind(port);
      port.read = async (buffer: Buffer, offset: number, length: number) => {
        // (the original validates the arguments and the open state; its read loop is the one replaced)
        if (!port.isOpen || length === 0) return original(buffer, offset, length);
        return unixRead({ binding: port as Parameters<typeof unixRead>[0]['binding'], buffer, offset, length, fsReadAsync: readOrHangUp });
      };
      return port;
    },
  };
  return binding as AutoDetectTypes;
}

/**
 * serialport's SerialPort options (or modbus-serial's RTU options, which it passes on) with this
 * binding. (Their types leave `binding` out; SerialPort's constructor takes it over the default.)
 */
export function hangUpAware<T extends object>(options: T): T {
  return { ...options, binding: hangUpAwareBinding() };
}
