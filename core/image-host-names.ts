// Host names that OS images for single-board computers ship with, the same on every board the image
// is flashed on (Raspberry Pi OS: raspberrypi). gatewayId defaults to the host name, so a fleet made
// by copying one configured SD card has one gatewayId on every board unless each is renamed: the
// control plane (gateway/config/fleet-identity.ts) and the MQTT bridge's client id
// (gateway/upstream/destinations/mqtt-options.ts) warn about it.
const IMAGE_HOST_NAMES: ReadonlySet<string> = new Set(['raspberrypi', 'ubuntu', 'debian', 'dietpi', 'orangepi', 'beaglebone']);

/** `name` (a gatewayId, a host name) is one that OS images give every board. */
export function isImageHostName(name: string): boolean {
  return IMAGE_HOST_NAMES.has(name.toLowerCase());
}
