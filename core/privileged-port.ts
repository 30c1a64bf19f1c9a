// What to do about a listener refused a port below 1024 (EACCES): the systemd unit runs without
// capabilities (CapabilityBoundingSet= empty), so "grant CAP_NET_BIND_SERVICE" needs both lines of
// a drop-in; the capability in the ambient set alone is dropped by the empty bounding set.
export const PRIVILEGED_PORT_HINT =
  "ports below 1024 need a capability: use a port above it (MQTT 1883/8883, admin 9883), or under the systemd unit 'sudo systemctl edit gatehouse' " +
  'with [Service] AmbientCapabilities=CAP_NET_BIND_SERVICE and CapabilityBoundingSet=CAP_NET_BIND_SERVICE, then restart (docs/security.md#as-the-unit-runs-it)';
